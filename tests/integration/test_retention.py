"""The retention purge on real PostgreSQL, with the runtime's clock pinned: what goes at
each cutoff and what stays just inside it, orphaned sessions and visitors, what is
never purged by age, dry runs, idempotency, batches, the time budget, and the three doors
(the layer, the function and ``python -m funnel_ops purge``)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
import yaml
from pydantic import ValidationError

import retention_handler
from funnel.platform.runtime import Runtime, get_runtime
from funnel.privacy.retention import Horizon, months_before, purge
from funnel_ops.cli import main
from tests.conftest import REPO, FakeContext, load_event

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 15, 3, 15, tzinfo=UTC)
# The first kept days at NOW: 90 days, 24 months, and yesterday's salt.
RAW = datetime(2026, 3, 17, tzinfo=UTC)
ROLLUP = datetime(2024, 6, 15, tzinfo=UTC)
SALT = date(2026, 6, 14)
JUST = timedelta(microseconds=1)
LONG_AGO = datetime(2023, 1, 10, tzinfo=UTC)
TABLES = [
    "visitor_salts",
    "events",
    "web_traffic_logs",
    "tenant_events",
    "form_submissions",
    "sessions",
    "visitors",
    "ingest_counters",
    "daily_metric_rollups",
    "visitor_sketch_blocks",
    "daily_breakdown_rollups",
    "daily_ingest_rollups",
    "service_usage_rollups",
    "rollup_runs",
    "audit_log",
]


@pytest.fixture
def runtime(lambda_env: pytest.MonkeyPatch) -> Runtime:
    """The functions' runtime (what the handler and the CLI use), its clock pinned to NOW."""
    pinned = get_runtime()
    pinned.clock = lambda: NOW
    return pinned


# --------------------------------------------------------------------------- data


def add_visitor(db: psycopg.Connection, last_seen: datetime) -> uuid.UUID:
    return db.execute(
        "INSERT INTO visitors (property_id, visitor_key, first_seen_at, last_seen_at) "
        "VALUES ('default', %s, %s, %s) RETURNING id",
        (f"v:{uuid.uuid4().hex}", min(last_seen, LONG_AGO), last_seen),
    ).fetchone()[0]


def add_session(db: psycopg.Connection, visitor_id: uuid.UUID, last_seen: datetime) -> uuid.UUID:
    session_id = uuid.uuid4()
    db.execute(
        "INSERT INTO sessions (id, property_id, visitor_id, started_at, last_seen_at, traffic_source, "
        "device_type) VALUES (%s, 'default', %s, %s, %s, 'direct', 'desktop')",
        (session_id, visitor_id, last_seen - timedelta(minutes=5), last_seen),
    )
    return session_id


def add_event(
    db: psycopg.Connection,
    session_id: uuid.UUID,
    occurred_at: datetime,
    *,
    page_view_at: datetime | None = None,
) -> uuid.UUID:
    """A page_view event and its web_traffic_logs row (stamped ``page_view_at``, by
    default the event's time)."""
    visitor_id = db.execute("SELECT visitor_id FROM sessions WHERE id = %s", (session_id,)).fetchone()[0]
    event_id = uuid.uuid4()
    db.execute(
        "INSERT INTO events (id, property_id, visitor_id, session_id, event_type, client_event_id, path, "
        "occurred_at) VALUES (%s, 'default', %s, %s, 'page_view', %s, '/', %s)",
        (event_id, visitor_id, session_id, event_id.hex, occurred_at),
    )
    db.execute(
        "INSERT INTO web_traffic_logs (id, event_id, property_id, visitor_id, session_id, occurred_at, path, "
        "traffic_source, device_type) VALUES (%s, %s, 'default', %s, %s, %s, '/', 'direct', 'desktop')",
        (uuid.uuid4(), event_id, visitor_id, session_id, page_view_at or occurred_at),
    )
    return event_id


