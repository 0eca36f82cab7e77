"""funnel_local.scheduler with the project's template: a schedule that comes due invokes the
real function through its worker pool (a real PostgreSQL behind it), with the template's
Input, at the times its expression names; the clock is pinned, so each edge is checked on
both sides."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from funnel_local.scheduler import Scheduler, override_schedules
from funnel_local.template import SamTemplate, load_template
from funnel_local.workers import FunctionPool
from tests.conftest import ADMIN_KEY, REPO

pytestmark = pytest.mark.integration

# A Tuesday, a few minutes before the purge's 00:00 UTC.
STARTED = datetime(2026, 12, 1, 23, 57, 30, tzinfo=UTC)
TICK = timedelta(microseconds=1)


@pytest.fixture(scope="module")
def template() -> SamTemplate:
    return load_template(REPO / "template.yaml")


@pytest.fixture
def pools(template: SamTemplate, database_url: str) -> Iterator[dict[str, FunctionPool]]:
    environment = {"DATABASE_URL": database_url, "ADMIN_API_KEY": ADMIN_KEY}
    running = {
        function_id: FunctionPool(template.function(function_id), environment, max_workers=1)
        for function_id in ("RollupFunction", "RetentionPurgeFunction")
    }
    yield running
    for pool in running.values():
        pool.close()


def run(scheduler: Scheduler, now: datetime) -> list[str]:
    """Fire what is due at ``now``; wait for the invocations; the schedules that fired."""
    before = {schedule.key: scheduler.next_firing(schedule) for schedule in scheduler.schedules}
    for invocation in scheduler.fire_due(now):
        invocation.join(120)
        assert not invocation.is_alive()
    return sorted(key for key, moment in before.items() if moment is not None and moment <= now)


def test_the_rollup_runs_each_period_after_the_start_through_its_pool(
    template, pools, db: psycopg.Connection
):
    # Given the rollup's schedule shortened to a minute, started at 23:57:30
    schedules = override_schedules(template.schedules, {"RollupFunction": "rate(1 minute)"})
    scheduler = Scheduler(schedules, pools, clock=lambda: STARTED)
    (rollup,) = [schedule for schedule in schedules if schedule.function_id == "RollupFunction"]

    # When the clock is a moment short of a minute later, nothing is due
    assert run(scheduler, STARTED + timedelta(minutes=1) - TICK) == []
    assert db.execute("SELECT count(*) FROM rollup_runs").fetchone() == (0,)

    # When it reaches the minute, the rollup runs once, as the template's schedule invokes it
    assert run(scheduler, STARTED + timedelta(minutes=1)) == ["RollupFunction.Hourly"]
    assert db.execute("SELECT trigger, status, dry_run FROM rollup_runs").fetchall() == [
        ("schedule", "succeeded", False)
    ]
    # And the next firing is one period on, not one period after the late check
    assert scheduler.next_firing(rollup) == STARTED + timedelta(minutes=2)

    # When the clock then jumps past three more firings (a machine that slept), it runs once
    # (and the purge, due at midnight meanwhile, runs too)
    assert run(scheduler, STARTED + timedelta(minutes=5, seconds=10)) == [
        "RetentionPurgeFunction.Daily",
        "RollupFunction.Hourly",
    ]
    assert db.execute("SELECT count(*) FROM rollup_runs").fetchone() == (2,)
    assert scheduler.next_firing(rollup) == STARTED + timedelta(minutes=6)


def test_the_purge_runs_at_its_cron_time_with_its_input(template, pools, db: psycopg.Connection):
    # Given the template's schedules, started at 23:57:30
    scheduler = Scheduler(template.schedules, pools, clock=lambda: STARTED)
    (purge,) = [
        schedule for schedule in template.schedules if schedule.function_id == "RetentionPurgeFunction"
    ]
    assert scheduler.next_firing(purge) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)

    # When the clock is just short of midnight, nothing runs
    assert run(scheduler, datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC)) == []

    # When it is midnight, the purge runs for real ({"dryRun": false}): it audits its run
    assert run(scheduler, datetime(2026, 12, 2, 0, 0, tzinfo=UTC)) == ["RetentionPurgeFunction.Daily"]
    ((details,),) = db.execute("SELECT details FROM audit_log WHERE action = 'retention.purge'").fetchall()
    assert details["dryRun"] is False
    # And it is next due the following day; the hourly rollup is not due before 00:57:30
    assert scheduler.next_firing(purge) == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
    assert db.execute("SELECT count(*) FROM rollup_runs").fetchone() == (0,)


def test_a_disabled_schedule_never_fires(template, pools, db: psycopg.Connection):
    # Given the rollup's schedule disabled
    schedules = tuple(
        dataclasses.replace(schedule, enabled=schedule.function_id != "RollupFunction")
        for schedule in template.schedules
    )
    scheduler = Scheduler(schedules, pools, clock=lambda: STARTED)
    (rollup,) = [schedule for schedule in schedules if schedule.function_id == "RollupFunction"]

    # When hours pass
    fired = run(scheduler, STARTED + timedelta(hours=3))

    # Then it has no next firing and did not run
    assert scheduler.next_firing(rollup) is None
    assert fired == ["RetentionPurgeFunction.Daily"]
    assert db.execute("SELECT count(*) FROM rollup_runs").fetchone() == (0,)
