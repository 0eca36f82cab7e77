"""Rollup runs: a range of UTC days rolled up oldest first (``funnel.readmodel.day``), then
the discrepancy monitor (``funnel.readmodel.monitor``), each run recorded in its ledger.

A day older than raw retention (``RAW_RETENTION_DAYS``) is never recomputed: its raw data
is gone and its rollup is the only record left, so a run skips it and reports it. A
scheduled run also recomputes the days late writes marked dirty (``funnel.platform.dirty_days``),
a bounded number per run.

Every run is recorded in ``rollup_runs``: ``running`` as it starts (committed on its own,
so a run that dies is seen), ``succeeded`` or ``failed`` when it ends; freshness is read
from there (``funnel.readmodel.freshness``). A dry run computes every day in a transaction
that is rolled back, and records nothing. After the days, the discrepancy monitor compares
raw counts with the stored rollups for every settled day still in raw retention that a run
has rolled up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import partial
from typing import Any
from uuid import UUID

import psycopg
from aws_lambda_powertools import Logger
from psycopg.types.json import Jsonb

from funnel.platform import dirty_days
from funnel.platform.dirty_days import days_between
from funnel.platform.errors import DatabaseUnavailable
from funnel.platform.runtime import Runtime
from funnel.platform.sql import query
from funnel.privacy.retention import Horizon, first_kept_days
from funnel.readmodel.day import DayResult, Scope, rollup_day
from funnel.readmodel.monitor import Discrepancy, find_discrepancies, monitor_window

logger = Logger(child=True)

# Stored errors are for an operator to read, not a traceback.
MAX_ERROR_LENGTH = 2000


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    INVOKE = "invoke"
    CLI = "cli"


@dataclass(frozen=True)
class RollupReport:
    """What a run did: the days rolled up (its own oldest first, then the dirty ones), the
    days skipped as past raw retention, the days not reached (out of time), what the
    monitor found over ``monitored`` (None when it did not run), and of the dirty days
    (``funnel.platform.dirty_days``) those it rolled up and those it left for the next run."""

    run_id: UUID | None
    trigger: Trigger
    scope: Scope
    from_day: date
    to_day: date
    property_id: str | None
    dry_run: bool
    days: tuple[DayResult, ...]
    skipped_days: tuple[date, ...]
    remaining_days: tuple[date, ...]
    monitored: tuple[date, date] | None
    discrepancies: tuple[Discrepancy, ...]
    dirty_days: tuple[date, ...] = ()
    carried_days: tuple[date, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.remaining_days

    @property
    def rows_written(self) -> int:
        return sum(day.rows_written for day in self.days)

    def summary(self) -> dict[str, Any]:
        """The report without its per-day and per-discrepancy detail, for logs."""
        return {
            "runId": str(self.run_id) if self.run_id else None,
            "trigger": self.trigger.value,
            "scope": self.scope.value,
            "from": self.from_day.isoformat(),
            "to": self.to_day.isoformat(),
            "propertyId": self.property_id,
            "dryRun": self.dry_run,
            "complete": self.complete,
            "daysRolledUp": len(self.days),
            "daysSkipped": len(self.skipped_days),
            "daysDirty": len(self.dirty_days),
            "daysCarried": len(self.carried_days),
            "rowsWritten": self.rows_written,
            "discrepancyCount": len(self.discrepancies),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "days": [day.as_dict() for day in self.days],
            "skippedDays": [day.isoformat() for day in self.skipped_days],
            "remainingDays": [day.isoformat() for day in self.remaining_days],
            "dirtyDays": [day.isoformat() for day in self.dirty_days],
            "carriedDays": [day.isoformat() for day in self.carried_days],
            "monitored": (
                {"from": self.monitored[0].isoformat(), "to": self.monitored[1].isoformat()}
                if self.monitored
                else None
            ),
            "discrepancies": [item.as_dict() for item in self.discrepancies],
        }


def run_rollups(
    runtime: Runtime,
    *,
    from_day: date,
    to_day: date,
    property_id: str | None = None,
    dry_run: bool = False,
    trigger: Trigger,
    scope: Scope | None = None,
    with_dirty_days: bool = False,
    time_left_ms: Callable[[], int] | None = None,
    progress: Callable[[int, int, date], None] | None = None,
) -> RollupReport:
    """Roll up ``from_day``..``to_day`` oldest first, then run the discrepancy monitor.

    Parameters
    ----------
    from_day, to_day
        Inclusive UTC days, as ``RollupRange`` validates them (``to_day`` not after
        today). Days before the first day raw retention keeps are skipped and reported:
        their rollups are the only record left and stay as they are.
    property_id
        Only this property's marketing and ingest rows. Service usage is per tenant, so a
        run for one property leaves it alone.
    dry_run
        Compute every day and report what would be written (each day in a transaction
        that is rolled back); write nothing, not even the run's record.
    trigger
        Who asked (recorded with the run).
    scope
        ``Scope.SERVICE_USAGE`` for service usage only; by default everything, or the
        marketing and ingest tables when ``property_id`` is given.
    with_dirty_days
        What a scheduled run does (not a dry run): settle the days due and, after its own
        days, recompute up to ``ROLLUP_DIRTY_DAYS_PER_RUN`` dirty days, oldest first
        (``funnel.platform.dirty_days``). Those it leaves, past that bound or out of time, are
        reported as ``carried_days`` and do not make the run fail. Any run of everything
        clears the marks of the days it recomputes.
    time_left_ms
        The caller's remaining time (a Lambda context's ``get_remaining_time_in_millis``).
        No day starts unless a statement timeout and a margin remain; a run cut short
        reports ``remaining_days``, skips the monitor and is recorded as failed, so it
        never counts towards freshness. The next run carries on.
    progress
        Called after each day with (days done, days to do, that day).

    Raises
    ------
    ValueError
        For a property filter with a scope other than marketing.
    """
    asked = _Asked(trigger, _scope_of(scope, property_id), from_day, to_day, property_id, dry_run)
    now = runtime.clock().astimezone(UTC)
    own = _own_days(asked, first_kept=first_kept_days(now.date(), runtime.settings.privacy)[Horizon.RAW])
    run_id, dirty = None, _NO_DIRTY_DAYS
    if not dry_run:
        run_id, dirty = runtime.database.run(
            partial(
                _open_run, runtime=runtime, asked=asked, now=now, own=own, with_dirty_days=with_dirty_days
            )
        )
    work = [*own.todo, *dirty.days]
    done: list[DayResult] = []
    window: tuple[date, date] | None = None
    found: tuple[Discrepancy, ...] = ()
    try:
        for day in _while_time_left(work, time_left_ms, reserve_ms=_day_reserve_ms(runtime)):
            done.append(_roll_up_day(runtime, asked, day))
            if progress is not None:
                progress(len(done), len(work), day)
        if len(done) >= len(own.todo):
            window = monitor_window(now, own.first_kept)
        if window is not None:
            found = _monitor(runtime, asked, window, done)
    except Exception as exc:
        logger.exception(
            "rollup run failed", extra={"runId": str(run_id) if run_id else None, "daysRolledUp": len(done)}
        )
        if run_id is not None:
            _record_failure(runtime, run_id, exc, done=done, skipped=own.skipped, dirty=dirty)
        raise
    report = _report(run_id, asked, own, dirty, done, monitored=window, discrepancies=found)
    if run_id is not None:
        runtime.database.run(partial(_finish_run, report=report, finished_at=runtime.clock()))
    if report.complete:
        logger.info("rollup run finished", extra=report.summary())
    else:
        logger.warning("rollup run out of time", extra=report.summary())
    return report


@dataclass(frozen=True)
class _Asked:
    """What a run was asked to do, its scope resolved."""

    trigger: Trigger
    scope: Scope
    from_day: date
    to_day: date
    property_id: str | None
    dry_run: bool


@dataclass(frozen=True)
class _OwnDays:
    """A run's requested days, split at the first day raw retention keeps: those it
    recomputes and those it skips (their rollups are the only record left)."""

    first_kept: date
    todo: tuple[date, ...]
    skipped: tuple[date, ...]


_NO_DIRTY_DAYS = dirty_days.DirtyPlan(days=(), carried=())


def _scope_of(scope: Scope | None, property_id: str | None) -> Scope:
    """The scope asked for; by default everything, or marketing for one property."""
    scope = scope or (Scope.MARKETING if property_id is not None else Scope.ALL)
    if property_id is not None and scope is not Scope.MARKETING:
        raise ValueError("a property filter applies to the marketing and ingest rollups only")
    return scope


def _own_days(asked: _Asked, *, first_kept: date) -> _OwnDays:
    """The days asked for, split at ``first_kept``; the skipped ones are logged."""
    requested = days_between(asked.from_day, asked.to_day)
    own = _OwnDays(
        first_kept=first_kept,
        todo=tuple(day for day in requested if day >= first_kept),
        skipped=tuple(day for day in requested if day < first_kept),
    )
    if own.skipped:
        logger.warning(
            "rollup days past raw retention skipped, their rollups kept as they are",
            extra={
                "first": own.skipped[0].isoformat(),
                "last": own.skipped[-1].isoformat(),
                "firstKeptDay": first_kept.isoformat(),
            },
        )
    return own


def _open_run(
    conn: psycopg.Connection,
    *,
    runtime: Runtime,
    asked: _Asked,
    now: datetime,
    own: _OwnDays,
    with_dirty_days: bool,
) -> tuple[UUID, dirty_days.DirtyPlan]:
    """Record the run as ``running`` and, for a scheduled run, choose the dirty days it
    recomputes after its own; committed before any day is."""
    row = conn.execute(
        query("rollups/start_run"),
        {
            "trigger": asked.trigger.value,
            "scope": asked.scope.value,
            "from_day": asked.from_day,
            "to_day": asked.to_day,
            "property_id": asked.property_id,
            "started_at": runtime.clock(),
        },
    ).fetchone()
    assert row is not None
    run_id: UUID = row[0]
    if not with_dirty_days:
        return run_id, _NO_DIRTY_DAYS
    return run_id, dirty_days.plan(
        conn,
        now=now,
        first_kept_day=own.first_kept,
        own_days=own.todo,
        limit=runtime.settings.rollup.rollup_dirty_days_per_run,
    )


def _day_reserve_ms(runtime: Runtime) -> int:
    """The time a day may need. It runs several statements, each within one statement
    timeout: keep that and a margin in hand, as the retention purge does."""
    return runtime.settings.database.db_statement_timeout_ms + 5_000


def _while_time_left(
    days: Iterable[date], time_left_ms: Callable[[], int] | None, *, reserve_ms: int
) -> Iterator[date]:
    """``days`` in order, each only while more than ``reserve_ms`` remain."""
    for day in days:
        if time_left_ms is not None and time_left_ms() <= reserve_ms:
            return
        yield day


def _roll_up_day(runtime: Runtime, asked: _Asked, day: date) -> DayResult:
    """One day in its own transaction (``_roll_up_day_once``), on the runtime's database."""
    return runtime.database.run(
        partial(
            _roll_up_day_once,
            day=day,
            scope=asked.scope,
            property_id=asked.property_id,
            clock=runtime.clock,
            work_mem_mb=runtime.settings.rollup.rollup_work_mem_mb,
            breakdown_keys_per_day=runtime.settings.rollup.rollup_breakdown_keys_per_day,
            dry_run=asked.dry_run,
        ),
        transaction=False,
    )