def add_visit(db: psycopg.Connection, at: datetime, *, events: int = 1) -> tuple[uuid.UUID, uuid.UUID]:
    """A visitor with one session and its events, all at ``at``."""
    visitor_id = add_visitor(db, at)
    session_id = add_session(db, visitor_id, at)
    for _ in range(events):
        add_event(db, session_id, at)
    return visitor_id, session_id


def add_tenant_event(db: psycopg.Connection, occurred_at: datetime) -> uuid.UUID:
    event_id = uuid.uuid4()
    db.execute(
        "INSERT INTO tenant_events (id, tenant_id, event_type, subject_id, occurred_at) "
        "VALUES (%s, 'tenant-1', 'scan.completed', %s, %s)",
        (event_id, event_id.hex, occurred_at),
    )
    db.execute(
        "INSERT INTO webhook_deliveries (webhook_id, body_sha256, event_id) VALUES (%s, '\\x00', %s)",
        (f"msg_{event_id.hex}", event_id),
    )
    return event_id


def add_form_submission(db: psycopg.Connection, at: datetime) -> None:
    db.execute(
        "INSERT INTO form_submissions (id, property_id, form_id, payload, submitted_at) "
        "VALUES (%s, 'default', 'contact', '{\"company\": \"Acme\"}', %s)",
        (uuid.uuid4(), at),
    )


def add_counter(db: psycopg.Connection, day: date) -> None:
    db.execute(
        "INSERT INTO ingest_counters (property_id, day, kind, outcome, count) "
        "VALUES ('default', %s, 'event', 'accepted', 7)",
        (day,),
    )


def add_rollups(db: psycopg.Connection, day: date) -> None:
    """A day's row in each rollup table, and a sketch block starting that day."""
    (row_id,) = db.execute(
        "INSERT INTO daily_metric_rollups (property_id, day) VALUES ('default', %s) RETURNING id", (day,)
    ).fetchone()
    db.execute(
        "INSERT INTO visitor_sketch_blocks (level, first_day, property_id, last_day, day_rows, day_versions, "
        "generated_at) VALUES (1, %s, 'default', %s, ARRAY[%s::uuid], ARRAY[now()], now())",
        (day, day + timedelta(days=1), row_id),
    )
    db.execute(
        "INSERT INTO daily_breakdown_rollups (property_id, day, dimension, key, visitors, visitors_sketch, "
        "page_views, generated_at) VALUES ('default', %s, 'page', '/', 1, '\\x00', 1, now())",
        (day,),
    )
    db.execute("INSERT INTO daily_ingest_rollups (property_id, day) VALUES ('default', %s)", (day,))
    db.execute("INSERT INTO service_usage_rollups (tenant_id, day) VALUES ('tenant-1', %s)", (day,))


def add_rollup_run(db: psycopg.Connection, started: datetime, finished: datetime | None) -> None:
    db.execute(
        "INSERT INTO rollup_runs (trigger, from_day, to_day, status, started_at, finished_at) "
        "VALUES ('schedule', %s, %s, %s, %s, %s)",
        (started.date(), started.date(), "running" if finished is None else "succeeded", started, finished),
    )


def add_audit(db: psycopg.Connection, at: datetime) -> None:
    db.execute(
        "INSERT INTO audit_log (occurred_at, actor, action) VALUES (%s, 'admin', 'lead.delete')", (at,)
    )


def add_salt(db: psycopg.Connection, day: date) -> None:
    db.execute("INSERT INTO visitor_salts (day, salt) VALUES (%s, %s)", (day, uuid.uuid4().bytes))


