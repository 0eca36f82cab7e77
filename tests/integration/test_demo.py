"""funnel_local.demo on a real PostgreSQL: the plan goes through the handlers into the
tables, the rollups run over every day, a database with data is refused, and a reset gives
the same data again (the demo is seeded). At a small scale; the full one is e2e."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from funnel_local.demo import DemoError, has_data, run_demo, table_names
from tests.conftest import SIGNING_SECRET

pytestmark = pytest.mark.integration

ADMIN = "demo-admin-key"


def demo(database_url: str, now: datetime, *, reset: bool = False):  # type: ignore[no-untyped-def]
    local = {
        "DATABASE_URL": database_url,
        "ADMIN_API_KEY": ADMIN,
        "WEBHOOK_SIGNING_SECRETS": SIGNING_SECRET,
        "ALLOWED_ORIGINS": "http://localhost:8080",
        "UNSUBSCRIBE_SECRET": "demo-unsubscribe-secret-0123456789",
    }
    return run_demo(
        database_url,
        local_environment=local,
        webhook_key=ADMIN,
        signing_secret=SIGNING_SECRET,
        days=61,
        scale=0.05,
        now=now,
        reset=reset,
        lanes=1,
    )


def counts(db: psycopg.Connection) -> dict[str, int]:
    return {table: db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in table_names(db)}


def test_the_demo_fills_an_empty_database_refuses_one_with_data_and_resets_to_the_same(database_url, db):
    # Given an empty database
    assert not has_data(database_url)
    now = datetime.now(UTC)

    # When the demo runs
    report = demo(database_url, now)

    # Then what it planned was stored, through the handlers
    stored = counts(db)
    plan = report.plan.counts
    assert stored["leads"] == plan.leads
    assert stored["web_traffic_logs"] == plan.page_views
    # (the crawler's page views were counted as bots, not stored)
    assert db.execute("SELECT count(DISTINCT tenant_id) FROM tenant_events").fetchone() == (plan.tenants,)
    assert stored["tenant_events"] == plan.webhooks
    accepted, rejected, bots = db.execute(
        "SELECT sum(events_accepted), sum(events_rejected), sum(events_bot) FROM daily_ingest_rollups"
    ).fetchone()
    # Every planned event was accepted once (retries counted as duplicates), and the crawler's
    # daily hit on each site counted as a bot
    assert (accepted, rejected, bots) == (plan.events, plan.rejected_beacons, 61 * 2)
    # And every day was rolled up, by one run
    assert report.days_rolled_up == 61
    assert db.execute("SELECT trigger, status FROM rollup_runs").fetchall() == [("cli", "succeeded")]

    # When it runs again on that data
    with pytest.raises(DemoError, match="RESET=1"):
        demo(database_url, now)

    # Then nothing changed
    assert counts(db) == stored

    # When it runs again with a reset
    demo(database_url, now, reset=True)

    # Then the data is the same again, row for row in number
    assert counts(db) == stored