def _roll_up_day_once(
    conn: psycopg.Connection,
    *,
    day: date,
    scope: Scope,
    property_id: str | None,
    clock: Callable[[], datetime],
    work_mem_mb: int,
    breakdown_keys_per_day: int,
    dry_run: bool,
) -> DayResult:
    # Its own transaction: a day is replaced whole or not at all, and a dry run's is
    # rolled back, so it computes exactly what a run would write and writes nothing. The
    # stamp is read here, not by the caller: a retry on a new connection (the commit of the
    # first attempt may have landed) writes a new version, never new rows under an old one.
    # A recompute of everything clears the day's dirty marks, those it read before reading
    # the raw data (``funnel.platform.dirty_days``).
    with conn.transaction(force_rollback=dry_run):
        whole = scope is Scope.ALL and property_id is None
        seen = dirty_days.seen_marks(conn, day) if whole else ()
        result = rollup_day(
            conn,
            day,
            scope=scope,
            property_id=property_id,
            generated_at=clock(),
            work_mem_mb=work_mem_mb,
            breakdown_keys_per_day=breakdown_keys_per_day,
        )
        dirty_days.clear(conn, day, seen)
        return result


def _monitor(
    runtime: Runtime, asked: _Asked, window: tuple[date, date], done: Sequence[DayResult]
) -> tuple[Discrepancy, ...]:
    """The discrepancy monitor over ``window``, counting the days this run wrote (none in
    a dry run) as rolled up."""
    return runtime.database.run(
        partial(
            find_discrepancies,
            window=window,
            scope=asked.scope,
            property_id=asked.property_id,
            run_days=[] if asked.dry_run else [result.day for result in done],
        )
    )


