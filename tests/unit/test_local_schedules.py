"""Schedules under make run: EventBridge's rate and cron expressions (what they accept and
when they fire, on both sides of every edge, with a pinned clock), the template's Schedule
events as typed specs, and local overrides of their expressions."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from funnel_local.schedule_expressions import (
    CronExpression,
    RateExpression,
    ScheduleExpressionError,
    eventbridge_day_of_week,
    parse_schedule_expression,
)
from funnel_local.scheduler import override_schedules
from funnel_local.template import ScheduleSpec, TemplateError, load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TICK = timedelta(microseconds=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cron(text: str) -> CronExpression:
    expression = parse_schedule_expression(text)
    assert isinstance(expression, CronExpression)
    return expression


class TestRate:
    @pytest.mark.parametrize(
        ("text", "period"),
        [
            ("rate(1 minute)", timedelta(minutes=1)),
            ("rate(5 minutes)", timedelta(minutes=5)),
            ("rate(1 hour)", timedelta(hours=1)),
            ("rate(12 hours)", timedelta(hours=12)),
            ("rate(1 day)", timedelta(days=1)),
            ("rate(7 days)", timedelta(days=7)),
            ("  rate( 2  hours )  ", timedelta(hours=2)),
        ],
    )
    def test_a_rate_is_a_period(self, text: str, period: timedelta) -> None:
        # Given a rate expression EventBridge accepts
        # When it is read
        expression = parse_schedule_expression(text)

        # Then it is that period
        assert expression == RateExpression(text=text.strip(), period=period)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("rate(1 minutes)", "with 1 the unit is 'minute'"),
            ("rate(5 minute)", "with 5 the unit is 'minutes'"),
            ("rate(1 hours)", "with 1 the unit is 'hour'"),
            ("rate(2 day)", "with 2 the unit is 'days'"),
            ("rate(0 minutes)", "positive"),
            ("rate(1 week)", "minute"),
            ("rate(1 seconds)", "minute"),
            ("rate(-1 minutes)", "neither"),
            ("rate(1.5 hours)", "neither"),
            ("rate(minutes)", "neither"),
            ("every hour", "neither"),
        ],
    )
    def test_rates_eventbridge_refuses_are_refused(self, text: str, message: str) -> None:
        # Given a rate EventBridge would refuse
        # When it is read
        # Then it is refused, saying why
        with pytest.raises(ScheduleExpressionError, match=message):
            parse_schedule_expression(text)

    def test_a_rate_fires_every_period_from_its_start_and_never_at_the_start(self) -> None:
        # Given a rate of one minute that started at 10:00:00
        rate = parse_schedule_expression("rate(1 minute)")
        since = at("2026-12-02T10:00:00")

        # When the next firing is asked just before, at and just after each edge
        # Then the first is a period after the start, and each firing is strictly after the moment
        assert rate.next_after(since, since=since) == at("2026-12-02T10:01:00")
        assert rate.next_after(at("2026-12-02T10:00:59.999999"), since=since) == at("2026-12-02T10:01:00")
        assert rate.next_after(at("2026-12-02T10:01:00"), since=since) == at("2026-12-02T10:02:00")
        assert rate.next_after(at("2026-12-02T10:01:00") + TICK, since=since) == at("2026-12-02T10:02:00")

    def test_a_rate_keeps_its_phase_after_missed_firings(self) -> None:
        # Given an hourly rate that started at 10:20:30, and a clock that jumped two hours and more
        rate = parse_schedule_expression("rate(1 hour)")
        since = at("2026-12-02T10:20:30")

        # When the next firing is asked
        # Then it is on the start's phase, not an hour after the jump
        assert rate.next_after(at("2026-12-02T12:59:00"), since=since) == at("2026-12-02T13:20:30")

    def test_a_moment_before_the_start_gets_the_first_firing(self) -> None:
        # Given a daily rate started at 10:00
        rate = parse_schedule_expression("rate(1 day)")
        since = at("2026-12-02T10:00:00")
        # When asked from before its start (a clock set back), Then the first firing comes
        assert rate.next_after(since - timedelta(hours=5), since=since) == at("2026-12-03T10:00:00")


class TestCronSyntax:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("cron(15 3 * * ?)", "six fields, not 5"),
            ("cron(15 3 * * ? * *)", "six fields, not 7"),
            ("cron(15 3 * * * *)", "exactly one of day-of-month and day-of-week"),
            ("cron(15 3 ? * ? *)", "exactly one of day-of-month and day-of-week"),
            ("cron(15 3 1 * MON *)", "exactly one of day-of-month and day-of-week"),
            ("cron(60 3 * * ? *)", "60 is outside 0-59"),
            ("cron(15 24 * * ? *)", "24 is outside 0-23"),
            ("cron(15 3 0 * ? *)", "0 is outside 1-31"),
            ("cron(15 3 32 * ? *)", "32 is outside 1-31"),
            ("cron(15 3 * 13 ? *)", "13 is outside 1-12"),
            ("cron(15 3 ? * 8 *)", "8 is outside 1-7"),
            ("cron(15 3 ? * 0 *)", "0 is outside 1-7"),
            ("cron(15 3 * * ? 1969)", "1969 is outside 1970-2199"),
            ("cron(15 3 * * ? 2200)", "2200 is outside 1970-2199"),
            ("cron(40-10 3 * * ? *)", "runs backwards"),
            ("cron(0/0 3 * * ? *)", "increment"),
            ("cron(0/x 3 * * ? *)", "increment"),
            ("cron(15 3 ? * MON/2 *)", "'/' is not allowed"),
            ("cron(15 3 ? * 3#1,6#3 *)", "'#' takes one day"),
            ("cron(15 3 ? * 3#6 *)", "'#' takes one day"),
            ("cron(15 3 * FOO ? *)", "'FOO' is not a number or a name"),
            ("cron(15 3 ? * FUNDAY *)", "'FUNDAY' is not a number or a name"),
            ("cron(x 3 * * ? *)", "'x' is not a number"),
            ("cron(15 3 LW * ? *)", "'L' is not a number"),
        ],
    )
    def test_crons_eventbridge_refuses_are_refused(self, text: str, message: str) -> None:
        # Given a cron expression EventBridge would refuse
        # When it is read
        # Then it is refused, saying why
        with pytest.raises(ScheduleExpressionError, match=message):
            parse_schedule_expression(text)

    @pytest.mark.parametrize(
        ("text", "minutes", "hours", "months"),
        [
            ("cron(0/15 * * * ? *)", (0, 15, 30, 45), tuple(range(24)), tuple(range(1, 13))),
            ("cron(5/20 1,13 * JAN,JUL ? *)", (5, 25, 45), (1, 13), (1, 7)),
            ("cron(10-40/10 9-11 * MAR-MAY ? *)", (10, 20, 30, 40), (9, 10, 11), (3, 4, 5)),
            ("cron(*/30 0 * * ? *)", (0, 30), (0,), tuple(range(1, 13))),
        ],
    )
    def test_lists_ranges_increments_and_names(
        self, text: str, minutes: tuple[int, ...], hours: tuple[int, ...], months: tuple[int, ...]
    ) -> None:
        # Given a cron expression with lists, ranges, increments or names
        # When it is read
        expression = cron(text)
        # Then its minutes, hours and months are the values they name
        assert (expression.minutes, expression.hours, expression.months) == (minutes, hours, months)

    def test_days_of_the_week_count_from_sunday(self) -> None:
        # Given 2026-12-06, a Sunday, and the six days after it
        sunday = at("2026-12-06T12:00:00")
        # Then EventBridge numbers them 1 (SUN) to 7 (SAT)
        assert [eventbridge_day_of_week(sunday + timedelta(days=n)) for n in range(7)] == [
            1,
            2,
            3,
            4,
            5,
            6,
            7,
        ]


class TestCronFiring:
    def test_the_daily_purge_fires_at_0315_utc_strictly_after_the_moment(self) -> None:
        # Given the template's purge schedule
        purge = cron("cron(15 3 * * ? *)")

        # When the next firing is asked around 03:15 on 2 December
        # Then just before, it is that day; at 03:15:00 and any moment after, the next day
        assert purge.next_after(at("2026-12-02T03:14:59.999999")) == at("2026-12-02T03:15:00")
        assert purge.next_after(at("2026-12-02T03:15:00")) == at("2026-12-03T03:15:00")
        assert purge.next_after(at("2026-12-02T03:15:00") + TICK) == at("2026-12-03T03:15:00")
        assert purge.next_after(at("2026-12-02T03:15:59")) == at("2026-12-03T03:15:00")

    def test_a_firing_crosses_days_months_and_years(self) -> None:
        # Given an hourly cron, asked around the last hour of a year
        every_hour = cron("cron(0 * * * ? *)")
        # Then its next firing is in the next day, month and year when it must be, and not before
        assert every_hour.next_after(at("2026-12-31T23:59:59")) == at("2027-01-01T00:00:00")
        assert every_hour.next_after(at("2026-12-31T23:00:00")) == at("2027-01-01T00:00:00")
        assert every_hour.next_after(at("2026-12-31T22:59:59")) == at("2026-12-31T23:00:00")

    def test_a_moment_in_another_time_zone_is_read_in_utc(self) -> None:
        # Given 22:14 in Toronto (UTC-5), which is 03:14 UTC the next day
        toronto = datetime.fromisoformat("2026-12-01T22:14:00-05:00")
        # Then the purge fires a minute later
        assert cron("cron(15 3 * * ? *)").next_after(toronto) == at("2026-12-02T03:15:00")

    def test_l_in_the_day_of_the_month_is_its_last_day(self) -> None:
        # Given a cron on the month's last day
        month_end = cron("cron(0 0 L * ? *)")
        # Then a leap February's is the 29th, another's the 28th, and March's the 31st
        assert month_end.next_after(at("2028-02-28T00:00:00")) == at("2028-02-29T00:00:00")
        assert month_end.next_after(at("2027-02-27T23:59:59")) == at("2027-02-28T00:00:00")
        assert month_end.next_after(at("2027-02-28T00:00:00")) == at("2027-03-31T00:00:00")

    def test_a_day_a_month_lacks_is_skipped(self) -> None:
        # Given a cron on the 31st, asked on 1 November (a month of 30 days)
        thirty_first = cron("cron(0 0 31 * ? *)")
        # Then it next fires on 31 December
        assert thirty_first.next_after(at("2026-11-01T00:00:00")) == at("2026-12-31T00:00:00")
        # And a day no month has never comes
        assert cron("cron(0 0 30 2 ? *)").next_after(at("2026-01-01T00:00:00")) is None

    def test_w_is_the_weekday_nearest_the_day_within_the_month(self) -> None:
        # Given crons on the weekday nearest a day, when that day is a weekend day or not
        # Then 2026-08-01 is a Saturday: not the Friday before (July), but Monday the 3rd
        assert cron("cron(0 9 1W * ? *)").next_after(at("2026-07-31T00:00:00")) == at("2026-08-03T09:00:00")
        # 2026-08-15 is a Saturday: the Friday before
        assert cron("cron(0 9 15W * ? *)").next_after(at("2026-08-01T00:00:00")) == at("2026-08-14T09:00:00")
        # 2026-05-31 is a Sunday, the month's last day: the Friday before, not June's Monday
        assert cron("cron(0 9 31W * ? *)").next_after(at("2026-05-01T00:00:00")) == at("2026-05-29T09:00:00")
        # 2026-03-16 is a Monday: the day itself
        assert cron("cron(0 9 16W * ? *)").next_after(at("2026-03-01T00:00:00")) == at("2026-03-16T09:00:00")

    def test_days_of_the_week_by_number_name_range_last_and_occurrence(self) -> None:
        # Given a Wednesday after noon
        start = at("2026-12-02T13:00:00")
        # Then weekdays, Sunday (1), Saturday (L) at noon come on their next day
        assert cron("cron(0 12 ? * MON-FRI *)").next_after(start) == at("2026-12-03T12:00:00")
        assert cron("cron(0 12 ? * 1 *)").next_after(start) == at("2026-12-06T12:00:00")
        assert cron("cron(0 12 ? * L *)").next_after(start) == at("2026-12-05T12:00:00")
        # the month's last Friday, and its second Tuesday
        assert cron("cron(0 12 ? * 6L *)").next_after(start) == at("2026-12-25T12:00:00")
        assert cron("cron(0 12 ? * 3#2 *)").next_after(start) == at("2026-12-08T12:00:00")
        assert cron("cron(0 12 ? * 3#2 *)").next_after(at("2026-12-08T12:00:00")) == at("2027-01-12T12:00:00")

    def test_a_fifth_occurrence_skips_months_without_one(self) -> None:
        # Given a cron on the fifth Thursday: December 2026 has one (31st), January to March
        # 2027 none, April 2027 one (29th)
        fifth_thursday = cron("cron(0 0 ? * THU#5 *)")
        assert fifth_thursday.next_after(at("2026-12-01T00:00:00")) == at("2026-12-31T00:00:00")
        assert fifth_thursday.next_after(at("2026-12-31T00:00:00")) == at("2027-04-29T00:00:00")

    def test_the_year_field_ends_a_schedule(self) -> None:
        # Given a cron on New Year's Day of 2027 and 2028 only
        new_year = cron("cron(0 0 1 1 ? 2027-2028)")
        # Then it fires twice, then never
        assert new_year.next_after(at("2026-06-01T00:00:00")) == at("2027-01-01T00:00:00")
        assert new_year.next_after(at("2027-12-31T23:59:59")) == at("2028-01-01T00:00:00")
        assert new_year.next_after(at("2028-01-01T00:00:00")) is None

    def test_minutes_within_an_hour_and_hours_within_a_day(self) -> None:
        # Given a cron every quarter hour of working hours on weekdays
        quarter_hours = cron("cron(0/15 9-17 ? * MON-FRI *)")
        # Then it fires at the next quarter, the next hour, the next morning and next Monday
        assert quarter_hours.next_after(at("2026-12-02T09:44:59")) == at("2026-12-02T09:45:00")
        assert quarter_hours.next_after(at("2026-12-02T09:45:00")) == at("2026-12-02T10:00:00")
        assert quarter_hours.next_after(at("2026-12-02T17:45:00")) == at("2026-12-03T09:00:00")
        # Friday's last, then Monday's first
        assert quarter_hours.next_after(at("2026-12-04T17:45:00")) == at("2026-12-07T09:00:00")


class TestTemplateSchedules:
    def test_the_project_schedules_are_read_from_the_template(self) -> None:
        # Given the project's template
        # When its schedules are read
        schedules = {spec.key: spec for spec in load_template(REPO_ROOT / "template.yaml").schedules}

        # Then there are the hourly rollup and the daily purge, with their Input decoded
        assert set(schedules) == {"RollupFunction.Hourly", "RetentionPurgeFunction.Daily"}
        rollup, purge = schedules["RollupFunction.Hourly"], schedules["RetentionPurgeFunction.Daily"]
        assert rollup.expression == RateExpression(text="rate(1 hour)", period=timedelta(hours=1))
        assert rollup.input == {"trigger": "schedule"}
        assert purge.expression.text == "cron(0 0 * * ? *)"
        assert purge.input == {"dryRun": False}
        assert rollup.enabled and purge.enabled

    def test_the_input_is_what_the_function_receives(self) -> None:
        # Given the rollup's schedule, and a handler that changes the event it got
        (rollup,) = [
            s for s in load_template(REPO_ROOT / "template.yaml").schedules if s.event_name == "Hourly"
        ]
        first = rollup.event(at("2026-12-02T10:00:00"), "id-1")
        first["trigger"] = "changed by a handler"
        # When the schedule fires again, Then the function gets the Input as written
        assert rollup.event(at("2026-12-02T11:00:00"), "id-2") == {"trigger": "schedule"}

    def test_without_input_eventbridge_sends_its_scheduled_event(self, tmp_path: Path) -> None:
        # Given a Schedule event without Input; When it fires, Then the function gets
        # EventBridge's "Scheduled Event" for its rule
        template = load_template(
            write_template(
                tmp_path,
                schedule_events(
                    "Nightly:\n  Type: Schedule\n  Properties:\n    Schedule: cron(0 2 * * ? *)\n"
                ),
            )
        )
        (nightly,) = template.schedules
        assert nightly.input is None
        assert nightly.event(at("2026-12-02T02:00:00"), "0b0c5d5e-0000-4000-8000-000000000001") == {
            "version": "0",
            "id": "0b0c5d5e-0000-4000-8000-000000000001",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-12-02T02:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/funnel-local-JobFunctionNightly"],
            "detail": {},
        }

    @pytest.mark.parametrize(
        ("properties", "enabled"),
        [
            ("Enabled: false", False),
            ("Enabled: true", True),
            ("State: DISABLED", False),
            ("State: ENABLED", True),
            ("Enabled: !Ref Switch", False),
        ],
    )
    def test_a_disabled_schedule_is_read_as_disabled(
        self, tmp_path: Path, properties: str, enabled: bool
    ) -> None:
        # Given a schedule with Enabled or State (or Enabled from a parameter); Then so it is
        events = f"Nightly:\n  Type: Schedule\n  Properties:\n    Schedule: rate(1 day)\n    {properties}\n"
        (nightly,) = load_template(write_template(tmp_path, schedule_events(events))).schedules
        assert nightly.enabled is enabled

    @pytest.mark.parametrize(
        ("properties", "message"),
        [
            ("Schedule: rate(1 days)", "JobFunction.Nightly: rate\\(1 days\\): with 1 the unit is 'day'"),
            ("Schedule: cron(0 2 * * * *)", "JobFunction.Nightly: .*exactly one of"),
            ("Schedule: rate(1 day)\n    Input: '{not json'", "JobFunction.Nightly: Input is not JSON"),
            ("Schedule: rate(1 day)\n    Input:\n      a: 1", "JobFunction.Nightly: Input must be JSON text"),
            ("Schedule: rate(1 day)\n    Enabled: false\n    State: DISABLED", "Enabled or State, not both"),
            ("Input: '{}'", "JobFunction.Nightly: needs a Schedule expression"),
        ],
    )
    def test_a_schedule_eventbridge_would_refuse_is_a_template_error(
        self, tmp_path: Path, properties: str, message: str
    ) -> None:
        events = f"Nightly:\n  Type: Schedule\n  Properties:\n    {properties}\n"
        with pytest.raises(TemplateError, match=message):
            load_template(write_template(tmp_path, schedule_events(events)))


class TestOverrides:
    @pytest.fixture
    def schedules(self) -> tuple[ScheduleSpec, ...]:
        return load_template(REPO_ROOT / "template.yaml").schedules

    def test_a_schedule_is_given_another_expression_by_function_or_by_event(self, schedules) -> None:
        # Given the template's schedules; When the rollup's is overridden by function or by event
        by_function = override_schedules(schedules, {"RollupFunction": "rate(1 minute)"})
        by_event = override_schedules(schedules, {"RollupFunction.Hourly": "rate(1 minute)"})
        assert by_function == by_event
        changed = {spec.key: spec.expression.text for spec in by_function}
        assert changed == {
            "RollupFunction.Hourly": "rate(1 minute)",
            "RetentionPurgeFunction.Daily": "cron(0 0 * * ? *)",
        }
        # And everything else of the schedule is the template's
        (rollup,) = [spec for spec in by_function if spec.function_id == "RollupFunction"]
        assert rollup.input == {"trigger": "schedule"}

    def test_a_function_with_two_schedules_needs_the_events_name(self, tmp_path: Path) -> None:
        # Given a function with two schedules; When one is overridden by the function's name,
        # Then that is refused, and by Function.Event only that one changes
        events = (
            "Nightly:\n  Type: Schedule\n  Properties:\n    Schedule: cron(0 2 * * ? *)\n"
            "Hourly:\n  Type: Schedule\n  Properties:\n    Schedule: rate(1 hour)\n"
        )
        schedules = load_template(write_template(tmp_path, schedule_events(events))).schedules
        with pytest.raises(TemplateError, match="names several schedules; add the event's name"):
            override_schedules(schedules, {"JobFunction": "rate(1 minute)"})
        changed = override_schedules(schedules, {"JobFunction.Hourly": "rate(1 minute)"})
        assert [spec.expression.text for spec in changed] == ["cron(0 2 * * ? *)", "rate(1 minute)"]

    def test_no_override_changes_nothing(self, schedules) -> None:
        # Given no override, Then the schedules are the template's
        assert override_schedules(schedules, {}) == schedules

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"MetricsFunction": "rate(1 minute)"}, "names no schedule"),
            ({"RollupFunction.Daily": "rate(1 minute)"}, "names no schedule"),
            ({"RollupFunction": "rate(1 minutes)"}, "with 1 the unit is 'minute'"),
            ({"RollupFunction": "every minute"}, "neither"),
        ],
    )
    def test_a_bad_override_is_refused(self, schedules, overrides: dict[str, str], message: str) -> None:
        # Given an override of no schedule, or an expression EventBridge refuses; Then it is refused
        with pytest.raises(TemplateError, match=message):
            override_schedules(schedules, overrides)


def schedule_events(events: str) -> str:
    return (
        "Parameters:\n"
        "  Switch:\n"
        "    Type: String\n"
        "    Default: 'false'\n"
        "Resources:\n"
        "  JobFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: job/\n"
        "      Handler: job.handler\n"
        "      Runtime: python3.11\n"
        "      Events:\n" + textwrap.indent(events, "        ")
    )


def write_template(directory: Path, body: str) -> Path:
    path = directory / "template.yaml"
    path.write_text(body, encoding="utf-8")
    return path
