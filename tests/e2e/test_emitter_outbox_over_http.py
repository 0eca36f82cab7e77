"""The emitter's durable path end to end: typed events queued in an outbox and sent by the
background sender over real HTTP to the local gateway, which stores them in PostgreSQL;
and events queued while Funnel is away arrive once it is back."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from funnel_emitter import (
    ApiKeyCreated,
    BackgroundSender,
    ClusterCreated,
    Event,
    Outbox,
    ScanCompleted,
    ScanFailed,
    SuggestionResolved,
    TenantCreated,
    WebhookEmitter,
)
from funnel_local.gateway import RunningGateway, start_gateway
from tests.conftest import ADMIN_KEY, REPO, SIGNING_SECRET

pytestmark = pytest.mark.e2e

WHEN = datetime(2026, 2, 13, 12, 0, tzinfo=UTC)
EVENTS: list[Event] = [
    TenantCreated(
        tenant_id="tenant-ada", site_url="https://ada.example/", email="Ada@Example.org", created_at=WHEN
    ),
    ApiKeyCreated(tenant_id="tenant-ada", key_prefix="ak_ada", rate_limit_tier="free", created_at=WHEN),
    ScanCompleted(
        tenant_id="tenant-ada",
        job_id="job-1",
        media_count=3,
        identities_detected=2,
        duration_ms=900,
        suggestions_generated=4,
        completed_at=WHEN,
    ),
    ScanFailed(
        tenant_id="tenant-ada", job_id="job-2", media_count=1, error_message="GPU timeout", failed_at=WHEN
    ),
    ClusterCreated(
        tenant_id="tenant-ada", cluster_id="c-1", identity_count=2, algorithm="graph", created_at=WHEN
    ),
    SuggestionResolved(tenant_id="tenant-ada", suggestion_id="s-1", resolution="accepted", resolved_at=WHEN),
]


def gateway(database_url: str, port: int = 0) -> RunningGateway:
    return start_gateway(
        REPO / "template.yaml",
        port=port,
        env_overrides={
            "DATABASE_URL": database_url,
            "ADMIN_API_KEY": ADMIN_KEY,
            "WEBHOOK_SIGNING_SECRETS": SIGNING_SECRET,
        },
        max_workers_per_function=2,
    )


def emitter_for(url: str, path: Path, **options: Any) -> WebhookEmitter:
    return WebhookEmitter(
        f"{url}/v1/webhooks/description-service",
        signing_secret=SIGNING_SECRET,
        admin_key=ADMIN_KEY,
        timeout=15,
        outbox=path,
        **options,
    )


def stored(db: psycopg.Connection) -> dict[str, dict[str, Any]]:
    rows = db.execute("SELECT event_type, payload FROM tenant_events").fetchall()
    return {event_type: payload for event_type, payload in rows}


def test_typed_events_sent_in_the_background_are_stored(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    # Given Funnel running, and a background sender with an outbox
    path = tmp_path / "outbox.sqlite3"
    with gateway(database_url) as running, BackgroundSender(emitter_for(running.url, path)) as sender:
        # When one typed event of each type is enqueued and the sender has tried them
        for event in EVENTS:
            sender.enqueue(event)
        assert sender.flush(60)
    # Then Funnel stored all six with the fields sent (the email used and dropped)
    payloads = stored(db)
    assert set(payloads) == {event.event_type for event in EVENTS}
    for event in EVENTS:
        expected = {name: value for name, value in event.payload().items() if name != "email"}
        assert payloads[event.event_type] == expected
    # And the outbox is empty
    assert Outbox(path).entries() == []


def test_events_queued_while_funnel_is_away_arrive_once_it_is_back(
    database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    # Given the address Funnel serves on, with Funnel stopped
    with gateway(database_url) as running:
        url, port = running.url, running.port
    # And a sender whose clock a test can move a little (signatures stay within tolerance)
    path = tmp_path / "outbox.sqlite3"
    ahead = [0.0]
    emitter = emitter_for(url, path, clock=lambda: time.time() + ahead[0])
    with BackgroundSender(emitter) as sender:
        # When three events are enqueued while nothing answers
        ids = [sender.enqueue(event) for event in EVENTS[:3]]
        assert sender.flush(30)
        # Then they wait in the outbox, each tried once and refused
        waiting = Outbox(path).entries()
        assert [(entry.webhook_id, entry.attempts, entry.state) for entry in waiting] == [
            (webhook_id, 1, "pending") for webhook_id in ids
        ]
        assert all("refused" in (entry.last_error or "").lower() for entry in waiting)
        # When Funnel is back on its address and the first quick retry falls due
        with gateway(database_url, port=port):
            ahead[0] = 1.0
            assert sender.flush(60)
    # Then all three were stored, once each, and nothing is left in the outbox
    assert sorted(stored(db)) == sorted(event.event_type for event in EVENTS[:3])
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 3
    assert Outbox(path).entries() == []
