"""The webhook end to end: the emitter signs and posts over real HTTP to the local gateway,
which runs the real template's functions in their own processes on the test database."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import pytest

from funnel_emitter import WebhookEmitter
from funnel_local.gateway import RunningGateway, start_gateway
from tests.conftest import ADMIN_KEY, REPO, SIGNING_SECRET

pytestmark = pytest.mark.e2e

OCCURRED = datetime(2026, 2, 13, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def gateway(database_url: str) -> Iterator[RunningGateway]:
    env = {
        "DATABASE_URL": database_url,
        "ADMIN_API_KEY": ADMIN_KEY,
        "WEBHOOK_SIGNING_SECRETS": SIGNING_SECRET,
    }
    with start_gateway(
        REPO / "template.yaml",
        env_overrides=env,
        parameter_overrides={"WebhookRateLimit": "6000"},
        max_workers_per_function=4,
    ) as running:
        yield running


@pytest.fixture
def emitter(gateway: RunningGateway) -> WebhookEmitter:
    return WebhookEmitter(
        f"{gateway.url}/v1/webhooks/description-service",
        signing_secret=SIGNING_SECRET,
        admin_key=ADMIN_KEY,
        timeout=15,
        sleep=lambda seconds: None,
    )


def test_a_tenant_journey_arrives_signed_and_is_stored(emitter, db: psycopg.Connection):
    # Given a lead who later becomes a tenant
    lead = db.execute(
        "INSERT INTO leads (email_normalized) VALUES ('grace@example.com') RETURNING id"
    ).fetchone()[0]

    # When the description service reports the journey
    journey = [
        ("tenant.created", {"siteUrl": "https://grace.example.com", "email": "Grace@Example.com"}),
        ("apikey.created", {"keyPrefix": "ak_1", "rateLimitTier": "free"}),
        ("scan.completed", {"jobId": "j1", "mediaCount": 3, "identitiesDetected": 2, "durationMs": 900}),
        ("scan.failed", {"jobId": "j2", "mediaCount": 1, "errorMessage": "timeout"}),
        ("cluster.created", {"clusterId": "c1", "identityCount": 2, "algorithm": "graph"}),
        ("suggestion.resolved", {"suggestionId": "s1", "resolution": "accepted"}),
    ]
    results = [
        emitter.send(event_type, "tenant-grace", payload, occurred_at=OCCURRED.replace(minute=minute))
        for minute, (event_type, payload) in enumerate(journey)
    ]

    # Then every delivery succeeds first time, and the funnel knows the tenant
    assert [(r.ok, r.status, r.attempts) for r in results] == [(True, 200, 1)] * 6
    stored = db.execute("SELECT id FROM tenant_events ORDER BY occurred_at").fetchall()
    assert [str(row[0]) for row in stored] == [r.body["eventId"] for r in results]
    milestone = db.execute(
        "SELECT lead_id, tenant_created_at, first_api_key_at, first_scan_at FROM tenant_milestones"
    ).fetchone()
    assert milestone == (lead, OCCURRED, OCCURRED.replace(minute=1), OCCURRED.replace(minute=2))


def test_a_redelivery_with_the_same_webhook_id_is_a_duplicate(emitter, db):
    payload = {"jobId": "j9", "mediaCount": 1, "identitiesDetected": 0, "durationMs": 10}
    first = emitter.send(
        "scan.completed", "tenant-r", payload, occurred_at=OCCURRED, webhook_id="msg_redeliver"
    )
    again = emitter.send(
        "scan.completed", "tenant-r", payload, occurred_at=OCCURRED, webhook_id="msg_redeliver"
    )
    assert again.body == {"ok": True, "eventId": first.body["eventId"], "duplicate": True}
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 1


def test_the_emitter_does_not_retry_a_rejection(gateway, db):
    wrong_key = WebhookEmitter(
        f"{gateway.url}/v1/webhooks/description-service",
        signing_secret=SIGNING_SECRET,
        admin_key="wrong",
        sleep=lambda seconds: pytest.fail("a 401 must not be retried"),
    )
    result = wrong_key.send("tenant.created", "tenant-x", {}, occurred_at=OCCURRED)
    assert (result.ok, result.status, result.attempts) == (False, 401, 1)
    assert result.body == {"ok": False, "error": "unauthorized", "details": None}


def test_an_unsigned_post_is_refused_over_http(gateway, db):
    body = json.dumps(
        {"eventType": "tenant.created", "tenantId": "t", "occurredAt": "2026-02-13T12:00:00Z", "payload": {}}
    ).encode()
    request = urllib.request.Request(
        f"{gateway.url}/v1/webhooks/description-service",
        data=body,
        method="POST",
        headers={"content-type": "application/json", "x-admin-key": ADMIN_KEY},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=15)
    assert raised.value.code == 401
    assert json.loads(raised.value.read())["details"] == {"reason": "missing_signature_headers"}
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 0


def test_fifty_concurrent_http_deliveries_of_one_webhook_id_store_one_event(emitter, db):
    # Given 50 deliveries of one webhook-id posted at once over HTTP
    payload = {"jobId": "j-race", "mediaCount": 5, "identitiesDetected": 1, "durationMs": 100}

    def deliver(_: int):  # type: ignore[no-untyped-def]
        return emitter.send(
            "scan.completed", "tenant-race", payload, occurred_at=OCCURRED, webhook_id="msg_race"
        )

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(deliver, range(50)))

    # Then none failed, none is a 500, and exactly one event exists
    assert {r.status for r in results} == {200}
    assert len({r.body["eventId"] for r in results}) == 1
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 1


def test_api_gateway_throttling_answers_429_over_the_rate_limit(database_url, db):
    # Given the smallest webhook rate limit (60 per minute, so a burst of 60)
    env = {"DATABASE_URL": database_url, "ADMIN_API_KEY": ADMIN_KEY}
    with start_gateway(
        REPO / "template.yaml", env_overrides=env, parameter_overrides={"WebhookRateLimit": "60"}
    ) as throttled:
        url = f"{throttled.url}/v1/webhooks/description-service"
        statuses = []
        for _ in range(80):  # bounded: more than the burst, far less than a second's refill
            request = urllib.request.Request(
                url,
                data=b"{}",
                method="POST",
                headers={"content-type": "application/json", "x-admin-key": "wrong"},
            )
            try:
                urllib.request.urlopen(request, timeout=15)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
    # Then the requests over the burst are refused by the gateway before the function
    assert statuses.count(429) >= 80 - 60 - 5
    assert set(statuses) <= {401, 429}
