"""Late writes are rolled up (issue 11, item 5), on real PostgreSQL with the runtime's clock
pinned: a write to a day older than yesterday marks it dirty in its own transaction, every
scheduled run recomputes the marked days whatever their age within raw retention (a
bounded number per run, the rest carried and recorded), a day that settles is marked once
so the last unmarked writes are in, a write during the rollup of its day keeps its mark,
and marks never make one late write wait for another."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

import collect_handler
import leads_admin_handler
import rollup_handler
import webhook_handler
from funnel.capture.beacons import BeaconRequest, ingest_beacons
from funnel.capture.identity import Client, DailySalts
from funnel.capture.schemas import BeaconEvent
from funnel.platform.migrate import apply_migrations
from funnel.platform.runtime import Runtime, get_runtime, reset_runtime
from funnel.privacy.retention import purge
from funnel.readmodel import dirty_days
from funnel.readmodel.rollups import Scope, Trigger, run_rollups
from funnel.webhooks.ingest import ingest_webhook
from funnel.webhooks.schemas import WebhookDelivery
from funnel_local.postgres import create_database
from funnel_ops.cli import main
from tests import raw_data
from tests.builders import api_event, response_json, webhook_event
from tests.conftest import ADMIN_KEY, FakeContext, load_event

pytestmark = pytest.mark.integration

NOW = datetime(2026, 2, 14, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
YESTERDAY = TODAY - timedelta(days=1)
# Outside the scheduled days (today and the 7 before), inside raw retention (90 days).
OLDER = date(2026, 1, 20)
FIRST_KEPT = date(2025, 11, 16)
SITE = "https://www.example.com"


class RollupContext(FakeContext):
    """The rollup function's context: 15 minutes to run."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


@pytest.fixture
def runtime(lambda_env: pytest.MonkeyPatch, db: psycopg.Connection) -> Runtime:
    """Every function's runtime, its clock pinned to NOW, the site's origin allowed."""
    lambda_env.setenv("ALLOWED_ORIGINS", SITE)
    reset_runtime()
    pinned = get_runtime()
    pinned.clock = lambda: NOW
    return pinned


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def scheduled(runtime: Runtime, moment: datetime | None = None) -> dict[str, Any]:
    """The hourly scheduled run, at ``moment`` (NOW by default)."""
    runtime.clock = lambda: moment or NOW
    report: dict[str, Any] = rollup_handler.lambda_handler(
        load_event("rollup/scheduled.json"), RollupContext()
    )
    assert report["ok"] is True, report
    return report


def scan(occurred: datetime, job: str, *, tenant: str = "tenant-late", webhook_id: str | None = None) -> dict:
    """A ``scan.completed`` delivery (unsigned: the local stage takes it unchecked)."""
    stamp = occurred.isoformat().replace("+00:00", "Z")
    payload = {"tenantId": tenant, "jobId": job, "mediaCount": 3, "identitiesDetected": 1, "durationMs": 900}
    return webhook_event(
        "scan_completed",
        headers={"webhook-id": webhook_id or f"msg_{job}"},
        tenantId=tenant,
        occurredAt=stamp,
        payload={**payload, "completedAt": stamp},
    )


def deliver(event: dict[str, Any]) -> dict[str, Any]:
    response = webhook_handler.lambda_handler(event, FakeContext())
    assert response["statusCode"] == 200, response["body"]
    answer: dict[str, Any] = response_json(response)
    return answer


def marks(db: psycopg.Connection) -> list[date]:
    return [row[0] for row in db.execute("SELECT DISTINCT day FROM rollup_dirty_days ORDER BY day")]


def scans_rolled_up(db: psycopg.Connection, day: date, tenant: str = "tenant-late") -> int | None:
    row = db.execute(
        "SELECT scans_completed FROM service_usage_rollups WHERE day = %s AND tenant_id = %s", (day, tenant)
    ).fetchone()
    return row[0] if row else None


def metric(db: psycopg.Connection, day: date, column: str, table: str = "daily_metric_rollups") -> Any:
    row = db.execute(
        f"SELECT {column} FROM {table} WHERE day = %s AND property_id = 'default'", (day,)
    ).fetchone()
    return row[0] if row else None


