"""Over HTTP through the local gateway serving template.yaml: a method a path does not
serve reaches the path's function through its ANY route and is 405 with Allow; a path no
route names is still API Gateway's own 404."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from funnel_local.cli import LocalSecrets
from funnel_local.gateway import RunningGateway, start_gateway
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(database_url: str) -> Iterator[RunningGateway]:
    secrets = LocalSecrets.from_environment({})
    with start_gateway(
        REPO / "template.yaml", port=0, env_overrides=secrets.environment(database_url, "http://127.0.0.1")
    ) as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/v1/health", "GET"),
        ("DELETE", "/v1/webhooks/description-service", "POST"),
        ("PUT", "/v1/events", "OPTIONS, POST"),
        ("PATCH", "/v1/unsubscribe", "GET, POST"),
    ],
)
def test_another_method_is_405_with_allow(gateway, method, path, allow):
    with requests.Session() as session:
        session.trust_env = False
        reply = session.request(method, f"{gateway.url}{path}", timeout=30)
    assert reply.status_code == 405
    assert reply.headers["Allow"] == allow
    assert reply.json()["error"] == "method_not_allowed"


def test_the_served_method_and_an_unknown_path(gateway):
    with requests.Session() as session:
        session.trust_env = False
        health = session.get(f"{gateway.url}/v1/health", timeout=30)
        nowhere = session.request("TRACE", f"{gateway.url}/v1/nowhere", timeout=30)
    assert health.status_code == 200 and health.json()["ok"] is True
    assert nowhere.status_code == 404 and json.loads(nowhere.content) == {"message": "Not Found"}
