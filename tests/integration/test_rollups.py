"""The rollup runs on real PostgreSQL, with the runtime's clock pinned: re-runs and
concurrent runs, late events, dry runs, days past raw retention, data that disappears,
property and service-usage runs, the day lock, runs out of time or failing, freshness,
the discrepancy monitor, and the three doors (the layer, the function and the CLI)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
import yaml

import metrics_handler
import rollup_handler
from funnel.metrics.api import ReportCache
from funnel.platform.runtime import Runtime, build_runtime, get_runtime
from funnel.platform.settings import get_settings
from funnel.readmodel.rollups import LOCK_SPACE, Scope, Trigger, freshness, run_rollups
from funnel_ops.cli import main
from tests import raw_data, read_model
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY, REPO, FakeContext, load_event

pytestmark = pytest.mark.integration

NOW = datetime(2026, 2, 14, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
YESTERDAY = TODAY - timedelta(days=1)
DAY = date(2026, 2, 10)
# Outside the scheduled days (today and the 7 before), inside raw retention (90 days).
OLDER = date(2026, 1, 20)
FIRST_KEPT = date(2025, 11, 16)
LONG_AGO = datetime(2025, 6, 1, tzinfo=UTC)
SCHEDULED = [TODAY - timedelta(days=n) for n in range(7, -1, -1)]


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@pytest.fixture
def runtime(lambda_env: pytest.MonkeyPatch) -> Runtime:
    """The functions' runtime (what the handler and the CLI use), its clock pinned to NOW."""
    pinned = get_runtime()
    pinned.clock = lambda: NOW
    return pinned