def emitted(printed: str, metric_name: str) -> list[float]:
    """The values of a metric in the CloudWatch embedded-metric documents printed."""
    values: list[float] = []
    for line in printed.splitlines():
        if '"_aws"' in line and metric_name in (document := json.loads(line)):
            value = document[metric_name]
            values.extend(value if isinstance(value, list) else [value])
    return values


def backfill(runtime: Runtime, *days: date) -> None:
    for day in days:
        run_rollups(runtime, from_day=day, to_day=day, trigger=Trigger.INVOKE)


# --------------------------------------------------------------------------- the defect


def test_a_webhook_older_than_the_scheduled_days_is_rolled_up_by_the_next_scheduled_run(runtime, db):
    # Given an older day rolled up, and the schedule's run of this hour
    raw_data.scan_completed(db, "tenant-late", at(OLDER, 9))
    backfill(runtime, OLDER)
    scheduled(runtime)
    assert scans_rolled_up(db, OLDER) == 1

    # When a sender's backlog delivers a scan of that day
    deliver(scan(at(OLDER, 15), "job-backlog"))

    # Then the next scheduled run rolls that day up again, and the monitor finds nothing
    report = scheduled(runtime, NOW + timedelta(hours=1))
    assert report["dirtyDays"] == [OLDER.isoformat()] and report["carriedDays"] == []
    assert scans_rolled_up(db, OLDER) == 2
    assert report["discrepancies"] == []
    assert marks(db) == []
    # And the run after it has nothing more to do there
    assert scheduled(runtime, NOW + timedelta(hours=2))["dirtyDays"] == []


@pytest.mark.parametrize(
    ("occurred", "marked"),
    [
        (datetime(2026, 2, 13, 0, 0, tzinfo=UTC), []),
        (datetime(2026, 2, 12, 23, 59, 59, tzinfo=UTC), [date(2026, 2, 12)]),
    ],
)
def test_a_write_marks_its_day_only_when_it_is_older_than_yesterday(runtime, db, occurred, marked):
    # When a scan of yesterday's first second, or of the day before's last, is delivered
    deliver(scan(occurred, "job-edge"))

    # Then only the latter marks its day
    assert marks(db) == marked


def test_the_days_are_utc_days_whatever_the_zone_of_a_clock_or_a_stamp(runtime, db):
    # Given a writer whose clock reads 19:30 on 02-14 in New York (00:30 on 02-15, UTC)
    runtime.clock = lambda: datetime.fromisoformat("2026-02-14T19:30:00-05:00")

    # When scans stamped 02:00 on 02-14 in Karachi (21:00 on 02-13, UTC) and 18:00 on
    # 02-13 in New York (23:00 on 02-13, UTC) arrive
    deliver(scan(datetime.fromisoformat("2026-02-14T02:00:00+05:00"), "job-karachi"))
    deliver(scan(datetime.fromisoformat("2026-02-13T18:00:00-05:00"), "job-new-york"))

    # Then both are of 02-13, the day before the writer's yesterday (02-14): marked
    assert marks(db) == [date(2026, 2, 13)]


def test_a_redelivery_or_a_duplicate_of_a_late_webhook_marks_nothing(runtime, db):
    # Given a late scan delivered and rolled up
    first = deliver(scan(at(OLDER, 15), "job-dup", webhook_id="msg_dup_1"))
    scheduled(runtime)
    assert marks(db) == []

    # When it is delivered again, and again under a new webhook-id
    again = deliver(scan(at(OLDER, 15), "job-dup", webhook_id="msg_dup_1"))
    renamed = deliver(scan(at(OLDER, 15), "job-dup", webhook_id="msg_dup_2"))

    # Then both are duplicates and nothing is marked
    assert again["duplicate"] is True and renamed["duplicate"] is True
    assert again["eventId"] == renamed["eventId"] == first["eventId"]
    assert marks(db) == []


def test_a_late_webhook_refused_marks_nothing(runtime, db):
    # When a late scan arrives with a webhook-id that was used for another body
    deliver(scan(at(OLDER, 15), "job-one", webhook_id="msg_reused"))
    scheduled(runtime)
    response = webhook_handler.lambda_handler(
        scan(at(OLDER, 16), "job-two", webhook_id="msg_reused"), FakeContext()
    )

    # Then it is refused, and its day is not marked
    assert response["statusCode"] == 409
    assert marks(db) == []


# --------------------------------------------------------------------------- settling


