"""Property-based API tests: Schemathesis generates requests from ``openapi.json`` (valid
ones, and its coverage cases: edges of every constraint, missing parts, methods a path
does not serve) and sends them, over loopback only, to the local gateway serving
``template.yaml`` on a fresh database. Every answer must be no server error and be what the
document says: a documented status, media type, headers and body schema.

Bounded: a fixed seed (Hypothesis derandomised, no example database) and
``EXAMPLES_PER_ROUTE`` generated requests per route, plus the coverage cases. The webhook
route's requests are signed and every protected route gets its key (:func:`authorised`),
so generated bodies reach validation and the database rather than stopping at 401.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from funnel.platform.signatures import sign
from funnel_local.cli import LocalSecrets
from funnel_local.gateway import RunningGateway, start_gateway
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

EXAMPLES_PER_ROUTE = 200
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
]
SECRETS = LocalSecrets.from_environment({})
WEBHOOK_PATH = "/v1/webhooks/description-service"

schema = schemathesis.openapi.from_path(REPO / "openapi.json")


@pytest.fixture(scope="module")
def gateway(database_url: str) -> Iterator[RunningGateway]:
    with start_gateway(
        REPO / "template.yaml",
        port=0,
        env_overrides=SECRETS.environment(database_url, "http://127.0.0.1"),
        # The webhook route's highest throttle, and per-client bounds above what is sent
        # (every request comes from 127.0.0.1), so generated requests reach the routes
        # (the defaults would answer most of them 429).
        parameter_overrides={
            "WebhookRateLimit": "6000",
            "ClientEventsPerMinute": "1000000",
            "ClientEventsBurst": "1000000",
            "ClientLeadsPerMinute": "1000000",
            "ClientLeadsBurst": "1000000",
        },
    ) as running:
        assert running.url.startswith("http://127.0.0.1:")
        yield running


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        # Loopback only: no proxy from the environment, ever.
        opened.trust_env = False
        yield opened


def authorised(case: schemathesis.Case, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The hook: the request as sent, with the key of its route's purpose and, for the
    webhook, a Standard Webhooks signature over the exact body bytes."""
    headers = dict(kwargs.get("headers") or {})
    security = case.operation.definition.raw.get("security") or []
    schemes = {name for requirement in security for name in requirement}
    # (Schemathesis fills security headers with generated values: replace them.)
    if "metricsKey" in schemes:
        headers["Authorization"] = f"Bearer {SECRETS.metrics_key}"
    elif "webhookKey" in schemes:
        headers["x-admin-key"] = SECRETS.webhook_key
    elif "adminKey" in schemes:
        headers["x-admin-key"] = SECRETS.admin_api_key
    if "json" in kwargs:
        # Serialised here, so the signature covers the bytes sent.
        kwargs["data"] = json.dumps(kwargs.pop("json")).encode()
    if case.path == WEBHOOK_PATH:
        body = kwargs.get("data") or b""
        body = body.encode() if isinstance(body, str) else body
        msg_id = f"msg_{uuid.uuid4().hex}"
        stamp = int(time.time())
        headers.update(
            {
                "webhook-id": msg_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(SECRETS.signing_secret, msg_id, stamp, body),
            }
        )
    return {**kwargs, "headers": headers}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_ROUTE,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_what_its_document_says(case, gateway, session):
    # Given a generated request, with its key and signature
    kwargs = authorised(case, case.as_transport_kwargs(base_url=gateway.url))

    # When it is sent to the local gateway
    response = session.request(**kwargs, timeout=30, allow_redirects=False)

    # Then it is no server error, and status, media type, headers and body are documented
    case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