def add_old_lead(db: psycopg.Connection, visitor_id: uuid.UUID, session_id: uuid.UUID) -> uuid.UUID:
    """A lead captured long ago, with everything that is never purged by age, and the form
    submission of its capture (which is)."""
    lead_id = db.execute(
        "INSERT INTO leads (email_normalized, visitor_id, first_captured_at, last_captured_at, created_at, "
        "consent_status) VALUES ('old@example.org', %s, %s, %s, %s, 'granted') RETURNING id",
        (visitor_id, LONG_AGO, LONG_AGO, LONG_AGO),
    ).fetchone()[0]
    db.execute(
        "INSERT INTO consent_records (lead_id, status, source, occurred_at) "
        "VALUES (%s, 'granted', 'form:x', %s)",
        (lead_id, LONG_AGO),
    )
    db.execute("INSERT INTO lead_identities (lead_id, visitor_id) VALUES (%s, %s)", (lead_id, visitor_id))
    db.execute(
        "INSERT INTO form_submissions (id, property_id, lead_id, visitor_id, session_id, form_id, "
        "submitted_at) VALUES (%s, 'default', %s, %s, %s, 'newsletter', %s)",
        (uuid.uuid4(), lead_id, visitor_id, session_id, LONG_AGO),
    )
    db.execute(
        "INSERT INTO tenant_milestones (tenant_id, tenant_created_at, lead_id, first_scan_at, updated_at) "
        "VALUES ('tenant-old', %s, %s, %s, %s)",
        (LONG_AGO, lead_id, LONG_AGO, LONG_AGO),
    )
    return lead_id


def add_edges(db: psycopg.Connection) -> None:
    """One row just outside (purged) and one just inside (kept) each cutoff."""
    add_visit(db, RAW - JUST)  # event, page view, session and visitor all expire
    add_visit(db, RAW)  # all kept
    add_tenant_event(db, RAW - JUST)
    add_tenant_event(db, RAW)
    add_form_submission(db, RAW - JUST)
    add_form_submission(db, RAW)
    add_counter(db, ROLLUP.date() - timedelta(days=1))
    add_counter(db, ROLLUP.date())
    add_rollups(db, ROLLUP.date() - timedelta(days=1))
    add_rollups(db, ROLLUP.date())
    add_rollup_run(db, ROLLUP - timedelta(minutes=5), ROLLUP - JUST)  # finished before: goes
    add_rollup_run(db, ROLLUP - timedelta(minutes=5), ROLLUP)  # finished on the first kept day: stays
    add_audit(db, ROLLUP - JUST)
    add_audit(db, ROLLUP)
    for day in (SALT - timedelta(days=2), SALT - timedelta(days=1), SALT, NOW.date()):
        add_salt(db, day)


EDGE_REPORT = {
    "events": 1,
    "web_traffic_logs": 0,  # the expired page view went with its event
    "tenant_events": 1,
    "form_submissions": 1,
    "sessions": 1,
    "visitors": 1,
    "ingest_counters": 1,
    "daily_metric_rollups": 1,
    "visitor_sketch_blocks": 1,
    "daily_breakdown_rollups": 1,
    "daily_ingest_rollups": 1,
    "service_usage_rollups": 1,
    "rollup_runs": 1,
    "audit_log": 1,
    "visitor_salts": 2,
}


def ids(db: psycopg.Connection, table: str) -> set:
    return {row[0] for row in db.execute(f'SELECT id FROM "{table}"').fetchall()}


# --------------------------------------------------------------------------- cutoffs


def test_rows_just_outside_the_cutoffs_go_and_rows_just_inside_stay(runtime, db):
    # Given one row on each side of each cutoff
    add_edges(db)

    # When the purge runs
    report = purge(runtime)

    # Then exactly the rows before each first kept day went
    assert report.rows == EDGE_REPORT
    assert report.complete is True and report.dry_run is False
    assert report.first_kept_days == {
        Horizon.RAW: RAW.date(),
        Horizon.ROLLUP: ROLLUP.date(),
        Horizon.SALT: SALT,
    }
    assert [row[0] for row in db.execute("SELECT occurred_at FROM events")] == [RAW]
    assert [row[0] for row in db.execute("SELECT occurred_at FROM web_traffic_logs")] == [RAW]
    assert [row[0] for row in db.execute("SELECT last_seen_at FROM sessions")] == [RAW]
    assert [row[0] for row in db.execute("SELECT last_seen_at FROM visitors")] == [RAW]
    assert [row[0] for row in db.execute("SELECT occurred_at FROM tenant_events")] == [RAW]
    assert [row[0] for row in db.execute("SELECT submitted_at FROM form_submissions")] == [RAW]
    assert [row[0] for row in db.execute("SELECT day FROM ingest_counters")] == [ROLLUP.date()]
    for table in (
        "daily_metric_rollups",
        "daily_breakdown_rollups",
        "daily_ingest_rollups",
        "service_usage_rollups",
    ):
        assert [row[0] for row in db.execute(f"SELECT day FROM {table}")] == [ROLLUP.date()]
    assert [row[0] for row in db.execute("SELECT first_day FROM visitor_sketch_blocks")] == [ROLLUP.date()]
    assert [row[0] for row in db.execute("SELECT finished_at FROM rollup_runs")] == [ROLLUP]
    # (the purge's own audit entry is the newest)
    oldest_audit = db.execute("SELECT occurred_at FROM audit_log ORDER BY id LIMIT 1").fetchone()[0]
    assert oldest_audit == ROLLUP
    assert sorted(row[0] for row in db.execute("SELECT day FROM visitor_salts")) == [SALT, NOW.date()]
    # And the expired tenant event's delivery record went with it
    assert db.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0] == 1