class RollupContext(FakeContext):
    """The rollup function's context: 15 minutes to run (its Timeout is 900)."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


@pytest.fixture
def long_context() -> RollupContext:
    return RollupContext()


def traffic(db: psycopg.Connection, day: date) -> None:
    """A day of both properties and two tenants: a returning and a new visitor of
    ``default`` with sessions, page views, form events, a lead and ingest counters; a
    visitor of ``docs``; scans, a cluster and a resolved suggestion."""
    returning = raw_data.visitor(db, LONG_AGO)
    new = raw_data.visitor(db, at(day, 8))
    first = raw_data.session(db, returning, at(day, 9), source="organic_search")
    raw_data.page_view(db, first, at(day, 9), path="/", source="organic_search", ttfb_ms=80, entrance=True)
    raw_data.page_view(
        db, first, at(day, 9, 5), path="/pricing", source="organic_search", ttfb_ms=120, exit=True
    )
    second = raw_data.session(db, new, at(day, 8))
    raw_data.page_view(db, second, at(day, 8), path="/pricing", ttfb_ms=95, entrance=True, conversion=True)
    raw_data.event(db, second, at(day, 8, 1), "form_start")
    raw_data.event(db, second, at(day, 8, 2), "form_submit")
    raw_data.lead(db, at(day, 8, 2), visitor_first_seen_at=at(day, 8))
    raw_data.counter(db, day, "event", "accepted", 6)
    raw_data.counter(db, day, "event", "rejected", 2, code="validation_failed")
    raw_data.counter(db, day, "event", "duplicate", 3)
    raw_data.counter(db, day, "event", "bot", 4)
    raw_data.counter(db, day, "lead", "accepted", 1)
    docs_visitor = raw_data.visitor(db, at(day, 10), property_id="docs")
    docs_session = raw_data.session(db, docs_visitor, at(day, 10), source="referral")
    raw_data.page_view(
        db, docs_session, at(day, 10), path="/docs", source="referral", entrance=True, exit=True
    )
    raw_data.scan_completed(
        db, "tenant-a", at(day, 11), media=12, identities=5, duration_ms=1500, suggestions=3
    )
    raw_data.scan_completed(db, "tenant-a", at(day, 13), media=8, identities=2, duration_ms=2000)
    raw_data.tenant_event(db, "tenant-a", "scan.failed", at(day, 14), {"mediaCount": 40})
    raw_data.tenant_event(db, "tenant-b", "cluster.created", at(day, 15), {"identityCount": 3})
    raw_data.tenant_event(db, "tenant-b", "suggestion.resolved", at(day, 16), {"resolution": "accepted"})


def admin_get(context: FakeContext, sample: str, query: dict[str, str]) -> dict[str, Any]:
    """A metrics answer through the metrics function."""
    event = api_event(sample, query=query, headers={"x-admin-key": ADMIN_KEY})
    response = metrics_handler.lambda_handler(event, context)
    assert response["statusCode"] == 200, response["body"]
    answer: dict[str, Any] = response_json(response)
    return answer


def metric(db: psycopg.Connection, day: date, property_id: str = "default", column: str = "total_page_views"):
    row = db.execute(
        f"SELECT {column} FROM daily_metric_rollups WHERE day = %s AND property_id = %s", (day, property_id)
    ).fetchone()
    return row[0] if row else None


def runs(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT trigger, scope, from_day, to_day, property_id, status, days, skipped_days, discrepancies, "
        "error FROM rollup_runs ORDER BY started_at, finished_at"
    ).fetchall()


def emitted(printed: str, metric_name: str) -> list[float]:
    """The values of a metric in the CloudWatch embedded-metric documents printed."""
    values: list[float] = []
    for line in printed.splitlines():
        if '"_aws"' in line and metric_name in (document := json.loads(line)):
            value = document[metric_name]
            values.extend(value if isinstance(value, list) else [value])
    return values


# --------------------------------------------------------------------------- what a day holds


def test_a_day_is_rolled_up_into_all_three_tables(runtime, db):
    # Given a day of traffic, leads, ingest counters and tenant events
    traffic(db, DAY)

    # When it is rolled up
    report = run_rollups(runtime, from_day=DAY, to_day=DAY, trigger=Trigger.CLI)

    # Then each table has its rows
    assert report.days[0].upserted == {
        "daily_metric_rollups": 2,
        "daily_ingest_rollups": 2,
        "service_usage_rollups": 2,
        "daily_breakdown_rollups": 13,
    }
    breakdowns = db.execute(
        "SELECT property_id, dimension, key, visitors, page_views, entrances, conversions "
        'FROM daily_breakdown_rollups ORDER BY property_id, dimension, key COLLATE "C"'
    ).fetchall()
    assert breakdowns == [
        ("default", "country", "(not set)", 2, 3, 2, 1),
        ("default", "device", "desktop", 2, 3, 2, 1),
        # the visit that entered on / viewed /pricing too
        ("default", "landing_page", "/", 1, 2, 1, 0),
        ("default", "landing_page", "/pricing", 1, 1, 1, 1),
        ("default", "page", "/", 1, 1, 1, 0),
        ("default", "page", "/pricing", 2, 2, 1, 1),
        ("default", "source", "direct", 1, 1, 1, 1),
        ("default", "source", "organic_search", 1, 2, 1, 0),
        ("docs", "country", "(not set)", 1, 1, 1, 0),
        ("docs", "device", "desktop", 1, 1, 1, 0),
        ("docs", "landing_page", "/docs", 1, 1, 1, 0),
        ("docs", "page", "/docs", 1, 1, 1, 0),
        ("docs", "source", "referral", 1, 1, 1, 0),
    ]
    rows = raw_data.rollup_rows(db, keep_ids=False)
    default, docs = rows["daily_metric_rollups"]
    assert (default["property_id"], docs["property_id"]) == ("default", "docs")
    assert {k: default[k] for k in default if k not in ("visitors_sketch", "source_visitor_sketches")} == {
        "property_id": "default",
        "day": DAY,
        "unique_visitors": 2,
        "returning_visitors": 1,
        "total_page_views": 3,
        "total_sessions": 2,
        "total_entrances": 2,
        "total_exits": 1,
        "total_conversions": 1,
        "form_starts": 1,
        "form_submits": 1,
        "new_leads": 1,
        "time_to_first_capture_sum_ms": 120_000,
        "time_to_first_capture_count": 1,
        "traffic_source_breakdown": {"direct": 1, "organic_search": 2},
        "top_landing_paths": [
            {"path": "/", "entrances": 1, "conversions": 0},
            {"path": "/pricing", "entrances": 1, "conversions": 1},
        ],
    }
    assert default["visitors_sketch"] is not None
    assert sorted(default["source_visitor_sketches"]) == ["direct", "organic_search"]
    assert [
        {
            k: row[k]
            for k in (
                "property_id",
                "events_accepted",
                "events_rejected",
                "events_duplicate",
                "events_bot",
                "leads_accepted",
                "p95_ttfb_ms",
                "ttfb_samples",
                "error_breakdown",
            )
        }
        for row in rows["daily_ingest_rollups"]
    ] == [
        {
            "property_id": "default",
            "events_accepted": 6,
            "events_rejected": 2,
            "events_duplicate": 3,
            "events_bot": 4,
            "leads_accepted": 1,
            "p95_ttfb_ms": 120,
            "ttfb_samples": 3,
            "error_breakdown": {"event:validation_failed": 2},
        },
        {
            "property_id": "docs",
            "events_accepted": 0,
            "events_rejected": 0,
            "events_duplicate": 0,
            "events_bot": 0,
            "leads_accepted": 0,
            "p95_ttfb_ms": None,
            "ttfb_samples": 0,
            "error_breakdown": {},
        },
    ]
    tenant_a, tenant_b = rows["service_usage_rollups"]
    assert {k: tenant_a[k] for k in tenant_a if k != "day"} == {
        "tenant_id": "tenant-a",
        "scans_completed": 2,
        "scans_failed": 1,
        "media_processed": 20,
        "identities_detected": 7,
        "clusters_created": 0,
        "suggestions_generated": 3,
        "suggestions_resolved": 0,
        "avg_scan_duration_ms": 1750,
        "scan_duration_sum_ms": 3500,
        "scan_duration_count": 2,
    }
    assert (
        tenant_b["clusters_created"],
        tenant_b["suggestions_resolved"],
        tenant_b["avg_scan_duration_ms"],
    ) == (
        1,
        1,
        None,
    )


def test_the_last_and_the_first_instant_of_a_utc_day_count_on_their_own_days(
    runtime, lambda_env, db, context
):
    # Given a visit, a form submit, a lead, a new tenant and a scan at 23:59:59.999 UTC,
    # and the same again at 00:00:00 UTC the next day
    next_day = DAY + timedelta(days=1)
    instants = {DAY: at(next_day, 0) - timedelta(milliseconds=1), next_day: at(next_day, 0)}
    for day, instant in instants.items():
        session = raw_data.session(db, raw_data.visitor(db, instant), instant)
        raw_data.page_view(db, session, instant, entrance=True)
        raw_data.event(db, session, instant, "form_submit")
        raw_data.lead(db, instant)
        read_model.tenant(db, f"tenant-{day}", instant, first_scan_at=instant)
        raw_data.scan_completed(db, f"tenant-{day}", instant)

    # When both days are rolled up
    run_rollups(runtime, from_day=DAY, to_day=next_day, trigger=Trigger.CLI)

    # Then each day has its own, in every table
    for day in instants:
        assert [
            metric(db, day, column=column)
            for column in (
                "unique_visitors",
                "total_page_views",
                "total_sessions",
                "form_submits",
                "new_leads",
            )
        ] == [1, 1, 1, 1, 1], day
        assert db.execute(
            "SELECT tenant_id, scans_completed FROM service_usage_rollups WHERE day = %s", (day,)
        ).fetchall() == [(f"tenant-{day}", 1)]

    # And the metrics of each single-day window count exactly its own
    lambda_env.setattr(metrics_handler, "cache", ReportCache())
    for day in instants:
        window = {"from": day.isoformat(), "to": day.isoformat()}
        summary = admin_get(context, "metrics/summary", {**window, "includeFunnel": "true"})
        assert summary["trend"] == [
            {"day": day.isoformat(), "uniqueVisitors": 1, "pageViews": 1, "newLeads": 1}
        ]
        assert summary["metrics"]["uniqueVisitors"]["value"] == 1
        funnel = summary["funnel"]
        assert (funnel["leadsCaptured"], funnel["tenantsCreated"], funnel["tenantsWithFirstScan"]) == (
            1,
            1,
            1,
        )
        usage = admin_get(context, "metrics/service_usage", window)
        assert usage["usage"]["totalScansCompleted"]["value"] == 1


@pytest.mark.parametrize(("samples", "expected"), [(1, 1), (19, 19), (20, 19), (21, 20), (40, 38)])
def test_the_ttfb_p95_is_a_value_a_page_view_had(runtime, db, samples, expected):
    # Given page views with TTFBs 1..n ms, in a shuffled order
    visitor = raw_data.visitor(db, LONG_AGO)
    session = raw_data.session(db, visitor, at(DAY))
    for ttfb in sorted(range(1, samples + 1), key=lambda n: (n * 7919) % 101):
        raw_data.page_view(db, session, at(DAY), ttfb_ms=ttfb)

    run_rollups(runtime, from_day=DAY, to_day=DAY, trigger=Trigger.CLI)

    # Then the p95 is the ceil(0.95 n)-th smallest (percentile_disc), weighted by n
    assert db.execute("SELECT p95_ttfb_ms, ttfb_samples FROM daily_ingest_rollups").fetchone() == (
        expected,
        samples,
    )


# --------------------------------------------------------------------------- idempotency


def test_a_rerun_changes_nothing(runtime, db):
    # Given the scheduled days, with a crowd of visitors, rolled up by a planner that
    # groups by hashing
    traffic(db, DAY)
    traffic(db, YESTERDAY)
    for minute in range(40):
        session = raw_data.session(db, raw_data.visitor(db, LONG_AGO), at(DAY, 18, minute))
        raw_data.page_view(db, session, at(DAY, 18, minute), entrance=True)
    runtime.database.connection().execute("SET enable_sort = off")
    run_rollups(runtime, from_day=SCHEDULED[0], to_day=TODAY, trigger=Trigger.SCHEDULE)
    before = raw_data.rollup_rows(db)
    stamped = db.execute("SELECT max(generated_at) FROM daily_metric_rollups").fetchone()[0]

    # When the same days are rolled up again, an hour later, by a planner that groups by
    # sorting rather than hashing, so the visitors come in another order (a sketch's bytes
    # depend on the order it is fed)
    runtime.database.connection().execute("RESET enable_sort; SET enable_hashagg = off")
    runtime.clock = lambda: NOW + timedelta(hours=1)
    run_rollups(runtime, from_day=SCHEDULED[0], to_day=TODAY, trigger=Trigger.SCHEDULE)

    # Then every row is the same row with the same values, sketches byte for byte; only
    # its stamps moved
    assert raw_data.rollup_rows(db) == before
    assert db.execute("SELECT min(generated_at) FROM daily_metric_rollups").fetchone()[0] > stamped


def test_two_concurrent_runs_leave_the_rows_of_one(runtime, db):
    # Given the rows one run writes
    traffic(db, DAY)
    traffic(db, YESTERDAY)
    run_rollups(runtime, from_day=SCHEDULED[0], to_day=TODAY, trigger=Trigger.CLI)
    alone = raw_data.rollup_rows(db, keep_ids=False)
    db.execute("TRUNCATE daily_metric_rollups, daily_ingest_rollups, service_usage_rollups, rollup_runs")

    # When two runs of the same days start at once, each with its own connection (as two
    # Lambda containers would)
    settings = get_settings()
    runtimes = [build_runtime(settings) for _ in range(2)]
    for each in runtimes:
        each.clock = lambda: NOW
    barrier = threading.Barrier(2)

    def run(index: int) -> int:
        barrier.wait(timeout=30)
        report = run_rollups(runtimes[index], from_day=SCHEDULED[0], to_day=TODAY, trigger=Trigger.SCHEDULE)
        return len(report.days)

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            assert list(pool.map(run, range(2))) == [8, 8]
    finally:
        for each in runtimes:
            each.database.close()

    # Then the rows are those of one run, and both runs succeeded
    assert raw_data.rollup_rows(db, keep_ids=False) == alone
    assert [row[5] for row in runs(db)] == ["succeeded", "succeeded"]


def test_a_run_waits_for_the_days_lock(runtime, db, database_url):
    # Given another transaction holding the lock of DAY
    traffic(db, DAY)
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, DAY.toordinal()))
        with ThreadPoolExecutor(max_workers=1) as pool:
            # When a run of that day starts
            other = build_runtime(get_settings())
            other.clock = lambda: NOW
            pending = pool.submit(run_rollups, other, from_day=DAY, to_day=DAY, trigger=Trigger.CLI)

            # Then it waits while the lock is held, and rolls the day up once it is released
            with pytest.raises(TimeoutError):
                pending.result(timeout=0.5)
            assert metric(db, DAY) is None
            holder.rollback()
            assert len(pending.result(timeout=30).days) == 1
            other.database.close()
    assert metric(db, DAY) == 3


def test_a_late_event_is_picked_up_by_the_next_scheduled_run(runtime, db, long_context):
    # Given yesterday rolled up by the schedule
    traffic(db, YESTERDAY)
    rollup_handler.lambda_handler(load_event("rollup/scheduled.json"), long_context)
    assert metric(db, YESTERDAY) == 3

    # When a page view of yesterday's last millisecond arrives late, from a new visitor
    late = raw_data.visitor(db, at(YESTERDAY, 23, 59))
    session = raw_data.session(db, late, at(YESTERDAY, 23, 59))
    raw_data.page_view(db, session, datetime(2026, 2, 13, 23, 59, 59, 999_000, tzinfo=UTC), entrance=True)
    # and the next hourly run comes
    runtime.clock = lambda: NOW + timedelta(hours=1)
    rollup_handler.lambda_handler(load_event("rollup/scheduled.json"), long_context)

    # Then yesterday counts it
    assert metric(db, YESTERDAY) == 4
    assert metric(db, YESTERDAY, column="unique_visitors") == 3
    assert metric(db, TODAY) is None


# --------------------------------------------------------------------------- what is written


def test_a_dry_run_writes_nothing_and_reports_what_a_run_would(runtime, db, row_counts):
    # Given raw data, and a stale rollup row of a property with no data left that day
    traffic(db, DAY)
    raw_data.counter(db, OLDER, "event", "accepted", 3)
    run_rollups(runtime, from_day=OLDER, to_day=OLDER, trigger=Trigger.CLI)
    db.execute("DELETE FROM ingest_counters WHERE day = %s", (OLDER,))
    before = row_counts()
    rows_before = raw_data.rollup_rows(db)

    # When a dry run covers both days
    dry = run_rollups(runtime, from_day=OLDER, to_day=DAY, dry_run=True, trigger=Trigger.CLI)

    # Then nothing is written, not even a run record
    assert row_counts() == before
    assert raw_data.rollup_rows(db) == rows_before
    assert dry.run_id is None and dry.dry_run is True
    # And it reported exactly what a real run then writes and deletes
    real = run_rollups(runtime, from_day=OLDER, to_day=DAY, trigger=Trigger.CLI)
    assert [(d.day, d.upserted, d.deleted) for d in dry.days] == [
        (d.day, d.upserted, d.deleted) for d in real.days
    ]
    assert dry.days[0].deleted["daily_ingest_rollups"] == 1
    assert dry.rows_written == real.rows_written > 0


def test_days_past_raw_retention_are_skipped_not_zeroed(runtime, db):
    # Given rollups of days whose raw data has been purged, the only record left
    for day in (FIRST_KEPT - timedelta(days=2), FIRST_KEPT - timedelta(days=1)):
        db.execute(
            "INSERT INTO daily_metric_rollups (property_id, day, unique_visitors, total_page_views) "
            "VALUES ('default', %s, 40, 90)",
            (day,),
        )
        db.execute(
            "INSERT INTO service_usage_rollups (tenant_id, day, scans_completed) VALUES ('t', %s, 7)", (day,)
        )
    before = raw_data.rollup_rows(db)
    traffic(db, FIRST_KEPT)

    # When a backfill asks for them and the first kept day
    report = run_rollups(
        runtime, from_day=FIRST_KEPT - timedelta(days=2), to_day=FIRST_KEPT, trigger=Trigger.INVOKE
    )

    # Then they are skipped and reported, their rows untouched; the kept day is rolled up
    assert report.skipped_days == (FIRST_KEPT - timedelta(days=2), FIRST_KEPT - timedelta(days=1))
    assert [result.day for result in report.days] == [FIRST_KEPT]
    after = raw_data.rollup_rows(db)
    for table, rows in before.items():
        assert [row for row in after[table] if row["day"] < FIRST_KEPT] == rows
    assert metric(db, FIRST_KEPT) == 3
    assert runs(db)[0][5:8] == ("succeeded", 1, 2)


def test_a_day_whose_data_disappeared_loses_its_rows(runtime, db):
    # Given a day rolled up for both properties and both tenants
    traffic(db, DAY)
    run_rollups(runtime, from_day=DAY, to_day=DAY, trigger=Trigger.CLI)

    # When docs' page views and tenant-b's events of that day are gone
    db.execute("DELETE FROM events WHERE property_id = 'docs'")
    db.execute("DELETE FROM sessions WHERE property_id = 'docs'")
    db.execute("DELETE FROM tenant_events WHERE tenant_id = 'tenant-b'")
    report = run_rollups(runtime, from_day=DAY, to_day=DAY, trigger=Trigger.CLI)

    # Then their rows of that day go, and only theirs
    # (a day's breakdowns are deleted whole and inserted again)
    assert report.days[0].deleted == {
        "daily_metric_rollups": 1,
        "daily_ingest_rollups": 1,
        "service_usage_rollups": 1,
        "daily_breakdown_rollups": 13,
    }
    assert report.days[0].upserted["daily_breakdown_rollups"] == 8
    assert db.execute("SELECT DISTINCT property_id FROM daily_breakdown_rollups").fetchall() == [("default",)]
    rows = raw_data.rollup_rows(db)
    assert [row["property_id"] for row in rows["daily_metric_rollups"]] == ["default"]
    assert [row["property_id"] for row in rows["daily_ingest_rollups"]] == ["default"]
    assert [row["tenant_id"] for row in rows["service_usage_rollups"]] == ["tenant-a"]


def test_a_property_run_replaces_only_that_propertys_rows(runtime, db):
    # Given a day rolled up, then every row damaged
    traffic(db, DAY)
    run_rollups(runtime, from_day=DAY, to_day=DAY, trigger=Trigger.CLI)
    db.execute("UPDATE daily_metric_rollups SET total_page_views = 0")
    db.execute("UPDATE daily_ingest_rollups SET events_accepted = 0")
    db.execute("UPDATE service_usage_rollups SET scans_completed = 0")

    # When the day is rolled up for docs only
    report = run_rollups(runtime, from_day=DAY, to_day=DAY, property_id="docs", trigger=Trigger.CLI)

    # Then docs is repaired; default and service usage (per tenant) are left alone
    assert report.scope is Scope.MARKETING
    assert report.days[0].upserted == {
        "daily_metric_rollups": 1,
        "daily_ingest_rollups": 1,
        "daily_breakdown_rollups": 5,
    }
    assert report.days[0].deleted["daily_breakdown_rollups"] == 5
    assert (metric(db, DAY, "docs"), metric(db, DAY, "default")) == (1, 0)
    assert db.execute("SELECT sum(scans_completed) FROM service_usage_rollups").fetchone()[0] == 0
    assert runs(db)[-1][:5] == ("cli", "marketing", DAY, DAY, "docs")


def test_a_service_usage_run_replaces_only_service_usage(runtime, db):
    traffic(db, DAY)
    report = run_rollups(runtime, from_day=DAY, to_day=DAY, scope=Scope.SERVICE_USAGE, trigger=Trigger.CLI)
    assert report.days[0].upserted == {"service_usage_rollups": 2}
    assert db.execute("SELECT count(*) FROM daily_metric_rollups").fetchone()[0] == 0
    assert runs(db)[0][:2] == ("cli", "service_usage")
    with pytest.raises(ValueError, match="property filter"):
        run_rollups(runtime, from_day=DAY, to_day=DAY, property_id="x", scope=Scope.ALL, trigger=Trigger.CLI)


# --------------------------------------------------------------------------- the ledger


def test_every_run_is_recorded_as_it_starts_and_ends(runtime, db):
    traffic(db, DAY)
    started = []
    run_rollups(
        runtime,
        from_day=DAY,
        to_day=DAY + timedelta(days=1),
        trigger=Trigger.INVOKE,
        progress=lambda done, total, day: started.append(runs(db)[0][5]),
    )
    # While it ran, its record said so (committed on its own); then it was closed
    assert started == ["running", "running"]
    row = db.execute(
        "SELECT status, days, rows_written, started_at, finished_at, error FROM rollup_runs"
    ).fetchone()
    assert row == ("succeeded", 2, 6 + 13, NOW, NOW, None)


def test_a_run_out_of_time_stops_between_days_and_is_not_fresh(runtime, db):
    # Given a caller with time for two days only
    traffic(db, DAY)
    budget = iter([900_000, 900_000, 0])

    # When a week is asked for
    report = run_rollups(
        runtime,
        from_day=DAY - timedelta(days=4),
        to_day=DAY + timedelta(days=2),
        trigger=Trigger.INVOKE,
        time_left_ms=lambda: next(budget, 0),
    )

    # Then it rolled up two days, says what is left, skipped the monitor, and failed
    assert report.complete is False and report.monitored is None
    assert len(report.days) == 2 and report.remaining_days[0] == DAY - timedelta(days=2)
    status, error = db.execute("SELECT status, error FROM rollup_runs").fetchone()
    assert status == "failed" and error.startswith("out of time: 5 days not rolled up, from 2026-02-08")
    with runtime.database.connection().transaction():
        assert freshness(runtime.database.connection(), TODAY) == (None, None, None)


@pytest.mark.parametrize(("time_left", "days"), [(10_000, 0), (10_001, 1)])
def test_a_day_starts_only_with_more_than_a_statement_timeout_and_5_s_left(runtime, db, time_left, days):
    # When a run has exactly, or a millisecond more than, the 5 s statement timeout and 5 s in hand
    report = run_rollups(
        runtime, from_day=DAY, to_day=DAY, trigger=Trigger.INVOKE, time_left_ms=lambda: time_left
    )

    # Then only the latter rolls up its day
    assert len(report.days) == days
    assert report.complete is bool(days)


def test_a_failing_run_is_recorded_as_failed_and_raises(runtime, db, monkeypatch):
    traffic(db, DAY)
    import funnel.readmodel.rollups

    real = funnel.readmodel.rollups.rollup_day
    calls = []

    def second_day_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom " + "x" * 2100)
        return real(*args, **kwargs)

    monkeypatch.setattr(funnel.readmodel.rollups, "rollup_day", second_day_fails)
    with pytest.raises(RuntimeError, match="boom"):
        run_rollups(runtime, from_day=DAY, to_day=DAY + timedelta(days=2), trigger=Trigger.CLI)
    # The first day's rollup was committed; the run says how far it got and why it stopped
    assert metric(db, DAY) == 3
    assert runs(db)[0][5:7] == ("failed", 1)
    # (its error cut at 2000 characters)
    assert runs(db)[0][9] == ("RuntimeError: boom " + "x" * 2100)[:2000]


# --------------------------------------------------------------------------- freshness


def ledger(db, from_day: date, to_day: date, started: datetime, finished: datetime, **columns) -> None:
    values = {"trigger": "schedule", "scope": "all", "status": "succeeded", "property_id": None, **columns}
    db.execute(
        "INSERT INTO rollup_runs (trigger, scope, from_day, to_day, property_id, status, started_at, "
        "finished_at) VALUES (%(trigger)s, %(scope)s, %(from_day)s, %(to_day)s, %(property_id)s, %(status)s, "
        "%(started)s, %(finished)s)",
        {**values, "from_day": from_day, "to_day": to_day, "started": started, "finished": finished},
    )


def fresh(db, today: date = TODAY):
    with db.transaction():
        return freshness(db, today)


def test_freshness_before_any_run_is_unknown(db):
    assert fresh(db) == (None, None, None)


def test_freshness_is_the_last_complete_day_a_run_of_everything_recomputed(runtime, db):
    # Given the schedule's run this morning
    run_rollups(runtime, from_day=SCHEDULED[0], to_day=TODAY, trigger=Trigger.SCHEDULE)
    assert fresh(db) == (YESTERDAY, 1, NOW)

    # When later runs fail, cover one property or service usage only, or cover only today
    later = NOW + timedelta(hours=1)
    ledger(db, YESTERDAY, TODAY, later, later, status="failed")
    ledger(db, DAY, TODAY, later, later, scope="marketing", property_id="docs")
    ledger(db, DAY, TODAY, later, later, scope="service_usage")
    ledger(db, TODAY, TODAY, later, later)

    # Then the read model is still as fresh as the schedule's run made it, but generated
    # later (the last run of everything)
    assert fresh(db) == (YESTERDAY, 1, later)


def test_a_run_that_started_before_midnight_does_not_make_that_day_fresh(db):
    # Given a run that started at the end of 02-14 and finished after midnight
    ledger(db, date(2026, 2, 8), date(2026, 2, 15), at(TODAY, 23, 59), at(TODAY + timedelta(days=1), 0, 1))

    # Then 02-14 was recomputed while it was still open: fresh through 02-13
    assert fresh(db, TODAY + timedelta(days=1)) == (YESTERDAY, 2, at(TODAY + timedelta(days=1), 0, 1))


# --------------------------------------------------------------------------- the monitor


def test_the_monitor_reports_rollups_that_disagree_with_raw_data(runtime, db, long_context, capsys):
    # Given an older day rolled up by a backfill, outside the schedule's days
    traffic(db, OLDER)
    run_rollups(runtime, from_day=OLDER, to_day=OLDER, trigger=Trigger.INVOKE)
    # and then a damaged row, a late raw form submit and a lost scan total
    db.execute("UPDATE daily_metric_rollups SET total_page_views = 99 WHERE property_id = 'default'")
    visitor = raw_data.visitor(db, LONG_AGO, property_id="docs")
    raw_data.event(db, raw_data.session(db, visitor, at(OLDER)), at(OLDER, 23, 59), "form_submit")
    db.execute("UPDATE service_usage_rollups SET scans_completed = 0 WHERE tenant_id = 'tenant-a'")
    # and raw data of a day no run ever covered
    traffic(db, OLDER + timedelta(days=1))
    capsys.readouterr()

    # When the scheduled function runs, a little later
    runtime.clock = lambda: NOW + timedelta(minutes=5)
    result = rollup_handler.lambda_handler(load_event("rollup/scheduled.json"), long_context)

    # Then it reports each mismatch of the covered day, and nothing of the uncovered one
    expected = [
        {
            "day": "2026-01-20",
            "kind": "property",
            "key": "default",
            "metric": "total_page_views",
            "raw": 3,
            "rolledUp": 99,
        },
        {
            "day": "2026-01-20",
            "kind": "property",
            "key": "docs",
            "metric": "form_submits",
            "raw": 1,
            "rolledUp": 0,
        },
        {
            "day": "2026-01-20",
            "kind": "tenant",
            "key": "tenant-a",
            "metric": "scans_completed",
            "raw": 2,
            "rolledUp": 0,
        },
    ]
    assert result["discrepancies"] == expected
    assert result["monitored"] == {"from": FIRST_KEPT.isoformat(), "to": "2026-02-12"}
    # And stores them with the run
    stored = db.execute(
        "SELECT discrepancies, discrepancy_details FROM rollup_runs WHERE trigger = 'schedule'"
    )
    assert stored.fetchone() == (3, expected)
    # And counts them as a metric
    assert emitted(capsys.readouterr().out, "RollupDiscrepancies") == [3.0]

    # And rollups-status shows them
    assert main(["rollups-status"]) == 0
    shown = capsys.readouterr().out
    assert "discrepancies (3, run " in shown
    assert "2026-01-20  property  default   total_page_views  3    99" in shown
    assert "2026-01-20  tenant    tenant-a  scans_completed   2    0" in shown


def test_the_monitor_leaves_days_that_may_still_change_alone(runtime, db):
    # Given the schedule's days rolled up, then a late page view of yesterday (beacons
    # may arrive a day late) and a damaged row of the day before
    traffic(db, YESTERDAY)
    traffic(db, YESTERDAY - timedelta(days=1))
    run_rollups(runtime, from_day=SCHEDULED[0], to_day=TODAY, trigger=Trigger.SCHEDULE)
    session = raw_data.session(db, raw_data.visitor(db, LONG_AGO), at(YESTERDAY))
    raw_data.page_view(db, session, at(YESTERDAY))
    db.execute(
        "UPDATE daily_metric_rollups SET total_entrances = 0 WHERE day = %s", (YESTERDAY - timedelta(1),)
    )

    # When a dry run checks (it recomputes but writes nothing, so the rows stay as they are)
    report = run_rollups(runtime, from_day=TODAY, to_day=TODAY, dry_run=True, trigger=Trigger.CLI)

    # Then only the settled day is reported
    assert [(d.day, d.key, d.metric, d.raw, d.rolled_up) for d in report.discrepancies] == [
        (YESTERDAY - timedelta(days=1), "default", "total_entrances", 2, 0),
        (YESTERDAY - timedelta(days=1), "docs", "total_entrances", 1, 0),
    ]


# --------------------------------------------------------------------------- the function


def test_the_templates_schedule_input_is_the_sample_scheduled_event():
    class IntrinsicsIgnored(yaml.SafeLoader):
        """Reads template.yaml, with CloudFormation's !Ref, !If... as None."""

    IntrinsicsIgnored.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=IntrinsicsIgnored)  # noqa: S506
    schedule = template["Resources"]["RollupFunction"]["Properties"]["Events"]["Hourly"]["Properties"]
    assert json.loads(schedule["Input"]) == load_event("rollup/scheduled.json")