def test_a_day_is_rolled_up_once_it_settles_though_no_run_came_for_longer_than_the_scheduled_days(
    runtime, db
):
    # Given the schedule's run, then a scan of yesterday delivered today (not marked)
    scheduled(runtime)
    deliver(scan(at(YESTERDAY, 22), "job-yesterday"))
    assert marks(db) == []

    # When no run succeeds for ten days, longer than the scheduled days reach back
    report = scheduled(runtime, NOW + timedelta(days=10))

    # Then that run settles the days that settled meanwhile and rolls yesterday up
    assert YESTERDAY.isoformat() in report["dirtyDays"]
    assert scans_rolled_up(db, YESTERDAY) == 1
    assert db.execute("SELECT settled_through FROM rollup_settled").fetchone() == (date(2026, 2, 22),)
    assert marks(db) == []


def test_a_database_that_never_settled_a_day_marks_every_retained_day_that_has(db):
    # Given the record of a database migrated while it held rollups (nothing settled yet)
    db.execute("INSERT INTO rollup_settled (settled_through) VALUES (NULL)")

    # When a run settles
    with db.transaction():
        settled = dirty_days.settle(db, now=NOW, first_kept_day=FIRST_KEPT)

    # Then every day from the first kept one to the day before yesterday is marked
    assert settled.marked == tuple(dirty_days.days_between(FIRST_KEPT, date(2026, 2, 12)))
    assert marks(db) == list(settled.marked)
    assert db.execute("SELECT settled_through FROM rollup_settled").fetchone() == (date(2026, 2, 12),)


def test_settling_never_moves_back_and_marks_each_day_once(db):
    # Given days settled through 02-12
    db.execute("INSERT INTO rollup_settled (settled_through) VALUES ('2026-02-12')")

    # When a run whose clock is a day behind settles, then one a day ahead
    with db.transaction():
        behind = dirty_days.settle(db, now=NOW - timedelta(days=1), first_kept_day=FIRST_KEPT)
    with db.transaction():
        ahead = dirty_days.settle(db, now=NOW + timedelta(days=1), first_kept_day=FIRST_KEPT)

    # Then the first marks nothing and keeps the record, the second marks the one new day
    assert (behind.marked, behind.through) == ((), date(2026, 2, 12))
    assert (ahead.marked, ahead.through) == ((date(2026, 2, 13),), date(2026, 2, 13))


# --------------------------------------------------------------------------- bounded runs


@pytest.fixture
def three_per_run(runtime: Runtime, lambda_env: pytest.MonkeyPatch) -> Runtime:
    lambda_env.setenv("ROLLUP_DIRTY_DAYS_PER_RUN", "3")
    reset_runtime()
    pinned = get_runtime()
    pinned.clock = lambda: NOW
    return pinned


@pytest.mark.parametrize(("late_days", "carried"), [(3, 0), (4, 1)])
def test_a_run_recomputes_at_most_its_bound_of_dirty_days_and_carries_the_rest(
    three_per_run, db, capsys, late_days, carried
):
    # Given late scans of 3 or 4 old days, with a bound of 3 dirty days a run
    days = [OLDER + timedelta(days=n) for n in range(late_days)]
    for day in days:
        deliver(scan(at(day), f"job-{day}"))

    # When the schedule runs
    capsys.readouterr()
    report = scheduled(three_per_run)

    # Then it recomputed the 3 oldest, carried the rest, and is complete and recorded so
    assert report["dirtyDays"] == [day.isoformat() for day in days[:3]]
    assert report["carriedDays"] == [day.isoformat() for day in days[3:]]
    assert report["complete"] is True
    assert db.execute("SELECT status, days, dirty_days, carried_days FROM rollup_runs").fetchall() == [
        ("succeeded", 8 + 3, 3, carried)
    ]
    printed = capsys.readouterr().out
    assert (emitted(printed, "RollupDirtyDays"), emitted(printed, "RollupDirtyDaysCarried")) == (
        [3],
        [carried],
    )
    # And the next run does what was carried
    later = scheduled(three_per_run, NOW + timedelta(hours=1))
    assert later["dirtyDays"] == [day.isoformat() for day in days[3:]] and later["carriedDays"] == []
    assert [scans_rolled_up(db, day) for day in days] == [1] * late_days


