"""Dirty days: the UTC days a write changed after the scheduled rollups stopped
recomputing them, so that every scheduled run recomputes them too, whatever their age
within raw retention.

Every scheduled run recomputes today and the ``ROLLUP_BATCH_DAYS`` days before. A write to
an older day (a webhook from a sender's backlog, a buffered request written after an
outage, a lead deleted by email, a page view's measures arriving days later) used to be
stored and never rolled up. Now:

- A write dated today or yesterday by the writer's clock (``written_at``: when it is
  written, not when its request was received) marks nothing, so the live ingest paths,
  whose beacons are at most 24 hours old, pay nothing. Such a write commits within its
  Lambda timeout, so an hour after a day's next day ends (:data:`SETTLE_AFTER`) none can
  still come: the day has *settled*, and the first scheduled run after that marks it once
  (:func:`settle`), so it is rolled up after the last of them.
- A write to an older day marks it (:func:`mark`), in the write's own transaction.

So a day is always either not yet settled (and marked when it settles) or marked by every
write since its last rollup, however many runs fail or are skipped in between. A mark is
a row per day and database backend (``migrations/0014_rollup_dirty_days.sql``): a backend
runs one transaction at a time, so no late write waits for another's mark, as with the
ingest counters. The rollup of a day reads its marks before it reads the raw data and
deletes only those it read, at the version it read (:func:`seen_marks`, :func:`clear`):
a write that commits meanwhile keeps its mark for the next run, and a write that marks
while the rollup deletes waits for that transaction, then marks anew.

A scheduled run (``funnel.readmodel.rollups.run_rollups`` with ``dirty_days``) settles the days due
first, then recomputes its own days and up to ``ROLLUP_DIRTY_DAYS_PER_RUN`` dirty days,
oldest first (:func:`plan`); the rest, and any it has no time left for, are carried to the
next run. Marks of days past raw retention are dropped: those days are never recomputed
(their rollups are the only record left), so the retention purge marks nothing either.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg
from aws_lambda_powertools import Logger

from funnel.capture.accounting import SETTLED_AFTER
from funnel.platform.sql import query

logger = Logger(child=True)

# A write commits within its Lambda timeout (15 minutes at most): an hour after a day's
# next day ends, no write that left it unmarked can still commit. The ingest counters
# settle on the same rule.
SETTLE_AFTER = SETTLED_AFTER


def utc_day(moment: datetime) -> date:
    """The UTC day of ``moment`` (a beacon's or webhook's time may carry any zone)."""
    return moment.astimezone(UTC).date()


def first_unmarked_day(written_at: datetime) -> date:
    """The oldest day a write at ``written_at`` leaves unmarked: yesterday (UTC)."""
    return utc_day(written_at) - timedelta(days=1)


def settled_through(now: datetime) -> date:
    """The latest day settled at ``now``: :data:`SETTLE_AFTER` past the end of the day after it."""
    return (now - SETTLE_AFTER).astimezone(UTC).date() - timedelta(days=2)


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included (none when ``first`` is later)."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@dataclass
class Changed:
    """The days a write changed what a rollup computes, gathered as it is made: ``days``,
    and every day from ``from_day`` on where it cannot tell which (a visitor's first visit
    moved earlier makes it returning on some later day)."""

    days: set[date] = field(default_factory=set)
    from_day: date | None = None

    def add(self, *days: date) -> None:
        self.days.update(days)

    def add_from(self, first: date) -> None:
        self.from_day = first if self.from_day is None else min(self.from_day, first)

    def due(self, written_at: datetime) -> tuple[date, ...]:
        """The days to mark: those older than yesterday, oldest first."""
        unmarked = first_unmarked_day(written_at)
        days = set(self.days)
        if self.from_day is not None:
            days.update(days_between(self.from_day, unmarked - timedelta(days=1)))
        return tuple(sorted(day for day in days if day < unmarked))


def mark(conn: psycopg.Connection, changed: Changed, *, written_at: datetime) -> tuple[date, ...]:
    """Mark the days a write changed that are older than yesterday; call in the write's
    transaction. No statement when there are none, the common case.

    Parameters
    ----------
    written_at
        The writer's clock when the write is made (not when its request arrived: a
        buffered request is written later).

    Returns
    -------
    tuple[date, ...]
        The days marked, oldest first.
    """
    due = changed.due(written_at)
    if due:
        conn.execute(query("dirty_days/mark_days"), {"days": list(due), "marked_at": written_at})
    return due


@dataclass(frozen=True)
class Settled:
    """What settling did: the latest settled day, the days marked as they settled, and
    the days whose marks were dropped as past raw retention."""

    through: date
    marked: tuple[date, ...]
    dropped: tuple[date, ...]


def settle(conn: psycopg.Connection, *, now: datetime, first_kept_day: date) -> Settled:
    """Mark the days that have settled since the last run, record the latest, and drop the
    marks of days before ``first_kept_day``; call inside a transaction.

    A database that has no record yet (migration 0014 writes it) marks every retained day
    that has settled; one whose record was removed (its tables emptied) starts from now.
    """
    through = settled_through(now)
    row = conn.execute(query("dirty_days/lock_settled")).fetchone()
    if row is None:
        first = through + timedelta(days=1)
    elif row[0] is None:
        first = first_kept_day
    else:
        first = max(row[0] + timedelta(days=1), first_kept_day)
    marked: tuple[date, ...] = ()
    if first <= through:
        conn.execute(
            query("dirty_days/mark_settled_days"), {"first_day": first, "last_day": through, "marked_at": now}
        )
        marked = tuple(days_between(first, through))
        logger.info(
            "settled days marked dirty",
            extra={"first": first.isoformat(), "last": through.isoformat(), "days": len(marked)},
        )
    if row is None or row[0] is None or row[0] < through:
        conn.execute(query("dirty_days/set_settled"), {"settled_through": through})
    expired = conn.execute(query("dirty_days/drop_expired"), {"first_kept_day": first_kept_day})
    dropped = tuple(sorted({day for (day,) in expired}))
    if dropped:
        logger.warning(
            "dirty days past raw retention dropped, their rollups kept as they are",
            extra={"first": dropped[0].isoformat(), "last": dropped[-1].isoformat(), "days": len(dropped)},
        )
    recorded = row[0] if row is not None else None
    return Settled(through=max(through, recorded or through), marked=marked, dropped=dropped)


@dataclass(frozen=True)
class DirtyPlan:
    """The dirty days a run recomputes beyond its own days (oldest first), and those it
    leaves for the next run."""

    days: tuple[date, ...]
    carried: tuple[date, ...]


def plan(
    conn: psycopg.Connection,
    *,
    now: datetime,
    first_kept_day: date,
    own_days: Collection[date],
    limit: int,
) -> DirtyPlan:
    """Settle what is due, then choose the dirty days a scheduled run recomputes besides
    ``own_days`` (which it recomputes anyway): at most ``limit``, oldest first, since the
    oldest are the nearest to leaving raw retention unrecomputed. Call in a transaction."""
    settle(conn, now=now, first_kept_day=first_kept_day)
    today = utc_day(now)
    dirty = [
        day
        for (day,) in conn.execute(
            query("dirty_days/list_days"), {"first_day": first_kept_day, "last_day": today}
        )
        if day not in own_days
    ]
    return DirtyPlan(days=tuple(dirty[:limit]), carried=tuple(dirty[limit:]))


def seen_marks(conn: psycopg.Connection, day: date) -> tuple[tuple[int, int], ...]:
    """The day's marks, ``(backend_pid, version)``, read in the rollup's transaction before
    it reads the raw data."""
    return tuple(
        (pid, version) for pid, version in conn.execute(query("dirty_days/read_marks"), {"day": day})
    )


def clear(conn: psycopg.Connection, day: date, seen: Sequence[tuple[int, int]]) -> None:
    """Delete the marks ``seen`` of ``day``, those still at the version read; call at the
    end of the transaction that replaced the day."""
    if seen:
        conn.execute(
            query("dirty_days/clear_marks"),
            {
                "day": day,
                "backend_pids": [pid for pid, _ in seen],
                "versions": [version for _, version in seen],
            },
        )


@dataclass(frozen=True)
class Backlog:
    """The dirty days waiting for a run: how many, the oldest, and when its mark was made."""

    days: int
    oldest_day: date | None
    oldest_mark: datetime | None


def backlog(conn: psycopg.Connection) -> Backlog:
    row = conn.execute(query("dirty_days/summarize_marks")).fetchone()
    assert row is not None
    return Backlog(days=row[0], oldest_day=row[1], oldest_mark=row[2])
