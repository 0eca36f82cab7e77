"""Ingest accounting: accepted, rejected (by error code), duplicate and bot events and
leads per property and UTC day, the data of the ingest-reliability rollup."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum

import psycopg

from funnel.sql import query


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
    one statement (zero counts are skipped). Rows are locked in a fixed order, so two
    requests adding to the same counters cannot deadlock."""
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
