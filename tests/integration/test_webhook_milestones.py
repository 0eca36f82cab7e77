"""A tenant's milestones without a hot row, on real PostgreSQL: a delivery writes (and
locks) the tenant's row only when it moves a milestone, so the scans of a busy day
neither write nor wait; deliveries in any order, at once, leave the same milestones."""

from __future__ import annotations

import itertools
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

import webhook_handler
from funnel.platform.http import RawRequest
from funnel.platform.runtime import build_runtime, reset_runtime
from funnel.platform.settings import get_settings
from funnel.webhooks.ingest import receive_webhook
from funnel.webhooks.schemas import WebhookDelivery
from tests.builders import response_json, webhook_event
from tests.conftest import load_event

pytestmark = pytest.mark.integration

TENANT = "tenant-7f3a"
MILESTONES = (
    "SELECT tenant_created_at, lead_id, first_api_key_at, first_scan_at, last_scan_at FROM tenant_milestones"
)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A UTC moment of February 2026."""
    return datetime(2026, 2, day, hour, minute, second, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def delivery(sample: str, moment: datetime, subject: str, tenant: str = TENANT, **payload: Any) -> dict:
    """A delivery of ``sample`` for ``tenant`` at ``moment``, its subject (job or key) and
    webhook-id made from ``subject``; ``payload`` sets fields (``None`` removes one)."""
    document = json.loads(load_event(f"webhook_ingest/{sample}.json")["body"])
    document.update(tenantId=tenant, occurredAt=stamp(moment))
    document["payload"]["tenantId"] = tenant
    for name, value in payload.items():
        if value is None:
            del document["payload"][name]
        else:
            document["payload"][name] = value
    if sample in ("scan_completed", "scan_failed"):
        document["payload"]["jobId"] = subject
    elif sample == "apikey_created":
        document["payload"]["keyPrefix"] = subject
    return webhook_event(sample, body=document, headers={"webhook-id": f"msg-{tenant}-{subject}"})


def scan(moment: datetime, job: str, tenant: str = TENANT) -> dict:
    return delivery("scan_completed", moment, job, tenant)


def deliver(event: dict, context: Any) -> None:
    response = webhook_handler.lambda_handler(event, context)
    assert response["statusCode"] == 200, response_json(response)


def test_scans_that_move_no_milestone_neither_write_nor_wait(lambda_env, db, database_url, context):
    # Given a tenant that scanned at 09:00, statements limited to a second, and another
    # delivery holding the tenant's row while it moves a milestone
    lambda_env.setenv("DB_STATEMENT_TIMEOUT_MS", "1000")
    reset_runtime()
    deliver(delivery("tenant_created", at(13, 12), "created"), context)
    deliver(scan(at(14, 9), "job-first"), context)
    before = db.execute("SELECT * FROM tenant_milestones").fetchall()
    with psycopg.connect(database_url) as other:
        other.execute("UPDATE tenant_milestones SET updated_at = now() WHERE tenant_id = %s", (TENANT,))

        # When later scans of that day, a failed scan and a cluster arrive
        for event in (
            scan(at(14, 10), "job-2"),
            scan(at(14, 23, 59, 59), "job-3"),
            delivery("scan_failed", at(14, 11), "job-4"),
            delivery("cluster_created", at(14, 11), "cluster"),
        ):
            # Then each is stored at once
            deliver(event, context)
        other.rollback()

    # And the milestones are as they were, not even touched
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone() == (6,)
    assert db.execute("SELECT * FROM tenant_milestones").fetchall() == before


def test_a_delivery_that_moves_a_milestone_merges_with_one_moving_another(
    lambda_env, db, database_url, context
):
    # Given a tenant that scanned on the 14th, and another delivery holding its row while
    # it records the tenant's first API key
    deliver(delivery("tenant_created", at(13, 12), "created"), context)
    deliver(scan(at(14, 9), "job-first"), context)
    with psycopg.connect(database_url) as other:
        other.execute(
            "UPDATE tenant_milestones SET first_api_key_at = %s, updated_at = now() WHERE tenant_id = %s",
            (at(13, 12, 5), TENANT),
        )

        # When a scan of the 15th arrives, and the other delivery commits meanwhile
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(deliver, scan(at(15, 8), "job-next"), context)
            threading.Event().wait(0.2)
            other.commit()
            pending.result(timeout=30)

    # Then the row has both moves
    assert db.execute(MILESTONES).fetchone() == (at(13, 12), None, at(13, 12, 5), at(14, 9), at(15, 8))


def test_the_latest_scan_day_keeps_its_earliest_scan_whatever_the_order(lambda_env, db, context):
    # Given four scans, three of them on the latest day
    scans = [(at(13, 10), "a"), (at(14, 9), "b"), (at(14, 8), "c"), (at(14, 11), "d")]

    # When they arrive in each of their 24 orders (one tenant per order)
    orders = list(itertools.permutations(scans))
    for number, order in enumerate(orders):
        for moment, job in order:
            deliver(scan(moment, job, tenant=f"tenant-{number:02d}"), context)

    # Then every tenant's first scan is the earliest, and its latest scan day's earliest
    # scan is kept
    assert db.execute("SELECT DISTINCT first_scan_at, last_scan_at FROM tenant_milestones").fetchall() == [
        (at(13, 10), at(14, 8))
    ]
    assert db.execute("SELECT count(*) FROM tenant_milestones").fetchone() == (len(orders),)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_concurrent_deliveries_in_any_order_leave_the_same_milestones(seed, lambda_env, db):
    # Given a lead, and its tenant's creation (twice: the earlier counts), API keys and
    # scans over three days, with a failed scan after them, shuffled
    lead_id = db.execute(
        "INSERT INTO leads (email_normalized) VALUES ('ada.lovelace@example.org') RETURNING id"
    ).fetchone()[0]
    events = [
        delivery("tenant_created", at(10, 9), "created-late", email=None),
        delivery("tenant_created", at(10, 8), "created"),
        delivery("apikey_created", at(10, 8, 5), "ak_live_one"),
        delivery("apikey_created", at(11, 10), "ak_live_two"),
        *(scan(at(11, hour), f"job-11-{hour}") for hour in (7, 12, 18)),
        *(scan(moment, f"job-12-{moment.hour}") for moment in (at(12, 6), at(12, 7, 30), at(12, 12))),
        scan(at(12, 23, 59, 59), "job-12-last"),
        delivery("scan_failed", at(13, 1), "job-13-failed"),
    ]
    random.Random(seed).shuffle(events)

    # When they arrive at once, over eight containers
    settings = get_settings()
    runtimes = [build_runtime(settings) for _ in range(8)]
    barrier = threading.Barrier(8)

    def run(container: int) -> None:
        barrier.wait(timeout=30)
        for event in events[container::8]:
            request = RawRequest.from_event(event)
            receive_webhook(
                runtimes[container], WebhookDelivery.model_validate_json(request.body).root, request
            )

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(run, range(8)))
    finally:
        for runtime in runtimes:
            runtime.database.close()

    # Then the milestones are the earliest creation (with its lead), the earliest key and
    # scan, and the earliest scan of the latest day with one
    assert db.execute(MILESTONES).fetchall() == [(at(10, 8), lead_id, at(10, 8, 5), at(11, 7), at(12, 6))]
