"""Concurrent deliveries: each Lambda container has its own connection, so each thread
here gets its own runtime, as separate containers would."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from funnel.platform.errors import FunnelError
from funnel.platform.http import RawRequest
from funnel.platform.runtime import build_runtime
from funnel.platform.settings import get_settings
from funnel.webhooks.ingest import receive_webhook
from funnel.webhooks.schemas import ScanCompleted
from tests.builders import webhook_event

pytestmark = pytest.mark.integration


def deliver_concurrently(events: list[dict], workers: int) -> list[object]:
    """Deliver every event at once, each from its own container-like runtime."""
    settings = get_settings()
    runtimes = [build_runtime(settings) for _ in range(workers)]
    barrier = threading.Barrier(len(events))

    def deliver(index: int) -> object:
        event = events[index]
        request = RawRequest.from_event(event)
        parsed = ScanCompleted.model_validate_json(request.body)
        barrier.wait(timeout=30)
        try:
            return receive_webhook(runtimes[index % workers], parsed, request)
        except FunnelError as exc:
            return exc

    try:
        with ThreadPoolExecutor(max_workers=len(events)) as pool:
            return list(pool.map(deliver, range(len(events))))
    finally:
        for runtime in runtimes:
            runtime.database.close()


def test_fifty_concurrent_deliveries_of_one_webhook_id_store_one_event(lambda_env, db):
    # Given 50 simultaneous deliveries of the same webhook-id
    events = [webhook_event("scan_completed") for _ in range(50)]

    # When they race
    results = deliver_concurrently(events, workers=50)

    # Then exactly one event is stored, and every answer names it
    assert all(not isinstance(r, Exception) for r in results), results
    stored = db.execute("SELECT id FROM tenant_events").fetchall()
    assert len(stored) == 1
    assert {r.eventId for r in results} == {stored[0][0]}
    assert sum(r.duplicate is None for r in results) == 1
    assert db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0] == 1


def test_concurrent_redeliveries_under_new_ids_collapse_to_one_event(lambda_env, db):
    # Given the same event sent under 20 different webhook-ids at once
    events = [webhook_event("scan_completed", headers={"webhook-id": f"msg_{i}"}) for i in range(20)]

    results = deliver_concurrently(events, workers=20)

    # Then one event, and all 20 ids point at it
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 1
    assert len({r.eventId for r in results}) == 1
    assert db.execute("SELECT count(DISTINCT event_id), count(*) FROM webhook_deliveries").fetchone() == (
        1,
        20,
    )


def test_concurrent_reuse_of_an_id_with_different_bodies_stores_one_and_refuses_the_rest(lambda_env, db):
    # Given 10 different scans racing under one webhook-id
    events = []
    for i in range(10):
        document = json.loads(webhook_event("scan_completed")["body"])
        document["payload"]["jobId"] = f"job-{i}"
        events.append(webhook_event("scan_completed", body=document))

    results = deliver_concurrently(events, workers=10)

    # Then exactly one is stored and the nine others are 409
    conflicts = [r for r in results if isinstance(r, FunnelError)]
    assert [c.status for c in conflicts] == [409] * 9
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 1
