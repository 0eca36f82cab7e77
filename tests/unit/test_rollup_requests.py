"""The rollup function's input and the days a run covers, without a database: the
scheduled event, operator ranges and their limits, and the monitor's settled days."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from funnel.readmodel.rollups import Trigger, days_between, monitor_window, plan_from_event, scheduled_range
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
