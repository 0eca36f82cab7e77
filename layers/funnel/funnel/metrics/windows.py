"""The metrics API's window and delta maths, pure: no database, no clock of its own.

A window is inclusive UTC days (``Window``); "today" is the UTC day of the instant the
caller's clock gives (``utc_today``). ``resolve_window`` turns a request's ``from``, ``to``
or ``period`` into a window and refuses impossible ones; ``comparison_window`` is the
window of equal length before it; ``window_bounds`` the instants it covers; ``active_from``
the first day of the "active" window of the funnel (docs/metrics.md#active-tenants);
``now_bounds`` the instants visitors now counts. ``ratio`` and ``delta`` are the formulas'
divisions, None where the denominator is zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

from funnel.capture.sessions import MAX_CLIENT_AHEAD
from funnel.metrics.schemas import Metric, Period, RequestedWindow, Window
from funnel.platform.errors import MalformedRequest, ValidationFailed

MAX_WINDOW_DAYS = 366
DEFAULT_WINDOW_DAYS = 30
# "Active": a completed scan in the 30 days ending with the window (docs/metrics.md#active-tenants).
ACTIVE_DAYS = 30
# Visitors now: those with an event in this many seconds up to the request.
NOW_WINDOW_SECONDS = 300

Number = int | float


def utc_today(now: datetime) -> date:
    """The UTC day of the aware instant ``now``, whatever its time zone."""
    return now.astimezone(UTC).date()


def period_window(period: Period, today: date) -> tuple[date, date]:
    """The inclusive UTC days of a relative ``period`` on ``today``: ``today`` alone;
    ``7d``, ``30d`` and ``90d`` that many complete days ending yesterday; ``month`` from
    its first day to today; ``last_month`` the whole previous month."""
    yesterday = today - timedelta(days=1)
    if period == "today":
        return today, today
    if period == "month":
        return today.replace(day=1), today
    if period == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    return yesterday - timedelta(days=int(period.removesuffix("d")) - 1), yesterday


def resolve_window(
    start: date | None, end: date | None, today: date, period: Period | None = None
) -> RequestedWindow:
    """The window a request asks for, with defaults filled in.

    With ``period`` it is that period (``period_window``), echoed in the window. Without
    ``to`` the window ends yesterday (the last complete UTC day), or on ``from`` when that
    is today; without ``from`` it starts 29 days before its end (30 days).

    Raises
    ------
    MalformedRequest
        ``period_with_dates`` when ``period`` comes with ``from`` or ``to``.
    ValidationFailed
        When a day is after today, ``from`` is after ``to``, or the window is longer than
        ``MAX_WINDOW_DAYS`` days; ``details`` lists each problem by parameter.
    """
    if period is not None:
        given = [name for name, day in (("from", start), ("to", end)) if day is not None]
        if given:
            raise MalformedRequest(
                "period_with_dates",
                details={"period": period, "with": given, "msg": "give period, or from and to, not both"},
            )
        first, last = period_window(period, today)
        return RequestedWindow(start=first, end=last, period=period)
    yesterday = today - timedelta(days=1)
    if end is None:
        end = min(today, max(yesterday, start)) if start is not None else yesterday
    if start is None:
        start = end - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    problems = []
    if start > today:
        problems.append(_problem("from", "must not be after today (UTC)", "date_in_future"))
    if end > today:
        problems.append(_problem("to", "must not be after today (UTC)", "date_in_future"))
    if start > end:
        problems.append(_problem("from", "must not be after to", "window_reversed"))
    elif (end - start).days + 1 > MAX_WINDOW_DAYS:
        problems.append(
            _problem("to", f"the window must not be longer than {MAX_WINDOW_DAYS} days", "window_too_long")
        )
    if problems:
        raise ValidationFailed(details=problems)
    return RequestedWindow(start=start, end=end)


def _problem(field: str, message: str, kind: str) -> dict[str, str]:
    return {"loc": field, "msg": message, "type": kind}


def comparison_window(window: Window) -> Window:
    """The window of equal length that ends the day before ``window`` starts."""
    return Window(start=window.start - timedelta(days=window.days), end=window.start - timedelta(days=1))


def window_bounds(window: Window) -> tuple[datetime, datetime]:
    """The UTC instants ``window`` starts and ends (exclusive: midnight after its last day)."""
    return (
        datetime.combine(window.start, time.min, UTC),
        datetime.combine(window.end + timedelta(days=1), time.min, UTC),
    )


def active_from(window: Window) -> date:
    """The first of the ``ACTIVE_DAYS`` days that end with ``window``."""
    return window.end - timedelta(days=ACTIVE_DAYS - 1)


def now_bounds(as_of: datetime) -> tuple[datetime, datetime]:
    """The instants visitors now counts at ``as_of``: the last ``NOW_WINDOW_SECONDS``
    seconds, and up to ``MAX_CLIENT_AHEAD`` after it (a client clock ahead, as ingest
    believes it: its visitor is on the site now)."""
    return as_of - timedelta(seconds=NOW_WINDOW_SECONDS), as_of + MAX_CLIENT_AHEAD


def ratio(numerator: Number, denominator: Number) -> float | None:
    """``numerator / denominator``, or None when the denominator is zero."""
    return numerator / denominator if denominator else None


def delta(current: Number | None, comparison: Number | None) -> float | None:
    """``(current - comparison) / comparison``, or None when either is None or comparison is 0."""
    if current is None or comparison is None or comparison == 0:
        return None
    return (current - comparison) / comparison


def compared(
    current: Mapping[str, Number | None], comparison: Mapping[str, Number | None] | None
) -> dict[str, Metric]:
    """Each metric's value and its delta to ``comparison`` (None without a comparison)."""
    return {
        name: Metric(value=value, delta=None if comparison is None else delta(value, comparison[name]))
        for name, value in current.items()
    }
