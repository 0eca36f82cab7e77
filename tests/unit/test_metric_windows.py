"""The metrics API's window and delta maths (``funnel.metrics.windows``) on a pinned clock,
without PostgreSQL: each limit on both sides of its edge, month ends, leap years, and the
first and last instant of a UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from funnel.metrics.schemas import Metric, Window
from funnel.metrics.windows import (
    ACTIVE_DAYS,
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    NOW_WINDOW_SECONDS,
    active_from,
    compared,
    comparison_window,
    delta,
    now_bounds,
    period_window,
    ratio,
    resolve_window,
    utc_today,
    window_bounds,
)
from funnel.platform.errors import MalformedRequest, ValidationFailed

# The pinned clock: the first and the last instant of 2028-02-29, a leap day.
FIRST_INSTANT = datetime(2028, 2, 29, 0, 0, 0, tzinfo=UTC)
LAST_INSTANT = datetime(2028, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)
TODAY = date(2028, 2, 29)
YESTERDAY = date(2028, 2, 28)


def refused(start: date | None, end: date | None, today: date = TODAY) -> list[tuple[str, str]]:
    """The (parameter, type) of each problem ``resolve_window`` reports."""
    with pytest.raises(ValidationFailed) as failure:
        resolve_window(start, end, today)
    return [(problem["loc"], problem["type"]) for problem in failure.value.details]


# --- today ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "today"),
    [
        (FIRST_INSTANT, TODAY),
        (LAST_INSTANT, TODAY),
        (FIRST_INSTANT - timedelta(microseconds=1), YESTERDAY),
        (LAST_INSTANT + timedelta(microseconds=1), date(2028, 3, 1)),
        # the same instants on clocks in other time zones: the day is the UTC one
        (datetime(2028, 2, 29, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))), TODAY),
        (datetime(2028, 2, 29, 5, 29, 59, tzinfo=timezone(timedelta(hours=5, minutes=30))), YESTERDAY),
        (datetime(2028, 2, 28, 19, 0, tzinfo=timezone(timedelta(hours=-5))), TODAY),
        (datetime(2028, 2, 28, 18, 59, 59, tzinfo=timezone(timedelta(hours=-5))), YESTERDAY),
    ],
)
def test_today_is_the_utc_day_of_the_clocks_instant(now, today):
    assert utc_today(now) == today


def test_today_may_end_a_window_from_its_first_instant_to_its_last_and_tomorrow_may_not():
    # Given the clock at the first and at the last instant of the day
    for now in (FIRST_INSTANT, LAST_INSTANT):
        # When a window ends today, Then it is taken; one ending tomorrow is not
        assert resolve_window(TODAY, TODAY, utc_today(now)).end == TODAY
        assert refused(TODAY, TODAY + timedelta(days=1), utc_today(now)) == [("to", "date_in_future")]
    # And a microsecond before the day starts, today is still tomorrow
    assert refused(TODAY, TODAY, utc_today(FIRST_INSTANT - timedelta(microseconds=1))) == [
        ("from", "date_in_future"),
        ("to", "date_in_future"),
    ]


# --- periods ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "period", "first", "last"),
    [
        # the leap day itself
        (TODAY, "today", TODAY, TODAY),
        (TODAY, "7d", date(2028, 2, 22), YESTERDAY),
        (TODAY, "month", date(2028, 2, 1), TODAY),
        (TODAY, "last_month", date(2028, 1, 1), date(2028, 1, 31)),
        # the day after it: February had 29 days
        (date(2028, 3, 1), "last_month", date(2028, 2, 1), TODAY),
        (date(2028, 3, 1), "7d", date(2028, 2, 23), TODAY),
        (date(2028, 3, 1), "30d", date(2028, 1, 31), TODAY),
        (date(2028, 3, 1), "90d", date(2027, 12, 2), TODAY),
        # and in a common year, 28
        (date(2027, 3, 1), "last_month", date(2027, 2, 1), date(2027, 2, 28)),
        (date(2027, 3, 1), "90d", date(2026, 12, 1), date(2027, 2, 28)),
        # the first and the last day of a month
        (date(2028, 1, 1), "month", date(2028, 1, 1), date(2028, 1, 1)),
        (date(2028, 1, 31), "month", date(2028, 1, 1), date(2028, 1, 31)),
        (date(2028, 1, 1), "last_month", date(2027, 12, 1), date(2027, 12, 31)),
        (date(2028, 1, 31), "last_month", date(2027, 12, 1), date(2027, 12, 31)),
        (date(2028, 1, 1), "today", date(2028, 1, 1), date(2028, 1, 1)),
        (date(2028, 1, 1), "7d", date(2027, 12, 25), date(2027, 12, 31)),
        # the first of a month after one of 31 days
        (date(2026, 3, 1), "month", date(2026, 3, 1), date(2026, 3, 1)),
        (date(2026, 3, 31), "month", date(2026, 3, 1), date(2026, 3, 31)),
        (date(2026, 3, 1), "30d", date(2026, 1, 30), date(2026, 2, 28)),
        (date(2026, 4, 1), "last_month", date(2026, 3, 1), date(2026, 3, 31)),
        (date(2026, 5, 1), "last_month", date(2026, 4, 1), date(2026, 4, 30)),
        # 2100 is not a leap year
        (date(2100, 3, 1), "last_month", date(2100, 2, 1), date(2100, 2, 28)),
    ],
)
def test_a_period_is_its_days_on_the_utc_day_given(today, period, first, last):
    assert period_window(period, today) == (first, last)
    window = resolve_window(None, None, today, period)
    assert (window.start, window.end, window.period) == (first, last, period)


@pytest.mark.parametrize(("period", "days"), [("7d", 7), ("30d", 30), ("90d", 90)])
def test_a_period_of_n_days_is_n_complete_days_ending_yesterday(period, days):
    first, last = period_window(period, TODAY)
    assert (last, (last - first).days + 1) == (YESTERDAY, days)


@pytest.mark.parametrize(("start", "end"), [(YESTERDAY, None), (None, YESTERDAY), (YESTERDAY, YESTERDAY)])
def test_a_period_with_a_date_is_malformed(start, end):
    with pytest.raises(MalformedRequest) as malformed:
        resolve_window(start, end, TODAY, "30d")
    assert malformed.value.code == "period_with_dates"
    assert malformed.value.details["with"] == [name for name, day in (("from", start), ("to", end)) if day]


# --- from and to ------------------------------------------------------------------------


def test_without_from_or_to_the_window_is_the_last_complete_days():
    window = resolve_window(None, None, TODAY)
    assert (window.start, window.end, window.days, window.period) == (
        date(2028, 1, 30),
        YESTERDAY,
        DEFAULT_WINDOW_DAYS,
        None,
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (TODAY, TODAY),  # from today: to defaults to today, the partial day
        (YESTERDAY, YESTERDAY),  # from yesterday: to yesterday
        (date(2028, 2, 1), YESTERDAY),  # from earlier: to yesterday, never today
    ],
)
def test_without_to_the_window_ends_yesterday_or_on_from_when_that_is_today(start, end):
    assert resolve_window(start, None, TODAY).end == end


@pytest.mark.parametrize(
    ("end", "start"),
    [
        (TODAY, date(2028, 1, 31)),
        (date(2028, 3, 29), TODAY),  # the leap day is one of the thirty
        (date(2027, 3, 29), date(2027, 2, 28)),
        (date(2028, 1, 29), date(2027, 12, 31)),
    ],
)
def test_without_from_the_window_is_thirty_days_ending_on_to(end, start):
    window = resolve_window(None, end, max(end, TODAY))
    assert (window.start, window.days) == (start, DEFAULT_WINDOW_DAYS)


def test_a_window_of_the_most_days_is_taken_and_one_day_more_is_refused():
    # 2027-03-01..2028-02-29 spans the leap day: 366 days
    longest = resolve_window(date(2027, 3, 1), TODAY, TODAY)
    assert longest.days == MAX_WINDOW_DAYS == 366
    assert refused(date(2027, 2, 28), TODAY) == [("to", "window_too_long")]
    # in a common year 366 days reach back to the same date a year before
    assert resolve_window(date(2026, 2, 28), date(2027, 2, 28), TODAY).days == MAX_WINDOW_DAYS
    assert refused(date(2026, 2, 27), date(2027, 2, 28)) == [("to", "window_too_long")]


def test_a_window_of_one_day_is_taken_and_a_reversed_one_is_refused():
    assert resolve_window(YESTERDAY, YESTERDAY, TODAY).days == 1
    assert refused(TODAY, YESTERDAY) == [("from", "window_reversed")]


def test_every_problem_of_a_window_is_listed_by_parameter():
    tomorrow = TODAY + timedelta(days=1)
    assert refused(tomorrow + timedelta(days=1), tomorrow) == [
        ("from", "date_in_future"),
        ("to", "date_in_future"),
        ("from", "window_reversed"),
    ]
    # a reversed window is not also too long
    assert refused(TODAY, TODAY - timedelta(days=400)) == [("from", "window_reversed")]


# --- derived windows and instants -------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "before_start", "before_end"),
    [
        (TODAY, TODAY, YESTERDAY, YESTERDAY),
        # March 2028 (31 days) is compared with the 31 days before it, leap day included
        (date(2028, 3, 1), date(2028, 3, 31), date(2028, 1, 30), TODAY),
        (date(2027, 3, 1), date(2027, 3, 31), date(2027, 1, 29), date(2027, 2, 28)),
        # a leap year's window is compared with the 366 days before it, across New Year
        (date(2028, 1, 1), date(2028, 12, 31), date(2026, 12, 31), date(2027, 12, 31)),
        (date(2027, 1, 1), date(2027, 12, 31), date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_the_comparison_window_is_as_long_and_ends_the_day_before(start, end, before_start, before_end):
    window = Window(start=start, end=end)
    comparison = comparison_window(window)
    assert (comparison.start, comparison.end) == (before_start, before_end)
    assert comparison.days == window.days


@pytest.mark.parametrize(
    ("start", "end", "start_at", "end_at"),
    [
        (TODAY, TODAY, FIRST_INSTANT, datetime(2028, 3, 1, tzinfo=UTC)),
        (
            date(2027, 12, 31),
            date(2027, 12, 31),
            datetime(2027, 12, 31, tzinfo=UTC),
            datetime(2028, 1, 1, tzinfo=UTC),
        ),
        (
            date(2027, 2, 1),
            date(2027, 2, 28),
            datetime(2027, 2, 1, tzinfo=UTC),
            datetime(2027, 3, 1, tzinfo=UTC),
        ),
    ],
)
def test_a_window_covers_the_instants_from_its_first_midnight_to_the_midnight_after_it(
    start, end, start_at, end_at
):
    bounds = window_bounds(Window(start=start, end=end))
    assert bounds == (start_at, end_at)
    # the last instant of its last day is in it, the next is not (the end is exclusive)
    assert bounds[0] <= end_at - timedelta(microseconds=1) < bounds[1]
    assert all(instant.tzinfo is UTC for instant in bounds)


@pytest.mark.parametrize(
    ("end", "first_active"),
    [
        (date(2028, 3, 29), TODAY),  # 29 days after the leap day: the 30 days start on it
        (date(2028, 3, 30), date(2028, 3, 1)),
        (date(2027, 3, 29), date(2027, 2, 28)),
    ],
)
def test_active_is_the_thirty_days_ending_with_the_window(end, first_active):
    first = active_from(Window(start=date(2026, 1, 1), end=end))
    assert first == first_active
    assert (end - first).days + 1 == ACTIVE_DAYS


def test_visitors_now_counts_the_last_five_minutes_and_clocks_up_to_five_ahead():
    since, until = now_bounds(LAST_INSTANT)
    assert LAST_INSTANT - since == timedelta(seconds=NOW_WINDOW_SECONDS) == timedelta(minutes=5)
    assert until - LAST_INSTANT == timedelta(minutes=5)
    # across midnight: the window of the day's first instant reaches into yesterday
    assert now_bounds(FIRST_INSTANT)[0] == datetime(2028, 2, 28, 23, 55, tzinfo=UTC)


# --- ratios and deltas ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(1, 4, 0.25), (0, 4, 0.0), (5, 0, None), (0, 0, None), (3, 0.0, None), (1, -2, -0.5), (7, 7, 1.0)],
)
def test_a_ratio_is_none_only_when_its_denominator_is_zero(numerator, denominator, expected):
    assert ratio(numerator, denominator) == expected


@pytest.mark.parametrize(
    ("current", "comparison", "expected"),
    [
        (150, 100, 0.5),
        (50, 100, -0.5),
        (100, 100, 0.0),
        (0, 100, -1.0),
        (1, 1, 0.0),
        (5, 0, None),
        (0, 0, None),
        (0.25, 0.0, None),
        (None, 100, None),
        (100, None, None),
        (None, None, None),
        (0.3, 0.2, pytest.approx(0.5)),
        (2, -1, -3.0),
    ],
)
def test_a_delta_is_the_change_over_the_comparison_and_none_without_one(current, comparison, expected):
    assert delta(current, comparison) == expected


def test_compared_metrics_carry_a_delta_only_when_a_comparison_was_asked_for():
    current = {"uniqueVisitors": 120, "leadCaptureRate": None, "formCompletionRate": 0.5}
    assert compared(current, None) == {
        name: Metric(value=value, delta=None) for name, value in current.items()
    }
    previous = {"uniqueVisitors": 100, "leadCaptureRate": 0.1, "formCompletionRate": 0.0}
    assert compared(current, previous) == {
        "uniqueVisitors": Metric(value=120, delta=0.2),
        "leadCaptureRate": Metric(value=None, delta=None),
        "formCompletionRate": Metric(value=0.5, delta=None),
    }
