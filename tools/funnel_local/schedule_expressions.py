"""EventBridge schedule expressions, ``rate(...)`` and ``cron(...)``, and when they fire.

The rules are EventBridge's (scheduled rules, all times UTC):

* ``rate(value unit)``: a positive whole ``value`` and a unit of ``minute``, ``hour`` or
  ``day``, singular exactly when the value is 1 (``rate(1 hours)`` and ``rate(5 hour)`` are
  refused). A rate starts when the rule is created and fires every period after that.
* ``cron(minutes hours day-of-month month day-of-week year)``: six fields; ``,`` lists,
  ``-`` ranges, ``*`` everything and ``/`` increments (``1/10``, ``*/15``, ``10-40/10``)
  everywhere but in the day of the week; month and day-of-week names (``JAN``, ``MON``);
  days of the week 1-7 from Sunday. Exactly one of day-of-month and day-of-week is ``?``.
  In the day of the month, ``L`` is its last day and ``15W`` the weekday nearest the 15th
  (never in another month); in the day of the week, ``L`` is Saturday (the week's last day),
  ``6L`` the month's last Friday and ``3#2`` its second Tuesday (``#`` alone in its field).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

MINUTES: Final = (0, 59)
HOURS: Final = (0, 23)
DAYS_OF_MONTH: Final = (1, 31)
MONTHS: Final = (1, 12)
DAYS_OF_WEEK: Final = (1, 7)
YEARS: Final = (1970, 2199)
MONTH_NAMES: Final = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
# EventBridge counts the days of the week from Sunday = 1.
DAY_NAMES: Final = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_RATE: Final = re.compile(r"^rate\(\s*(\d+)\s+([a-z]+)\s*\)$")
_CRON: Final = re.compile(r"^cron\((.*)\)$")
_UNITS: Final = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


class ScheduleExpressionError(ValueError):
    """An expression EventBridge would refuse."""


def eventbridge_day_of_week(moment: datetime) -> int:
    """The day of the week as EventBridge numbers it: Sunday 1 to Saturday 7."""
    return (moment.weekday() + 1) % 7 + 1


@dataclass(frozen=True)
class RateExpression:
    """``rate(value unit)``: every ``period``, counted from when the schedule started."""

    text: str
    period: timedelta

    def next_after(self, moment: datetime, *, since: datetime) -> datetime:
        """The first firing strictly after ``moment`` of a schedule that started at ``since``.

        Parameters
        ----------
        moment
            An aware datetime.
        since
            When the schedule started (EventBridge: when the rule was created); it fires at
            ``since + period``, ``since + 2 * period``...
        """
        if moment < since:
            return since + self.period
        elapsed = (moment - since) // self.period
        return since + (elapsed + 1) * self.period


@dataclass(frozen=True)
class _DayOfMonth:
    days: frozenset[int] = frozenset()
    last: bool = False
    nearest_weekday_to: int | None = None

    def matches(self, year: int, month: int) -> list[int]:
        length = calendar.monthrange(year, month)[1]
        if self.last:
            return [length]
        if self.nearest_weekday_to is not None:
            return [_nearest_weekday(year, month, self.nearest_weekday_to)]
        return sorted(day for day in self.days if day <= length)


@dataclass(frozen=True)
class _DayOfWeek:
    days: frozenset[int] = frozenset()
    last_of_month: int | None = None
    nth: tuple[int, int] | None = None

    def matches(self, year: int, month: int) -> list[int]:
        length = calendar.monthrange(year, month)[1]
        weekdays = {day: eventbridge_day_of_week(datetime(year, month, day)) for day in range(1, length + 1)}
        if self.last_of_month is not None:
            return [max(day for day, weekday in weekdays.items() if weekday == self.last_of_month)]
        if self.nth is not None:
            weekday, occurrence = self.nth
            found = [day for day, value in weekdays.items() if value == weekday]
            return [found[occurrence - 1]] if occurrence <= len(found) else []
        return [day for day, weekday in weekdays.items() if weekday in self.days]


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The weekday (Monday to Friday) nearest ``day`` in its month, as ``W`` means it."""
    length = calendar.monthrange(year, month)[1]
    day = min(day, length)
    weekday = datetime(year, month, day).weekday()
    if weekday == 5:  # Saturday: the Friday before, unless that is last month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, unless that is next month
        return day + 1 if day < length else day - 2
    return day


@dataclass(frozen=True)
class CronExpression:
    """``cron(...)``: the minutes, hours, days, months and years it fires at (UTC)."""

    text: str
    minutes: tuple[int, ...] = field(repr=False)
    hours: tuple[int, ...] = field(repr=False)
    months: tuple[int, ...] = field(repr=False)
    years: tuple[int, ...] = field(repr=False)
    day_of_month: _DayOfMonth | None = field(repr=False)
    day_of_week: _DayOfWeek | None = field(repr=False)

    def days(self, year: int, month: int) -> list[int]:
        """The days of a month it fires on."""
        if self.day_of_month is not None:
            return self.day_of_month.matches(year, month)
        assert self.day_of_week is not None
        return self.day_of_week.matches(year, month)

    def next_after(self, moment: datetime, *, since: datetime | None = None) -> datetime | None:
        """The first firing strictly after ``moment``, or None when it never fires again.

        Parameters
        ----------
        moment
            An aware datetime.
        since
            Ignored (a cron expression names its times itself); accepted so that rates and
            crons are asked the same way.
        """
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        for year in (year for year in self.years if year >= start.year):
            for month in (month for month in self.months if (year, month) >= (start.year, start.month)):
                this_month = (year, month) == (start.year, start.month)
                for day in self.days(year, month):
                    if this_month and day < start.day:
                        continue
                    today = this_month and day == start.day
                    for hour in self.hours:
                        if today and hour < start.hour:
                            continue
                        for minute in self.minutes:
                            if today and hour == start.hour and minute < start.minute:
                                continue
                            return datetime(year, month, day, hour, minute, tzinfo=UTC)
        return None


