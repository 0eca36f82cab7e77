"""Ingest accounting without a hot row, on real PostgreSQL: a counter is kept in rows per
database backend, so no request waits for another's counter; the counts stay exact under
concurrency, through the rollup (which folds a settled day's rows) and the purge."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

import collect_handler
from funnel.capture import accounting
from funnel.capture.accounting import Kind, Outcome
from funnel.capture.collect import receive_events
from funnel.capture.identity import DailySalts
from funnel.capture.schemas import EventsBody
from funnel.platform.http import RawRequest
from funnel.platform.runtime import Runtime, build_runtime, get_runtime, reset_runtime
from funnel.platform.settings import get_settings
from funnel.privacy.retention import purge
from funnel.readmodel.rollups import Trigger, run_rollups
from tests.builders import api_event

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
DAY = date(2026, 11, 18)
# The first instant DAY's counters are settled: an hour after it ends.
SETTLED = datetime(2026, 11, 19, 1, 0, tzinfo=UTC)
JUST = timedelta(microseconds=1)
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
INGEST_COLUMNS = (
    "property_id, events_accepted, events_rejected, events_duplicate, events_bot, leads_accepted, "
    "leads_rejected, error_breakdown"
)


@pytest.fixture
def runtime(lambda_env: pytest.MonkeyPatch) -> Runtime:
    """The functions' runtime, statements limited to a second, its clock pinned to NOW."""
    lambda_env.setenv("DB_STATEMENT_TIMEOUT_MS", "1000")
    reset_runtime()
    pinned = get_runtime()
    pinned.clock = lambda: NOW
    return pinned


def page_view(event_id: str, visitor: str, **extra: object) -> dict:
    return {
        "type": "page_view",
        "eventId": event_id,
        "visitorId": visitor,
        "occurredAt": NOW.isoformat(),
        "path": "/pricing",
        **extra,
    }


def counter_rows(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT property_id, day, kind, outcome, code, count FROM ingest_counters "
        "ORDER BY property_id, day, kind, outcome, code, count"
    ).fetchall()


def totals(db: psycopg.Connection) -> dict[tuple, int]:
    rows = db.execute(
        "SELECT property_id, day, kind, outcome, code, sum(count) FROM ingest_counters "
        "GROUP BY property_id, day, kind, outcome, code"
    ).fetchall()
    return {tuple(row[:5]): row[5] for row in rows}


def add_rows(db: psycopg.Connection, rows: list[tuple]) -> None:
    """Counter rows as backends would have written them: (property, day, kind, outcome,
    code, backend_pid, count)."""
    with db.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO ingest_counters (property_id, day, kind, outcome, code, backend_pid, count) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def ingest_rollups(db: psycopg.Connection) -> list[tuple]:
    return db.execute(f"SELECT {INGEST_COLUMNS} FROM daily_ingest_rollups ORDER BY property_id").fetchall()


SPREAD = [
    ("default", DAY, "event", "accepted", "", 0, 5),
    ("default", DAY, "event", "accepted", "", 4101, 3),
    ("default", DAY, "event", "accepted", "", 4102, 2),
    ("default", DAY, "event", "duplicate", "", 4101, 1),
    ("default", DAY, "event", "rejected", "validation_failed", 4101, 2),
    ("default", DAY, "event", "rejected", "validation_failed", 4102, 1),
    ("default", DAY, "lead", "rejected", "consent_required", 4102, 1),
    ("docs", DAY, "event", "bot", "", 4101, 4),
    ("docs", DAY, "event", "bot", "", 4102, 6),
    ("docs", DAY + timedelta(days=1), "event", "accepted", "", 4102, 9),
]
# What the rollup of DAY holds from SPREAD, however its rows are spread.
SPREAD_ROLLUPS = [
    ("default", 10, 3, 1, 0, 0, 1, {"event:validation_failed": 3, "lead:consent_required": 1}),
    ("docs", 0, 0, 0, 10, 0, 0, {}),
]


# --------------------------------------------------------------------------- no waiting


def test_a_request_never_waits_for_another_requests_counter(runtime, db, database_url, context):
    # Given another request of the same property, day and outcome, still in its
    # transaction after adding to its counter
    with psycopg.connect(database_url, autocommit=True) as other, other.transaction():
        accounting.add(
            other, property_id="default", day=NOW.date(), kind=Kind.EVENT, outcome=Outcome.ACCEPTED, count=1
        )

        # When a page view of that property arrives (its statements may take a second)
        event = api_event("collect/beacon_page_view", body=page_view("evt_nowait_0001", "vis_nowait"))
        response = collect_handler.lambda_handler(event, context)

        # Then it is stored without waiting for the other request to end
        assert response["statusCode"] == 202
        assert json.loads(response["body"])["accepted"] == 1

    # And both are counted, each in its own backend's row
    assert counter_rows(db) == [
        ("default", NOW.date(), "event", "accepted", "", 1),
        ("default", NOW.date(), "event", "accepted", "", 1),
    ]