SALT_DAY = date(2026, 6, 13)
SALT_ENDS = datetime(2026, 6, 15, tzinfo=UTC)  # 48 hours after SALT_DAY began


@pytest.mark.parametrize(
    ("now", "kept"),
    [(SALT_ENDS - JUST, True), (SALT_ENDS, False)],
    ids=["a microsecond before its 48 hours end", "when its 48 hours end"],
)
def test_a_salt_goes_exactly_48_hours_after_its_day_began(lambda_env, db, now, kept):
    # Given the salt of a day, and the runtime's clock on one side of the end of its 48 hours
    add_salt(db, SALT_DAY)
    add_salt(db, SALT_DAY + timedelta(days=1))
    pinned = get_runtime()
    pinned.clock = lambda: now

    # When the purge runs
    report = purge(pinned)

    # Then the salt is still there just before, and gone from that moment; the next day's stays
    days = sorted(row[0] for row in db.execute("SELECT day FROM visitor_salts"))
    assert days == ([SALT_DAY] if kept else []) + [SALT_DAY + timedelta(days=1)]
    assert report.rows["visitor_salts"] == (0 if kept else 1)


@pytest.mark.parametrize(
    ("now", "kept"),
    [(RAW + timedelta(days=90) - JUST, True), (RAW + timedelta(days=90), False)],
    ids=["a microsecond before its day leaves raw retention", "when it does"],
)
def test_a_form_submission_goes_with_the_raw_data_of_its_day(lambda_env, db, now, kept):
    # Given a form submission (a form's other inputs) made in the last moment of a day
    add_form_submission(db, RAW - JUST)
    pinned = get_runtime()
    pinned.clock = lambda: now

    # When the purge runs on either side of the moment that day leaves the 90 days kept
    purge(pinned)

    # Then it is kept just before and purged from then on, like the events of that day
    assert db.execute("SELECT count(*) FROM form_submissions").fetchone()[0] == (1 if kept else 0)


def test_a_stray_old_page_view_is_purged_on_its_own(runtime, db):
    # Given a kept event whose page view is (inconsistently) stamped before the cutoff
    visitor_id = add_visitor(db, RAW)
    session_id = add_session(db, visitor_id, RAW)
    add_event(db, session_id, RAW, page_view_at=RAW - JUST)

    # When the purge runs
    report = purge(runtime)

    # Then the page view goes and its event stays
    assert report.rows["web_traffic_logs"] == 1
    assert db.execute("SELECT count(*) FROM web_traffic_logs").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1


def test_a_rollup_run_that_never_finished_goes_by_its_start(runtime, db):
    # Given runs that died while running, one on each side of the rollup cutoff
    add_rollup_run(db, ROLLUP - JUST, None)
    add_rollup_run(db, ROLLUP, None)

    # When the purge runs
    report = purge(runtime)

    # Then the older one went
    assert report.rows["rollup_runs"] == 1
    assert [row[0] for row in db.execute("SELECT started_at FROM rollup_runs")] == [ROLLUP]


# ------------------------------------------------------------------------ orphans


