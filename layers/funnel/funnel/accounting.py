"""Ingest accounting: accepted, rejected (by error code), duplicate and bot events and
leads per property and UTC day, the data of the ingest-reliability rollup."""

from __future__ import annotations

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
