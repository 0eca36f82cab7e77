"""Ingest accounting: accepted, rejected (by error code), duplicate and bot events and
leads per property and UTC day, the data of the ingest-reliability rollup.

A counter is kept in rows per database backend, each request adding to its own
backend's row in its own transaction: a backend runs one transaction at a time, so no
request waits for another's counter, however many requests of one property run at once,
and the counts stay exact (a counter is the sum of its rows). The rollup folds a settled
day's rows into one per counter (:func:`fold_settled_day`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

import psycopg

from funnel.platform.sql import query

# Counters are dated by the day a request was received, and a request commits within its
# Lambda timeout (seconds): an hour after a day ends, none of its counters can still move.
SETTLED_AFTER = timedelta(hours=1)


class Kind(StrEnum):
    EVENT = "event"
    LEAD = "lead"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    BOT = "bot"


def add(
    conn: psycopg.Connection,
    *,
    property_id: str,
    day: date,
    kind: Kind,
    outcome: Outcome,
    count: int,
    code: str = "",
) -> None:
    """Add ``count`` to one counter (nothing when ``count`` is 0)."""
    if count:
        conn.execute(
            query("ingest_counters/add_counts"),
            {
                "property_id": property_id,
                "day": day,
                "kind": kind.value,
                "outcome": outcome.value,
                "code": code,
                "count": count,
            },
        )


def add_many(
    conn: psycopg.Connection, *, day: date, kind: Kind, counts: Mapping[tuple[str, Outcome], int]
) -> None:
    """Add to several counters of one day and kind, ``{(property_id, outcome): count}``, in
    one statement (zero counts are skipped)."""
    rows = sorted(
        (property_id, outcome.value, count) for (property_id, outcome), count in counts.items() if count
    )
    if rows:
        conn.execute(
            query("ingest_counters/add_many_counts"),
            {
                "day": day,
                "kind": kind.value,
                "property_id": [property_id for property_id, _, _ in rows],
                "outcome": [outcome for _, outcome, _ in rows],
                "code": [""] * len(rows),
                "count": [count for _, _, count in rows],
            },
        )


def fold_settled_day(conn: psycopg.Connection, day: date, *, property_id: str | None, now: datetime) -> int:
    """Fold ``day``'s counter rows (of every property, or of ``property_id``) into one row
    per counter once the day has settled (:data:`SETTLED_AFTER` past its end); call inside
    the transaction that reads them. Returns the rows folded away (0 for a day that has
    not settled)."""
    if now < datetime.combine(day + timedelta(days=1), time(), UTC) + SETTLED_AFTER:
        return 0
    row = conn.execute(query("ingest_counters/fold_day"), {"day": day, "property_id": property_id}).fetchone()
    return row[0] if row else 0