def test_a_run_short_of_time_carries_the_dirty_days_it_did_not_reach_and_succeeds(runtime, db):
    # Given two late days, and a run with time for its own 8 days and one more
    for day in (OLDER, OLDER + timedelta(days=1)):
        deliver(scan(at(day), f"job-{day}"))
    budget = iter([900_000] * 9)

    # When it runs
    report = run_rollups(
        runtime,
        from_day=TODAY - timedelta(days=7),
        to_day=TODAY,
        trigger=Trigger.SCHEDULE,
        with_dirty_days=True,
        time_left_ms=lambda: next(budget, 0),
    )

    # Then it recomputed the older, carried the other, ran the monitor and succeeded
    assert report.dirty_days == (OLDER,) and report.carried_days == (OLDER + timedelta(days=1),)
    assert report.complete is True and report.monitored is not None
    assert db.execute("SELECT status, dirty_days, carried_days FROM rollup_runs").fetchone() == (
        "succeeded",
        1,
        1,
    )
    assert marks(db) == [OLDER + timedelta(days=1)]


def test_a_run_out_of_time_on_its_own_days_fails_and_carries_every_dirty_day(runtime, db):
    # Given a late day, and a run with time for 2 of its own 8 days
    deliver(scan(at(OLDER), "job-older"))
    budget = iter([900_000, 900_000])

    # When it runs
    report = run_rollups(
        runtime,
        from_day=TODAY - timedelta(days=7),
        to_day=TODAY,
        trigger=Trigger.SCHEDULE,
        with_dirty_days=True,
        time_left_ms=lambda: next(budget, 0),
    )

    # Then it is incomplete, as before, and the dirty day waits
    assert report.complete is False and report.carried_days == (OLDER,) and report.dirty_days == ()
    assert db.execute("SELECT status, dirty_days, carried_days FROM rollup_runs").fetchone() == (
        "failed",
        0,
        1,
    )
    assert marks(db) == [OLDER]


def test_only_a_run_of_everything_clears_a_days_marks(runtime, db):
    # Given a late scan
    deliver(scan(at(OLDER), "job-older"))

    # When a dry run, a run of one property and one of service usage cover its day
    run_rollups(runtime, from_day=OLDER, to_day=OLDER, dry_run=True, trigger=Trigger.CLI)
    run_rollups(runtime, from_day=OLDER, to_day=OLDER, property_id="default", trigger=Trigger.CLI)
    run_rollups(runtime, from_day=OLDER, to_day=OLDER, scope=Scope.SERVICE_USAGE, trigger=Trigger.CLI)

    # Then the mark stays; a backfill of everything clears it
    assert marks(db) == [OLDER]
    backfill(runtime, OLDER)
    assert marks(db) == []


# --------------------------------------------------------------------------- concurrency


def writer(database_url: str) -> psycopg.Connection:
    return psycopg.connect(database_url, autocommit=True)


def store_scan(
    conn: psycopg.Connection, occurred: datetime, job: str, *, tenant: str = "tenant-late"
) -> None:
    """A late scan written as the webhook function writes it, on ``conn``'s backend."""
    event = scan(occurred, job, tenant=tenant)
    delivery = WebhookDelivery.model_validate_json(event["body"]).root
    ingest_webhook(conn, delivery, delivery_id=f"msg_{job}", body=event["body"].encode(), written_at=NOW)


def test_a_late_write_during_the_rollup_of_its_day_keeps_its_mark(runtime, db, database_url, monkeypatch):
    # Given a late scan written by one backend
    late = writer(database_url)
    store_scan(late, at(OLDER, 9), "job-first")
    import funnel.readmodel.rollups

    real = funnel.readmodel.rollups.rollup_day

    def with_a_write_meanwhile(conn, day, **kwargs):  # type: ignore[no-untyped-def]
        # The same backend writes another scan of the day after the recompute read the
        # raw data, before the rollup clears the marks it read
        result = real(conn, day, **kwargs)
        if day == OLDER:
            store_scan(late, at(OLDER, 10), "job-meanwhile")
        return result

    monkeypatch.setattr(funnel.readmodel.rollups, "rollup_day", with_a_write_meanwhile)

    # When the schedule rolls the day up while that happens
    report = scheduled(runtime)

    # Then the rollup counts the first scan only, and the day stays marked for the second
    assert report["dirtyDays"] == [OLDER.isoformat()]
    assert scans_rolled_up(db, OLDER) == 1
    assert marks(db) == [OLDER]
    # And the next run counts both
    monkeypatch.setattr(funnel.readmodel.rollups, "rollup_day", real)
    scheduled(runtime, NOW + timedelta(hours=1))
    assert scans_rolled_up(db, OLDER) == 2
    assert marks(db) == []
    late.close()