def test_concurrent_requests_of_one_property_are_counted_to_the_event(runtime, db):
    # Given 48 single-event requests of one property from six containers at once: 30 new
    # page views, 12 repeating one of those, 6 from a crawler
    requests = [[page_view(f"evt_conc_{n:04d}", f"vis_conc_{n % 10}")] for n in range(30)]
    requests += [[page_view(f"evt_conc_{n:04d}", f"vis_conc_{n % 10}")] for n in range(0, 24, 2)]
    human = RawRequest.from_event(api_event("collect/beacon_page_view"))
    crawler = RawRequest.from_event(api_event("collect/beacon_page_view", headers={"user-agent": BOT}))
    settings = get_settings()
    runtimes = [build_runtime(settings) for _ in range(6)]
    for each in runtimes:
        each.clock = lambda: NOW

    def request(n: int) -> tuple[list, RawRequest]:
        return (requests[n], human) if n < len(requests) else (requests[n % 30], crawler)

    def deliver(container: int) -> list:
        # A container runs one request at a time.
        return [
            receive_events(
                runtimes[container], EventsBody.model_validate(body[0]).events(), via, DailySalts()
            )
            for body, via in map(request, range(container, 48, 6))
        ]

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = [result for chunk in pool.map(deliver, range(6)) for result in chunk]
    finally:
        for each in runtimes:
            each.database.close()

    # Then each is counted once, under its outcome, in the rows of the six backends
    assert sum(r.accepted for r in results) == 30
    assert totals(db) == {
        ("default", NOW.date(), "event", "accepted", ""): 30,
        ("default", NOW.date(), "event", "duplicate", ""): 12,
        ("default", NOW.date(), "event", "bot", ""): 6,
    }
    assert db.execute("SELECT count(DISTINCT backend_pid) FROM ingest_counters").fetchone() == (6,)

    # And the day's rollup holds those counts
    run_rollups(runtime, from_day=NOW.date(), to_day=NOW.date(), trigger=Trigger.CLI)
    assert ingest_rollups(db) == [("default", 30, 0, 12, 6, 0, 0, {})]


# --------------------------------------------------------------------------- rollup and fold


@pytest.mark.parametrize(
    ("clock", "rows_left"),
    [
        pytest.param(SETTLED - JUST, len(SPREAD), id="an hour after the day, less a microsecond: kept"),
        pytest.param(SETTLED, 6, id="an hour after the day: folded"),
    ],
)
def test_a_day_is_rolled_up_from_the_sum_of_its_rows_and_folded_once_settled(runtime, db, clock, rows_left):
    # Given DAY's counters spread over the rows of several backends
    add_rows(db, SPREAD)
    before = totals(db)

    # When DAY is rolled up at that time
    runtime.clock = lambda: clock
    run_rollups(runtime, from_day=DAY, to_day=DAY, trigger=Trigger.CLI)

    # Then the rollup holds every counter's sum, error codes summed over backends
    assert ingest_rollups(db) == SPREAD_ROLLUPS
    # And each counter keeps its sum; a settled day's rows are folded into one per
    # counter, the next day's left as they are
    assert totals(db) == before
    assert len(counter_rows(db)) == rows_left
    if rows_left < len(SPREAD):
        assert db.execute(
            "SELECT DISTINCT backend_pid FROM ingest_counters WHERE day = %s", (DAY,)
        ).fetchall() == [(0,)]


def test_a_dry_run_folds_nothing(runtime, db):
    # Given DAY's counters spread over several backends, and DAY settled
    add_rows(db, SPREAD)
    runtime.clock = lambda: SETTLED

    # When a dry run covers it
    run_rollups(runtime, from_day=DAY, to_day=DAY, dry_run=True, trigger=Trigger.CLI)

    # Then the rows are as they were
    assert len(counter_rows(db)) == len(SPREAD)


def test_a_property_run_folds_only_that_propertys_counters(runtime, db):
    # Given DAY's counters of two properties spread over several backends, and DAY settled
    add_rows(db, SPREAD)
    runtime.clock = lambda: SETTLED

    # When DAY is rolled up for docs only
    run_rollups(runtime, from_day=DAY, to_day=DAY, property_id="docs", trigger=Trigger.CLI)

    # Then docs's rows of DAY are one per counter, default's untouched
    per_property = db.execute(
        "SELECT property_id, count(*) FROM ingest_counters WHERE day = %s GROUP BY property_id ORDER BY 1",
        (DAY,),
    ).fetchall()
    assert per_property == [("default", 7), ("docs", 1)]
    assert ingest_rollups(db) == SPREAD_ROLLUPS[1:]


def test_folding_adds_to_a_counters_folded_row(runtime, db):
    # Given a settled day already folded once, and a late row of one backend (a request
    # that committed after the day's first fold)
    add_rows(db, SPREAD)
    runtime.clock = lambda: SETTLED
    run_rollups(runtime, from_day=DAY, to_day=DAY, trigger=Trigger.CLI)
    add_rows(db, [("default", DAY, "event", "accepted", "", 4103, 4)])

    # When the day is rolled up again
    run_rollups(runtime, from_day=DAY, to_day=DAY, trigger=Trigger.CLI)

    # Then the late count is in the counter's one row and in the rollup
    assert db.execute(
        "SELECT backend_pid, count FROM ingest_counters WHERE day = %s AND outcome = 'accepted'", (DAY,)
    ).fetchall() == [(0, 14)]
    assert ingest_rollups(db)[0][:2] == ("default", 14)


# --------------------------------------------------------------------------- purge


def test_the_purge_removes_every_row_of_an_expired_counter(lambda_env, db):
    # Given a counter of the last expired day spread over three backends, and one of the
    # first kept day over two, purged two rows at a time
    lambda_env.setenv("PURGE_BATCH_SIZE", "2")
    reset_runtime()
    pinned = get_runtime()
    pinned.clock = lambda: NOW
    first_kept = date(2024, 11, 21)
    expired = first_kept - timedelta(days=1)
    add_rows(db, [("default", expired, "event", "accepted", "", pid, 1) for pid in (0, 4101, 4102)])
    add_rows(db, [("default", first_kept, "event", "accepted", "", pid, 1) for pid in (4101, 4102)])

    # When the purge runs
    report = purge(pinned)

    # Then every row of the expired counter went, and only those
    assert report.rows["ingest_counters"] == 3
    assert totals(db) == {("default", first_kept, "event", "accepted", ""): 2}