def test_sessions_go_only_when_old_and_left_without_events(runtime, db):
    # Given a visitor seen recently with several sessions
    visitor_id = add_visitor(db, NOW)
    add_session(db, visitor_id, RAW - JUST)  # old, no events
    old_expiring = add_session(db, visitor_id, RAW - JUST)  # old, only old events
    add_event(db, old_expiring, RAW - timedelta(days=3))
    old_with_new_event = add_session(db, visitor_id, RAW - JUST)  # old, but a kept event
    add_event(db, old_with_new_event, RAW)
    recent_empty = add_session(db, visitor_id, RAW)  # recent, no events

    # When the purge runs
    report = purge(runtime)

    # Then only the old sessions with nothing left went
    assert ids(db, "sessions") == {old_with_new_event, recent_empty}
    assert report.rows["sessions"] == 2
    assert ids(db, "visitors") == {visitor_id}


def test_visitors_go_only_when_old_and_left_without_sessions(runtime, db):
    # Given visitors in every situation
    old_alone = add_visitor(db, RAW - JUST)  # old, never had a session
    old_expiring, _ = add_visit(db, RAW - timedelta(days=10))  # old, its only visit expires
    old_with_recent_session = add_visitor(db, RAW - JUST)
    add_session(db, old_with_recent_session, RAW)
    old_with_kept_event = add_visitor(db, RAW - JUST)
    add_event(db, add_session(db, old_with_kept_event, RAW - JUST), RAW)
    recent_alone = add_visitor(db, RAW)

    # When the purge runs
    report = purge(runtime)

    # Then only the old ones with no session left went
    assert ids(db, "visitors") == {old_with_recent_session, old_with_kept_event, recent_alone}
    assert report.rows["visitors"] == 2
    assert old_alone not in ids(db, "visitors") and old_expiring not in ids(db, "visitors")


def test_leads_consent_and_milestones_are_never_purged_by_age(runtime, db):
    # Given a lead captured years ago from a visitor whose data has all expired
    visitor_id, session_id = add_visit(db, LONG_AGO)
    lead_id = add_old_lead(db, visitor_id, session_id)

    # When the purge runs
    report = purge(runtime)

    # Then the raw data went, with the form submission (its other fields) of the capture
    assert report.rows["visitors"] == 1 and report.rows["sessions"] == 1 and report.rows["events"] == 1
    assert report.rows["form_submissions"] == 1
    # And the lead, its consent history and the tenant's milestones stay
    assert ids(db, "leads") == {lead_id}
    assert db.execute("SELECT lead_id, status FROM consent_records").fetchall() == [(lead_id, "granted")]
    assert db.execute("SELECT lead_id, first_scan_at FROM tenant_milestones").fetchall() == [
        (lead_id, LONG_AGO)
    ]
    # And only the links to the purged visitor are gone
    assert db.execute("SELECT visitor_id, consent_status FROM leads").fetchall() == [(None, "granted")]
    assert db.execute("SELECT count(*) FROM lead_identities").fetchone()[0] == 0


# --------------------------------------------------------------------------- runs


def test_a_dry_run_counts_what_a_run_deletes_and_writes_nothing(runtime, db, row_counts):
    # Given expired rows of every kind, orphans included
    add_edges(db)
    visitor_id, session_id = add_visit(db, LONG_AGO, events=3)
    add_old_lead(db, visitor_id, session_id)
    add_session(db, add_visitor(db, RAW - JUST), RAW - JUST)
    before = row_counts()

    # When a dry run counts
    dry = purge(runtime, dry_run=True)

    # Then nothing is written, not even an audit entry
    assert row_counts() == before
    assert dry.dry_run is True and dry.complete is True
    # And a real run deletes exactly what it counted
    real = purge(runtime)
    assert real.rows == dry.rows
    assert dry.rows == {**EDGE_REPORT, "events": 4, "sessions": 3, "visitors": 3, "form_submissions": 2}