def test_late_writes_of_one_day_never_wait_for_each_others_marks(runtime, db, database_url):
    # Given a late scan written and not yet committed by one backend
    first, second = writer(database_url), writer(database_url)
    with first.transaction():
        store_scan(first, at(OLDER, 9), "job-open")

        # When another backend writes a late scan of the same day, waiting 200 ms at most
        second.execute("SET lock_timeout = '200ms'")
        store_scan(second, at(OLDER, 10), "job-other", tenant="tenant-other")

    # Then it did not wait: each backend's mark is its own row
    assert db.execute("SELECT count(*) FROM rollup_dirty_days WHERE day = %s", (OLDER,)).fetchone() == (2,)
    first.close()
    second.close()


def test_concurrent_late_writes_and_rollups_lose_no_scan(runtime, db, database_url):
    # Given 4 writers, each delivering 15 late scans of 3 old days, while runs come and go
    days = [OLDER + timedelta(days=n) for n in range(3)]
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            with writer(database_url) as conn:
                for n in range(15):
                    store_scan(conn, at(days[n % 3], 8, n), f"job-{number}-{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    moment = NOW
    while any(thread.is_alive() for thread in threads):
        moment += timedelta(minutes=1)
        scheduled(runtime, moment)
    for thread in threads:
        thread.join()
    assert errors == []

    # When the schedule runs once more
    scheduled(runtime, moment + timedelta(hours=1))

    # Then every scan is rolled up, and no mark is left
    assert [scans_rolled_up(db, day) for day in days] == [20, 20, 20]
    assert marks(db) == []


# --------------------------------------------------------------------------- the other writers


def beacon(*events: dict[str, Any]) -> dict[str, Any]:
    return api_event("collect/beacon_batch", body={"events": list(events)})


def collect(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = collect_handler.lambda_handler(event, FakeContext())
    assert response["statusCode"] in (201, 202, 303), response["body"]
    return response


def page_view(event_id: str, moment: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "type": "page_view",
        "eventId": event_id,
        "visitorId": "vis_dirty_1",
        "occurredAt": moment.isoformat(),
        "path": "/pricing",
        **extra,
    }


def test_the_ttfb_of_an_old_page_view_measured_late_reaches_its_days_rollup(runtime, db):
    # Given a page view received on an older day, rolled up without a TTFB
    runtime.clock = lambda: at(OLDER, 10)
    collect(beacon(page_view("evt_old_view", at(OLDER, 10))))
    runtime.clock = lambda: NOW
    backfill(runtime, OLDER)
    assert metric(db, OLDER, "ttfb_samples", "daily_ingest_rollups") == 0

    # When its tab reports its vitals today
    vitals = {
        "type": "web_vitals",
        "eventId": "evt_old_vitals",
        "visitorId": "vis_dirty_1",
        "path": "/pricing",
        "pageViewId": "evt_old_view",
        "vitals": {"ttfb": 420},
    }
    collect(beacon(vitals))

    # Then its day is marked, and the next scheduled run has the TTFB there
    assert marks(db) == [OLDER]
    scheduled(runtime)
    assert metric(db, OLDER, "p95_ttfb_ms", "daily_ingest_rollups") == 420


def test_a_session_of_several_days_converting_today_converts_its_old_landing_page(runtime, db):
    # Given a session that began three days ago with a page view, rolled up, and was
    # active ever since (its last activity moved to ten minutes ago)
    began = TODAY - timedelta(days=3)
    runtime.clock = lambda: at(began, 23)
    collect(beacon(page_view("evt_landing", at(began, 23))))
    db.execute("UPDATE sessions SET last_seen_at = %s", (NOW - timedelta(minutes=10),))
    runtime.clock = lambda: NOW
    backfill(runtime, began)
    assert metric(db, began, "total_conversions") == 0

    # When its form is submitted now
    collect(
        beacon(
            {
                "type": "form_submit",
                "eventId": "evt_submit",
                "visitorId": "vis_dirty_1",
                "path": "/",
                "formId": "signup",
            }
        )
    )

    # Then the landing page's day (and the day after, which it may have reached) is
    # marked, and the next run counts the conversion
    assert marks(db) == [began, began + timedelta(days=1)]
    scheduled(runtime)
    assert metric(db, began, "total_conversions") == 1


def test_a_buffered_request_written_days_later_marks_the_days_it_changed(runtime, db):
    # Given beacons received three days ago, written only now (an outage's buffer)
    received = at(TODAY - timedelta(days=3), 8)
    event = BeaconEvent.model_validate(
        {"type": "page_view", "eventId": "evt_buffered", "visitorId": "vis_buffered", "path": "/"}
    )
    request = BeaconRequest(
        received_at=received,
        client=Client(ip="198.51.100.7", user_agent="Mozilla/5.0"),
        headers={},
        site_hosts=frozenset(),
    )
    with db.transaction():
        ingest_beacons(db, [event], request, DailySalts(), written_at=NOW)

    # Then the days from the one received on to the day before yesterday are marked (its
    # page view and counters, and the visitor's first visit), and the next run has them
    assert marks(db) == [received.date(), received.date() + timedelta(days=1)]
    scheduled(runtime)
    assert metric(db, received.date(), "total_page_views") == 1
    assert metric(db, received.date(), "events_accepted", "daily_ingest_rollups") == 1


def test_a_buffered_beacons_day_is_its_utc_day(runtime, db):
    # Given a beacon received at 06:00 UTC on 02-13, written only now, stamped 03:00 on
    # 02-13 in Karachi (22:00 on 02-12, UTC)
    event = BeaconEvent.model_validate(
        {
            "type": "page_view",
            "eventId": "evt_karachi",
            "visitorId": "vis_karachi",
            "path": "/",
            "occurredAt": "2026-02-13T03:00:00+05:00",
        }
    )
    request = BeaconRequest(
        received_at=at(YESTERDAY, 6),
        client=Client(ip="198.51.100.7", user_agent="Mozilla/5.0"),
        headers={},
        site_hosts=frozenset(),
    )
    with db.transaction():
        ingest_beacons(db, [event], request, DailySalts(), written_at=NOW)

    # Then its UTC day, 02-12, is marked (not its local 02-13, which is yesterday)
    assert marks(db) == [date(2026, 2, 12)]


def test_a_live_beacon_of_yesterday_marks_nothing(runtime, db):
    # When a page view of yesterday evening arrives this morning, with its vitals
    collect(beacon(page_view("evt_yesterday", at(YESTERDAY, 22)), page_view("evt_today", NOW)))

    # Then nothing is marked (the scheduled days cover both)
    assert marks(db) == []


def test_a_lead_deleted_by_email_leaves_its_old_days_new_leads(runtime, db):
    # Given a lead captured on an older day, rolled up
    runtime.clock = lambda: at(OLDER, 11)
    collect(api_event("collect/lead_capture_json"))
    runtime.clock = lambda: NOW
    backfill(runtime, OLDER)
    assert metric(db, OLDER, "new_leads") == 1

    # When it is deleted by email
    deleted = leads_admin_handler.lambda_handler(
        api_event("leads_admin/delete_lead", headers={"x-admin-key": ADMIN_KEY}), FakeContext()
    )
    assert response_json(deleted)["deleted"] is True

    # Then its day is marked, not reported by the monitor, and the next run counts it no more
    assert marks(db) == [OLDER]
    unscheduled = run_rollups(runtime, from_day=TODAY, to_day=TODAY, trigger=Trigger.INVOKE)
    assert unscheduled.discrepancies == ()
    report = scheduled(runtime)
    # (the lead was all that day had, so the day's row goes)
    assert metric(db, OLDER, "new_leads") is None
    assert report["discrepancies"] == [] and marks(db) == []


def test_a_lead_deleted_after_its_day_left_raw_retention_leaves_that_rollup_as_it_is(runtime, db):
    # Given a lead first captured on a day now past raw retention, whose rollup counts it
    long_ago = FIRST_KEPT - timedelta(days=10)
    runtime.clock = lambda: at(long_ago, 11)
    collect(api_event("collect/lead_capture_json"))
    backfill(runtime, long_ago)
    runtime.clock = lambda: NOW

    # When it is deleted by email, and the schedule runs
    leads_admin_handler.lambda_handler(
        api_event("leads_admin/delete_lead", headers={"x-admin-key": ADMIN_KEY}), FakeContext()
    )
    assert marks(db) == [long_ago]
    report = scheduled(runtime)

    # Then the mark is dropped and the rollup, the only record left, still counts the lead
    assert report["dirtyDays"] == [] and marks(db) == []
    assert metric(db, long_ago, "new_leads") == 1


def test_the_retention_purge_marks_nothing_and_expired_rollups_stay(runtime, db):
    # Given a day just past raw retention with its raw data and its rollup
    expired = FIRST_KEPT - timedelta(days=1)
    runtime.clock = lambda: at(expired, 10)
    collect(beacon(page_view("evt_expired", at(expired, 10))))
    backfill(runtime, expired)
    runtime.clock = lambda: NOW

    # When the purge removes the raw data, and the schedule runs
    purge(runtime)
    assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)
    scheduled(runtime)

    # Then nothing was marked and the rollup still counts the page view
    assert marks(db) == []
    assert metric(db, expired, "total_page_views") == 1


# --------------------------------------------------------------------------- the monitor and the status


def test_the_monitor_leaves_dirty_days_alone_and_still_reports_others(runtime, db):
    # Given two older days rolled up; one gets a late scan, the other a damaged row
    raw_data.scan_completed(db, "tenant-late", at(OLDER, 9))
    raw_data.scan_completed(db, "tenant-late", at(OLDER + timedelta(days=1), 9))
    backfill(runtime, OLDER, OLDER + timedelta(days=1))
    deliver(scan(at(OLDER, 15), "job-late"))
    db.execute(
        "UPDATE service_usage_rollups SET scans_completed = 7 WHERE day = %s", (OLDER + timedelta(days=1),)
    )

    # When a run that recomputes neither checks
    report = run_rollups(runtime, from_day=TODAY, to_day=TODAY, trigger=Trigger.INVOKE)

    # Then only the damaged day is reported: the dirty one waits for its recompute
    assert [(d.day, d.metric, d.raw, d.rolled_up) for d in report.discrepancies] == [
        (OLDER + timedelta(days=1), "scans_completed", 1, 7)
    ]


def test_the_cli_runs_dirty_days_and_the_status_shows_what_waits(runtime, db, capsys):
    # Given two late days
    for day in (OLDER, OLDER + timedelta(days=1)):
        deliver(scan(at(day), f"job-{day}"))

    # When the status is shown
    assert main(["rollups-status"]) == 0
    assert "dirty days: 2 waiting, the oldest 2026-01-20; the first marked at 2026-02-14 09:30:00" in (
        capsys.readouterr().out
    )

    # And rollups-run runs what the schedule runs
    assert main(["rollups-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["dirtyDays"] == ["2026-01-20", "2026-01-21"]
    assert main(["rollups-status"]) == 0
    assert "dirty days: none waiting" in capsys.readouterr().out


# --------------------------------------------------------------------------- migration 0014


def test_0014_recomputes_every_retained_day_of_a_database_that_rolled_up_before(database_url):
    # Given a database through 0009 that has rolled up, and a new one
    used = create_database(database_url, f"funnel_0009_used_{uuid.uuid4().hex[:10]}")
    fresh = create_database(database_url, f"funnel_0009_fresh_{uuid.uuid4().hex[:10]}")
    with psycopg.connect(used, autocommit=True) as conn:
        apply_migrations(conn, through=9)
        conn.execute(
            "INSERT INTO rollup_runs (trigger, from_day, to_day, status) "
            "VALUES ('schedule', %s, %s, 'succeeded')",
            (TODAY, TODAY),
        )
        # When 0014 is applied
        assert apply_migrations(conn, through=14) == ["0014_rollup_dirty_days"]
        # Then nothing has settled yet: the next run marks every retained day
        assert conn.execute("SELECT settled_through FROM rollup_settled").fetchall() == [(None,)]
    with psycopg.connect(fresh, autocommit=True) as conn:
        apply_migrations(conn)
        # And a new database has settled the days before yesterday an hour ago
        assert conn.execute(
            "SELECT settled_through = ((now() - interval '1 hour') AT TIME ZONE 'UTC')::date - 2 "
            "FROM rollup_settled"
        ).fetchone() == (True,)