def _report(
    run_id: UUID | None,
    asked: _Asked,
    own: _OwnDays,
    dirty: dirty_days.DirtyPlan,
    done: Sequence[DayResult],
    *,
    monitored: tuple[date, date] | None,
    discrepancies: tuple[Discrepancy, ...],
) -> RollupReport:
    """What the run did. Dirty days not reached wait for the next run, as those past the
    bound do: a run that did its own days is complete."""
    return RollupReport(
        run_id=run_id,
        trigger=asked.trigger,
        scope=asked.scope,
        from_day=asked.from_day,
        to_day=asked.to_day,
        property_id=asked.property_id,
        dry_run=asked.dry_run,
        days=tuple(done),
        skipped_days=own.skipped,
        remaining_days=own.todo[len(done) :],
        monitored=monitored,
        discrepancies=discrepancies,
        dirty_days=tuple(result.day for result in done[len(own.todo) :]),
        carried_days=(*dirty.days[max(len(done) - len(own.todo), 0) :], *dirty.carried),
    )


def _finish_run(conn: psycopg.Connection, report: RollupReport, *, finished_at: datetime) -> None:
    error = None
    if not report.complete:
        error = (
            f"out of time: {len(report.remaining_days)} days not rolled up, "
            f"from {report.remaining_days[0].isoformat()}; the monitor did not run"
        )
    conn.execute(
        query("rollups/finish_run"),
        {
            "id": report.run_id,
            "status": "succeeded" if report.complete else "failed",
            "days": len(report.days),
            "skipped_days": len(report.skipped_days),
            "dirty_days": len(report.dirty_days),
            "carried_days": len(report.carried_days),
            "rows_written": report.rows_written,
            "discrepancies": len(report.discrepancies),
            "discrepancy_details": Jsonb([item.as_dict() for item in report.discrepancies]),
            "error": error,
            "finished_at": finished_at,
        },
    )


def _record_failure(
    runtime: Runtime,
    run_id: UUID,
    exc: Exception,
    *,
    done: Sequence[DayResult],
    skipped: Sequence[date],
    dirty: dirty_days.DirtyPlan,
) -> None:
    recomputed = {result.day for result in done}
    params = {
        "id": run_id,
        "status": "failed",
        "days": len(done),
        "skipped_days": len(skipped),
        "dirty_days": sum(day in recomputed for day in dirty.days),
        "carried_days": sum(day not in recomputed for day in (*dirty.days, *dirty.carried)),
        "rows_written": sum(result.rows_written for result in done),
        "discrepancies": 0,
        "discrepancy_details": Jsonb([]),
        "error": f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH],
        "finished_at": runtime.clock(),
    }
    try:
        runtime.database.run(lambda conn: conn.execute(query("rollups/finish_run"), params))
    except DatabaseUnavailable:
        logger.warning("rollup run failure not recorded; it stays 'running'", extra={"runId": str(run_id)})