def test_a_second_run_removes_nothing(runtime, db, row_counts):
    # Given a purged database
    add_edges(db)
    visitor_id, session_id = add_visit(db, LONG_AGO)
    add_old_lead(db, visitor_id, session_id)
    purge(runtime)
    before = row_counts()

    # When the purge runs again
    again = purge(runtime)

    # Then it deletes nothing (only its audit entry is new)
    assert again.rows == dict.fromkeys(TABLES, 0)
    assert row_counts() == {**before, "audit_log": before["audit_log"] + 1}


def test_a_run_is_audited_with_its_report(runtime, db):
    add_edges(db)
    report = purge(runtime, request_id="req-1")
    entries = db.execute(
        "SELECT actor, subject_type, subject_id, request_id, details "
        "FROM audit_log WHERE action = 'retention.purge'"
    ).fetchall()
    assert entries == [("system", None, None, "req-1", report.as_dict())]
    assert report.as_dict() == {
        "dryRun": False,
        "complete": True,
        "firstKeptDays": {"raw": "2026-03-17", "rollup": "2024-06-15", "salt": "2026-06-14"},
        "rows": EDGE_REPORT,
    }


class TestBatches:
    @pytest.fixture
    def tiny_batches(self, lambda_env: pytest.MonkeyPatch, runtime: Runtime) -> Runtime:
        lambda_env.setenv("PURGE_BATCH_SIZE", "2")
        from funnel.platform.runtime import reset_runtime

        reset_runtime()
        pinned = get_runtime()
        pinned.clock = lambda: NOW
        return pinned

    def test_every_expired_row_goes_in_batches_of_two(self, tiny_batches, db):
        # Given 5 expired events in one session, 4 expired sessions and 3 salts
        visitor_id = add_visitor(db, RAW - JUST)
        session_id = add_session(db, visitor_id, RAW - JUST)
        for hour in range(5):
            add_event(db, session_id, RAW - timedelta(hours=hour + 1))
        for _ in range(3):
            add_session(db, visitor_id, RAW - JUST)
        for days in (2, 3, 4):
            add_salt(db, SALT - timedelta(days=days))
        batches = []

        # When the purge runs with a batch size of 2
        report = purge(tiny_batches, time_left_ms=lambda: batches.append(1) or 900_000)

        # Then every expired row went, over several batches per table
        assert report.rows == {
            **dict.fromkeys(TABLES, 0),
            "events": 5,
            "sessions": 4,
            "visitors": 1,
            "visitor_salts": 3,
        }
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        # events 2+2+1, sessions 2+2+0, salts 2+1, and one short batch for each other table
        assert len(batches) == 3 + 3 + 2 + 12

    def test_a_run_out_of_time_stops_between_batches_and_the_next_one_finishes(self, tiny_batches, db):
        # Given 5 expired events and a caller with time for the salts and two batches
        visitor_id = add_visitor(db, RAW - JUST)
        session_id = add_session(db, visitor_id, RAW - JUST)
        for hour in range(5):
            add_event(db, session_id, RAW - timedelta(hours=hour + 1))
        budget = iter([900_000, 900_000, 900_000, 0])

        # When the purge runs
        first = purge(tiny_batches, time_left_ms=lambda: next(budget, 0))

        # Then it reports what it did (the salts always first) and that it did not finish
        assert first.complete is False
        assert first.rows == {"visitor_salts": 0, "events": 4}
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1
        # And the next run finishes the job
        second = purge(tiny_batches)
        assert second.complete is True
        assert (second.rows["events"], second.rows["sessions"], second.rows["visitors"]) == (1, 1, 1)


# --------------------------------------------------------------------------- doors


class IntrinsicsIgnored(yaml.SafeLoader):
    """Reads template.yaml, with CloudFormation's !Ref, !If... as None."""


IntrinsicsIgnored.add_multi_constructor("!", lambda loader, suffix, node: None)