ScheduleExpression = RateExpression | CronExpression


def parse_schedule_expression(text: str) -> ScheduleExpression:
    """Read a ``rate(...)`` or ``cron(...)`` expression.

    Raises
    ------
    ScheduleExpressionError
        When EventBridge would refuse it; the message says why.
    """
    stripped = text.strip()
    rate = _RATE.match(stripped)
    if rate is not None:
        return _rate(stripped, int(rate.group(1)), rate.group(2))
    cron = _CRON.match(stripped)
    if cron is not None:
        return _cron(stripped, cron.group(1).split())
    raise ScheduleExpressionError(f"{text!r} is neither rate(value unit) nor cron(six fields)")


def _rate(text: str, value: int, unit: str) -> RateExpression:
    if value < 1:
        raise ScheduleExpressionError(f"{text}: the value must be a positive whole number")
    singular = unit.removesuffix("s")
    if singular not in _UNITS:
        raise ScheduleExpressionError(f"{text}: the unit is minute(s), hour(s) or day(s)")
    if (value == 1) != (unit == singular):
        expected = singular if value == 1 else f"{singular}s"
        raise ScheduleExpressionError(f"{text}: with {value} the unit is {expected!r}")
    return RateExpression(text=text, period=value * _UNITS[singular])


def _cron(text: str, fields: list[str]) -> CronExpression:
    if len(fields) != 6:
        raise ScheduleExpressionError(f"{text}: a cron expression has six fields, not {len(fields)}")
    minutes, hours, day_of_month, months, day_of_week, years = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleExpressionError(
            f"{text}: exactly one of day-of-month and day-of-week must be '?' (the other chooses the days)"
        )
    try:
        return CronExpression(
            text=text,
            minutes=_values(minutes, MINUTES),
            hours=_values(hours, HOURS),
            months=_values(months, MONTHS, MONTH_NAMES),
            years=_values(years, YEARS),
            day_of_month=None if day_of_month == "?" else _day_of_month(day_of_month),
            day_of_week=None if day_of_week == "?" else _day_of_week(day_of_week),
        )
    except ScheduleExpressionError as exc:
        raise ScheduleExpressionError(f"{text}: {exc}") from None


def _number(token: str, bounds: tuple[int, int], names: dict[str, int] | None = None) -> int:
    value = (names or {}).get(token.upper())
    if value is None:
        if not token.isdigit():
            raise ScheduleExpressionError(f"{token!r} is not a number{' or a name' if names else ''}")
        value = int(token)
    low, high = bounds
    if not low <= value <= high:
        raise ScheduleExpressionError(f"{value} is outside {low}-{high}")
    return value


def _values(
    spec: str, bounds: tuple[int, int], names: dict[str, int] | None = None, *, steps: bool = True
) -> tuple[int, ...]:
    """The values of a field made of ``,`` ``-`` ``*`` and ``/``, sorted."""
    low, high = bounds
    chosen: set[int] = set()
    for part in spec.split(","):
        base, slash, step_text = part.partition("/")
        if slash and not steps:
            raise ScheduleExpressionError(f"'/' is not allowed in {spec!r}")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            first, last = _number(start_text, bounds, names), _number(end_text, bounds, names)
            if first > last:
                raise ScheduleExpressionError(f"the range {base!r} runs backwards")
        else:
            first = _number(base, bounds, names)
            # "5/15": from 5 to the end of the field, every 15
            last = high if slash else first
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleExpressionError(f"the increment of {part!r} is not a positive number")
            step = int(step_text)
        chosen.update(range(first, last + 1, step))
    return tuple(sorted(chosen))


def _day_of_month(spec: str) -> _DayOfMonth:
    if spec == "L":
        return _DayOfMonth(last=True)
    if spec.endswith("W"):
        return _DayOfMonth(nearest_weekday_to=_number(spec[:-1], DAYS_OF_MONTH))
    return _DayOfMonth(days=frozenset(_values(spec, DAYS_OF_MONTH)))


def _day_of_week(spec: str) -> _DayOfWeek:
    if "#" in spec:
        weekday, _, occurrence = spec.partition("#")
        if "," in spec or not occurrence.isdigit() or not 1 <= int(occurrence) <= 5:
            raise ScheduleExpressionError(f"{spec!r}: '#' takes one day and an occurrence from 1 to 5")
        return _DayOfWeek(nth=(_number(weekday, DAYS_OF_WEEK, DAY_NAMES), int(occurrence)))
    if spec == "L":
        return _DayOfWeek(days=frozenset({DAYS_OF_WEEK[1]}))
    if spec.endswith("L"):
        return _DayOfWeek(last_of_month=_number(spec[:-1], DAYS_OF_WEEK, DAY_NAMES))
    return _DayOfWeek(days=frozenset(_values(spec, DAYS_OF_WEEK, DAY_NAMES, steps=False)))
