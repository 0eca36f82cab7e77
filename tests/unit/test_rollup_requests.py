"""The rollup function's input and the days a run covers, without a database: the
scheduled event, operator ranges and their limits, and the monitor's settled days."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from funnel.capture.sessions import MAX_CLIENT_DELAY
from funnel.platform.dirty_days import days_between
from funnel.readmodel.day import day_bounds
from funnel.readmodel.monitor import monitor_window
from funnel.readmodel.requests import plan_from_event, scheduled_range
from funnel.readmodel.runs import Trigger
from funnel.readmodel.schemas import RollupRange

TODAY = date(2026, 2, 14)


def plan(event: object, batch_days: int = 7):  # type: ignore[no-untyped-def]
    return plan_from_event(event, today=TODAY, batch_days=batch_days)


def test_the_schedules_input_is_today_and_the_batch_days_before_it():
    # Given the template's Input, and ROLLUP_BATCH_DAYS 7 or 1
    # Then the run covers today and that many days before
    scheduled = plan({"trigger": "schedule"})
    assert (scheduled.from_day, scheduled.to_day, scheduled.trigger) == (
        date(2026, 2, 7),
        TODAY,
        Trigger.SCHEDULE,
    )
    assert (scheduled.property_id, scheduled.dry_run) == (None, False)
    assert scheduled_range(TODAY, 1) == (date(2026, 2, 13), TODAY)


def test_an_eventbridge_scheduled_event_without_input_reads_as_the_schedule():
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}, "version": "0"}
    assert plan(event).trigger is Trigger.SCHEDULE


def test_a_range_is_an_invocation_with_its_options():
    ranged = plan({"from": "2026-01-01", "to": "2026-01-31", "propertyId": "docs", "dryRun": True})
    assert (ranged.from_day, ranged.to_day, ranged.property_id, ranged.dry_run, ranged.trigger) == (
        date(2026, 1, 1),
        date(2026, 1, 31),
        "docs",
        True,
        Trigger.INVOKE,
    )


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("2026-02-14", "2026-02-14"),  # today alone
        ("2025-02-14", "2026-02-14"),  # 366 days, the most
        ("2024-02-29", "2024-03-01"),  # a leap day
    ],
)
def test_ranges_up_to_a_year_ending_today_at_the_latest_are_allowed(first, last):
    RollupRange.model_validate({"from": first, "to": last}, context={"today": TODAY})


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"from": "2026-02-10", "to": "2026-02-09"}, "from must not be after to"),
        ({"from": "2025-02-12", "to": "2026-02-13"}, "a run covers at most 366 days"),  # 367 days
        ({"from": "2026-02-14", "to": "2026-02-15"}, "to must not be after today (2026-02-14, UTC)"),
        ({"from": "2026-02-10T00:00:00Z", "to": "2026-02-11"}, "a UTC day as YYYY-MM-DD"),
        ({"from": "2026-02-29", "to": "2026-03-01"}, "month"),
        ({"from": date(2026, 2, 10), "to": "2026-02-11"}, "a UTC day as YYYY-MM-DD"),
        ({"from": "2026-02-10", "to": "2026-02-11", "dryRun": 1}, "valid boolean"),
        ({"from": "2026-02-10", "to": "2026-02-11", "extra": 1}, "Extra inputs are not permitted"),
        ({"trigger": "schedule", "dryRun": True}, "Extra inputs are not permitted"),
        ({"trigger": "manual"}, "Input should be 'schedule'"),
        (["2026-02-10", "2026-02-11"], "valid dictionary"),
        ("schedule", "valid dictionary"),
    ],
)
def test_anything_else_is_refused_with_the_reason(event, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        plan(event)


def test_days_between_includes_both_ends():
    assert days_between(date(2026, 2, 27), date(2026, 3, 2)) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
        date(2026, 3, 2),
    ]


@pytest.mark.parametrize(
    ("now", "last_settled"),
    [
        # a beacon arriving now may be dated from 02-13 09:30 on: 02-13 still moves
        (datetime(2026, 2, 14, 9, 30, tzinfo=UTC), date(2026, 2, 12)),
        (datetime(2026, 2, 14, 0, 0, tzinfo=UTC), date(2026, 2, 12)),
        (datetime(2026, 2, 13, 23, 59, 59, tzinfo=UTC), date(2026, 2, 11)),
    ],
)
def test_the_monitor_checks_kept_days_up_to_the_last_settled_one(now, last_settled):
    first_kept = date(2025, 11, 16)
    assert monitor_window(now, first_kept) == (first_kept, last_settled)
    assert monitor_window(now, last_settled + timedelta(days=1)) is None


@pytest.mark.parametrize(
    ("today", "batch_days", "first"),
    [
        (TODAY, 0, TODAY),  # today alone
        (date(2028, 3, 1), 1, date(2028, 2, 29)),  # a leap day
        (date(2027, 3, 1), 1, date(2027, 2, 28)),
        (date(2027, 1, 3), 7, date(2026, 12, 27)),  # across New Year
    ],
)
def test_a_scheduled_run_covers_today_and_the_batch_days_before_it_across_any_boundary(
    today, batch_days, first
):
    assert scheduled_range(today, batch_days) == (first, today)
    scheduled = plan_from_event({"trigger": "schedule"}, today=today, batch_days=batch_days)
    assert (scheduled.from_day, scheduled.to_day) == (first, today)


def test_an_eventbridge_event_that_is_not_the_schedule_is_refused():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        plan({"source": "aws.events", "detail-type": "Object Created", "detail": {}})


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        (date(2028, 2, 29), datetime(2028, 2, 29, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC)),
        (date(2026, 12, 31), datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        (date(2026, 2, 28), datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
    ],
)
def test_a_day_is_the_utc_instants_from_its_midnight_to_the_next(day, start, end):
    bounds = day_bounds(day)
    assert bounds == (start, end)
    assert bounds[1] - bounds[0] == timedelta(days=1)
    # its last instant is in it, the next midnight is the next day's
    assert bounds[0] <= end - timedelta(microseconds=1) < bounds[1] == day_bounds(day + timedelta(days=1))[0]


@pytest.mark.parametrize(
    ("now", "last_settled"),
    [
        # a beacon may be dated MAX_CLIENT_DELAY before it arrives: on both sides of its edge
        (datetime(2026, 2, 15, 0, 0, tzinfo=UTC) - timedelta(microseconds=1), date(2026, 2, 12)),
        (datetime(2026, 2, 15, 0, 0, tzinfo=UTC), date(2026, 2, 13)),
        # across a leap day and a month end
        (datetime(2028, 3, 2, 0, 0, tzinfo=UTC), date(2028, 2, 29)),
        (datetime(2028, 3, 1, 23, 59, 59, tzinfo=UTC), date(2028, 2, 28)),
        # a clock in another time zone: its UTC instant counts
        (datetime(2026, 2, 15, 1, 0, tzinfo=timezone(timedelta(hours=1))), date(2026, 2, 13)),
        (datetime(2026, 2, 15, 0, 59, 59, tzinfo=timezone(timedelta(hours=1))), date(2026, 2, 12)),
    ],
)
def test_the_last_settled_day_moves_at_utc_midnight_a_client_delay_later(now, last_settled):
    assert timedelta(hours=24) == MAX_CLIENT_DELAY
    assert monitor_window(now, date(2025, 11, 16)) == (date(2025, 11, 16), last_settled)


def test_the_monitor_checks_one_day_when_retention_keeps_only_the_last_settled_one():
    now = datetime(2026, 2, 14, 9, 30, tzinfo=UTC)
    assert monitor_window(now, date(2026, 2, 12)) == (date(2026, 2, 12), date(2026, 2, 12))
    assert monitor_window(now, date(2026, 2, 13)) is None