class RetentionContext(FakeContext):
    """The purge function's context: 15 minutes to run (its Timeout is 900)."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


@pytest.fixture
def long_context() -> RetentionContext:
    return RetentionContext()


def test_the_scheduled_function_purges(runtime, db, long_context):
    # Given expired rows
    add_edges(db)

    # When the schedule's event arrives (the EventBridge envelope)
    report = retention_handler.lambda_handler(load_event("retention/scheduled.json"), long_context)

    # Then it purged, and returned and audited its report
    assert report["dryRun"] is False and report["complete"] is True and report["rows"] == EDGE_REPORT
    audit = db.execute(
        "SELECT request_id, details FROM audit_log WHERE action = 'retention.purge'"
    ).fetchall()
    assert audit == [(long_context.aws_request_id, report)]


def test_a_function_short_of_time_stops_before_starting_a_batch(runtime, db, context, row_counts):
    # Given expired rows, and less time left than one statement timeout and a margin
    add_edges(db)
    before = row_counts()

    # When the function runs
    report = retention_handler.lambda_handler(load_event("retention/scheduled.json"), context)

    # Then it deletes nothing and says it did not finish (the next run will)
    assert report["complete"] is False
    assert row_counts() == {**before, "audit_log": before["audit_log"] + 1}


@pytest.mark.parametrize(("time_left", "complete"), [(10_000, False), (10_001, True)])
def test_a_batch_starts_only_with_more_than_a_statement_timeout_and_5_s_left(
    runtime, db, time_left, complete
):
    # Given an expired event
    add_event(db, add_session(db, add_visitor(db, RAW - JUST), RAW - JUST), RAW - JUST)

    # When a purge has exactly, or a millisecond more than, the 5 s statement timeout and 5 s in hand
    report = purge(runtime, time_left_ms=lambda: time_left)

    # Then only the latter starts (and finishes)
    assert report.complete is complete
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == (0 if complete else 1)


def test_the_templates_schedule_input_is_a_real_run(runtime, db, long_context):
    # Given the Input the template's schedule sends
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=IntrinsicsIgnored)  # noqa: S506
    schedule = template["Resources"]["RetentionPurgeFunction"]["Properties"]["Events"]["Daily"]
    event = json.loads(schedule["Properties"]["Input"])
    add_edges(db)

    # When it reaches the function
    report = retention_handler.lambda_handler(event, long_context)

    # Then it is a real purge
    assert event == {"dryRun": False}
    assert report["rows"] == EDGE_REPORT


def test_the_dry_run_event_counts_and_writes_nothing(runtime, db, long_context, row_counts):
    add_edges(db)
    before = row_counts()
    report = retention_handler.lambda_handler(load_event("retention/dry_run.json"), long_context)
    assert report["dryRun"] is True and report["rows"] == EDGE_REPORT
    assert row_counts() == before


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize(
    "event", [{"dry_run": True}, {"dryRun": "yes"}, {"dryRun": 1}, {"source": "aws.events"}]
)
def test_an_unexpected_event_fails_and_deletes_nothing(event, runtime, db, context, row_counts):
    # A typo must not start a real purge
    add_edges(db)
    before = row_counts()
    with pytest.raises(ValidationError):
        retention_handler.lambda_handler(event, context)
    assert row_counts() == before


def test_the_cli_dry_run_prints_the_report_and_the_cli_run_purges(runtime, db, row_counts, capsys):
    # Given expired rows
    add_edges(db)
    before = row_counts()

    # When an operator runs `python -m funnel_ops purge --dry-run`
    assert main(["purge", "--dry-run"]) == 0

    # Then it prints the report and changes nothing
    printed = json.loads(capsys.readouterr().out)
    assert printed["dryRun"] is True and printed["rows"] == EDGE_REPORT
    assert row_counts() == before

    # And `python -m funnel_ops purge` deletes the same rows
    assert main(["purge"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == EDGE_REPORT
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 6, 15), 24, date(2024, 6, 15)),
        (date(2026, 3, 31), 1, date(2026, 2, 28)),
        (date(2026, 2, 28), 24, date(2024, 2, 28)),
        (date(2024, 2, 29), 12, date(2023, 2, 28)),
        (date(2026, 1, 15), 1, date(2025, 12, 15)),
    ],
)
def test_months_before_clamps_to_the_end_of_shorter_months(day, months, expected):
    assert months_before(day, months) == expected
