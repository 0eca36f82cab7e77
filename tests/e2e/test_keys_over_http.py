"""Keys by purpose over real HTTP, with the keys `make run` gives every function and a
stack that refuses the admin key on the webhook (``WebhookRefusesAdminKey=true``): the
emitter delivers with the webhook key, a browser-style client reads metrics with the
metrics key as a bearer token, and neither key opens anything else."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from funnel_emitter import WebhookEmitter
from funnel_local.cli import LOCAL_ADMIN_API_KEY, LOCAL_METRICS_API_KEY, LOCAL_WEBHOOK_API_KEY, LocalSecrets
from funnel_local.gateway import RunningGateway, start_gateway
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

OCCURRED = datetime(2026, 2, 13, 12, 0, tzinfo=UTC)
UNAUTHORIZED = {"ok": False, "error": "unauthorized", "details": None}


@pytest.fixture(scope="module")
def secrets() -> LocalSecrets:
    return LocalSecrets.from_environment({})


@pytest.fixture(scope="module")
def gateway(database_url: str, secrets: LocalSecrets) -> Iterator[RunningGateway]:
    with start_gateway(
        REPO / "template.yaml",
        env_overrides=secrets.environment(database_url, "http://127.0.0.1"),
        parameter_overrides={"WebhookRefusesAdminKey": "true"},
    ) as running:
        yield running


def emitter(gateway: RunningGateway, secrets: LocalSecrets, key: str) -> WebhookEmitter:
    return WebhookEmitter(
        f"{gateway.url}/v1/webhooks/description-service",
        signing_secret=secrets.signing_secret,
        admin_key=key,
        timeout=15,
        sleep=lambda seconds: None,
    )


def call(
    gateway: RunningGateway, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        f"{gateway.url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"content-type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_the_local_keys_are_the_printed_defaults(secrets):
    assert (secrets.admin_api_key, secrets.webhook_key, secrets.metrics_key) == (
        LOCAL_ADMIN_API_KEY,
        LOCAL_WEBHOOK_API_KEY,
        LOCAL_METRICS_API_KEY,
    )


def test_the_emitter_delivers_with_the_webhook_key_and_not_the_admin_key(gateway, secrets, db):
    payload = {"siteUrl": "https://example.org", "email": "owner@example.org"}
    refused = emitter(gateway, secrets, secrets.admin_api_key).send(
        "tenant.created", "tenant-keys", payload, occurred_at=OCCURRED
    )
    delivered = emitter(gateway, secrets, secrets.webhook_key).send(
        "tenant.created", "tenant-keys", payload, occurred_at=OCCURRED
    )
    # A 401 is final for the emitter: the sender must switch keys before the stack refuses
    assert (refused.ok, refused.status, refused.attempts, refused.body) == (False, 401, 1, UNAUTHORIZED)
    assert (delivered.ok, delivered.status) == (True, 200)
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 1


def test_the_metrics_key_reads_as_a_bearer_token_what_the_admin_key_reads(gateway, secrets, db):
    path = "/v1/metrics/summary?from=2026-01-01&to=2026-01-31"
    as_reader = call(gateway, path, {"authorization": f"Bearer {secrets.metrics_key}"})
    as_admin = call(gateway, path, {"x-admin-key": secrets.admin_api_key})
    assert as_reader[0] == as_admin[0] == 200
    assert as_reader[2] == as_admin[2]


@pytest.mark.parametrize(
    ("path", "body", "which", "header"),
    [
        ("/v1/metrics/service-usage", None, "webhook", "x-admin-key"),
        ("/v1/metrics/summary", None, "webhook", "bearer"),
        ("/v1/leads/delete", {"email": "owner@example.org"}, "webhook", "x-admin-key"),
        ("/v1/leads/delete", {"email": "owner@example.org"}, "metrics", "bearer"),
        ("/v1/leads/unsubscribe-link", {"email": "owner@example.org"}, "metrics", "x-admin-key"),
        ("/v1/webhooks/description-service", {}, "metrics", "bearer"),
        ("/v1/webhooks/description-service", {}, "metrics", "x-admin-key"),
    ],
)
def test_neither_key_opens_another_route(gateway, secrets, db, row_counts, path, body, which, header):
    # Given a lead, so that a delete that got through would show
    db.execute("INSERT INTO leads (email_normalized) VALUES ('owner@example.org')")
    before = row_counts()
    # When a webhook or metrics key asks a route of another purpose
    key = secrets.webhook_key if which == "webhook" else secrets.metrics_key
    headers = {"authorization": f"Bearer {key}"} if header == "bearer" else {"x-admin-key": key}
    status, _, answer = call(gateway, path, headers, body)
    # Then it is refused and nothing changed
    assert (status, answer) == (401, UNAUTHORIZED)
    assert row_counts() == before


def test_a_refused_metrics_read_names_the_bearer_scheme(gateway):
    status, headers, _ = call(gateway, "/v1/metrics/summary", {"authorization": "Bearer wrong"})
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="funnel"'