@pytest.mark.parametrize(
    ("sample", "trigger", "from_day", "days", "property_id", "dry_run"),
    [
        ("scheduled", "schedule", "2026-02-07", 8, None, False),
        ("backfill", "invoke", "2026-01-14", 31, None, False),
        ("dry_run", "invoke", "2026-02-01", 13, None, True),
        ("one_property", "invoke", "2026-02-07", 7, "default", False),
    ],
)
def test_the_function_runs_each_sample_event(
    runtime, db, long_context, sample, trigger, from_day, days, property_id, dry_run
):
    traffic(db, DAY)
    result = rollup_handler.lambda_handler(load_event(f"rollup/{sample}.json"), long_context)
    assert result["ok"] is True and result["complete"] is True
    assert (result["trigger"], result["from"], result["daysRolledUp"]) == (trigger, from_day, days)
    assert (result["propertyId"], result["dryRun"]) == (property_id, dry_run)
    assert result["discrepancies"] == []
    assert metric(db, DAY) == (None if dry_run else 3)
    assert len(runs(db)) == (0 if dry_run else 1)


class NearlyOutOfTime(FakeContext):
    """A context with 10 s left: no more than the statement timeout and 5 s, so no day starts."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


@pytest.mark.parametrize(
    ("sample", "context", "completed"),
    [
        ("scheduled", RollupContext(), [1.0]),
        ("scheduled", NearlyOutOfTime(), [0.0]),
        ("backfill", RollupContext(), []),
    ],
    ids=["scheduled-complete", "scheduled-out-of-time", "backfill"],
)
def test_only_a_complete_scheduled_run_counts_towards_the_freshness_alarm(
    runtime, db, capsys, sample, context, completed
):
    # (template.yaml's RollupsStaleAlarm fires when ScheduledRollupsCompleted sums to less
    # than 1 over two hours: a backfill of old days does not make today's rollups fresh)
    traffic(db, DAY)
    capsys.readouterr()
    rollup_handler.lambda_handler(load_event(f"rollup/{sample}.json"), context)
    assert emitted(capsys.readouterr().out, "ScheduledRollupsCompleted") == completed


@pytest.mark.parametrize(
    ("event", "loc"),
    [
        ({"from": "2026-02-10", "to": "2026-02-09"}, "event"),
        ({"from": "2025-02-10", "to": "2026-02-11"}, "event"),
        ({"from": "2026-02-10", "to": "2026-02-15"}, "event"),
        ({"from": "2026-2-10", "to": "2026-02-11"}, "from"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": 1770681600, "to": "2026-02-11"}, "from"),
        ({"from": "2026-02-10"}, "to"),
        ({"from": "2026-02-10", "to": "2026-02-11", "dryRun": "yes"}, "dryRun"),
        ({"from": "2026-02-10", "to": "2026-02-11", "dry_run": True}, "dry_run"),
        ({"from": "2026-02-10", "to": "2026-02-11", "propertyId": "no spaces"}, "propertyId"),
        ({"trigger": "hourly"}, "trigger"),
        ({"trigger": "schedule", "from": "2026-02-10"}, "from"),
        ({}, "from"),
    ],
)
def test_invalid_input_is_answered_with_what_is_wrong_and_runs_nothing(
    runtime, db, long_context, row_counts, capsys, event, loc
):
    before = row_counts()
    result = rollup_handler.lambda_handler(event, long_context)
    assert result["ok"] is False and result["error"] == "validation_failed"
    assert loc in [problem["loc"] for problem in result["details"]]
    assert row_counts() == before
    assert emitted(capsys.readouterr().out, "RollupInputRefused") == [1.0]


def test_an_eventbridge_scheduled_event_without_input_is_the_scheduled_run(runtime, db, long_context):
    event = load_event("retention/scheduled.json")
    result = rollup_handler.lambda_handler(event, long_context)
    assert (result["trigger"], result["from"], result["to"]) == ("schedule", "2026-02-07", "2026-02-14")


# --------------------------------------------------------------------------- the CLI


def test_the_cli_backfills_with_a_progress_bar_and_prints_the_report(runtime, db, capsys):
    traffic(db, DAY)
    assert main(["rollups-backfill", "--from", "2026-02-09", "--to", "2026-02-11"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (report["trigger"], report["daysRolledUp"], report["rowsWritten"]) == ("cli", 3, 6 + 13)
    assert err.splitlines() == [
        "rollups [##########....................] 1/3 days  2026-02-09",
        "rollups [####################..........] 2/3 days  2026-02-10",
        "rollups [##############################] 3/3 days  2026-02-11",
    ]
    assert metric(db, DAY) == 3


def test_the_cli_dry_run_and_property_backfill(runtime, db, capsys, row_counts):
    traffic(db, DAY)
    before = row_counts()
    assert main(["rollups-backfill", "--from", "2026-02-10", "--to", "2026-02-10", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["dryRun"] is True
    assert row_counts() == before

    assert (
        main(["rollups-backfill", "--from", "2026-02-10", "--to", "2026-02-10", "--property-id", "docs"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["scope"] == "marketing"
    assert (metric(db, DAY, "docs"), metric(db, DAY)) == (1, None)


def test_the_cli_says_clearly_when_days_are_past_raw_retention(runtime, db, capsys):
    assert main(["rollups-backfill", "--from", "2025-11-14", "--to", "2025-11-16"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["skippedDays"] == ["2025-11-14", "2025-11-15"]
    assert (
        "skipped 2 days, 2025-11-14 to 2025-11-15: their raw data is past retention, so their rollups "
        "(the only record left) were left as they are"
    ) in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-02-11", "--to", "2026-02-10"], "from must not be after to"),
        (["--from", "2026-02-10", "--to", "2026-02-15"], "to must not be after today (2026-02-14, UTC)"),
        (["--from", "2025-01-01", "--to", "2026-02-10"], "a run covers at most 366 days"),
        (["--from", "yesterday", "--to", "2026-02-10"], "from: Value error, a UTC day as YYYY-MM-DD"),
    ],
)
def test_the_cli_refuses_a_bad_range(runtime, db, capsys, row_counts, args, message):
    before = row_counts()
    assert main(["rollups-backfill", *args]) == 2
    assert message in capsys.readouterr().err
    assert row_counts() == before


def test_the_cli_runs_the_scheduled_days_and_service_usage(runtime, db, capsys):
    traffic(db, YESTERDAY)
    assert main(["rollups-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["from"], report["to"], report["scope"]) == ("2026-02-07", "2026-02-14", "all")

    assert main(["rollups-service-usage"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["from"], report["to"], report["scope"]) == ("2026-02-07", "2026-02-14", "service_usage")
    assert main(["rollups-service-usage", "--from", "2026-02-13", "--to", "2026-02-13", "--dry-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["days"][0]["upserted"] == {"service_usage_rollups": 2}


def test_the_cli_status_shows_freshness_and_the_latest_runs(runtime, db, capsys):
    assert main(["rollups-status"]) == 0
    shown = capsys.readouterr().out
    assert "rolled up through never   lag - days   generated at never   (today 2026-02-14)" in shown
    assert "discrepancies: no run of the whole read model has succeeded yet" in shown

    traffic(db, YESTERDAY)
    assert main(["rollups-run"]) == 0
    runtime.clock = lambda: NOW + timedelta(minutes=5)
    assert (
        main(["rollups-backfill", "--from", "2026-02-13", "--to", "2026-02-13", "--property-id", "docs"]) == 0
    )
    capsys.readouterr()
    assert main(["rollups-status", "--runs", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "rolled up through 2026-02-13   lag 1 days   generated at 2026-02-14T09:30:00+00:00   "
        "(today 2026-02-14)"
    )
    assert lines[2:8] == [
        "latest runs",
        "started              trigger  scope      from        to          property  status     days  "
        "skipped  dirty  carried  rows  discrepancies  error",
        "2026-02-14 09:35:00  cli      marketing  2026-02-13  2026-02-13  docs      succeeded  1     "
        "0        0      0        12    0",
        "2026-02-14 09:30:00  cli      all        2026-02-07  2026-02-14  all       succeeded  8     "
        "0        0      0        19    0",
        "",
        "dirty days: none waiting",
    ]
    assert lines[-1].startswith("discrepancies: none (run ")
    with pytest.raises(SystemExit):
        main(["rollups-status", "--runs", "0"])
