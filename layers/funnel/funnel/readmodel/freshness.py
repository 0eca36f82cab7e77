"""How fresh the read model is: for the metrics API (``freshness``, from the ledger of
rollup runs), and for an operator (``rollup_status``: the latest runs, the latest full
monitor's findings and the dirty days waiting)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from funnel.platform import dirty_days
from funnel.platform.runtime import Runtime
from funnel.platform.sql import query


def freshness(conn: psycopg.Connection, today: date) -> tuple[date | None, int | None, datetime | None]:
    """How fresh the read model is, for the metrics API.

    Returns
    -------
    rolled_up_through
        The latest UTC day a succeeded run of the whole read model recomputed after the
        day had ended (see ``queries/rollups/freshness.sql``); None before any.
    lag_days
        ``today`` minus that day; None before any.
    generated_at
        When the latest such run finished; None before any.
    """
    row = conn.execute(query("rollups/freshness")).fetchone()
    through, generated_at = row if row is not None else (None, None)
    return through, (today - through).days if through is not None else None, generated_at


@dataclass(frozen=True)
class RollupStatus:
    """Freshness, the latest runs (newest first), the latest full monitor's findings and
    the dirty days waiting for a run."""

    today: date
    rolled_up_through: date | None
    lag_days: int | None
    generated_at: datetime | None
    runs: tuple[Mapping[str, Any], ...]
    monitor_run_id: UUID | None
    discrepancies: tuple[Mapping[str, Any], ...]
    dirty: dirty_days.Backlog


def rollup_status(runtime: Runtime, *, runs: int = 10) -> RollupStatus:
    """What ``rollups-status`` shows."""
    today = runtime.clock().astimezone(UTC).date()

    def read(conn: psycopg.Connection) -> RollupStatus:
        through, lag, generated_at = freshness(conn, today)
        cursor = conn.cursor(row_factory=dict_row)
        recent = cursor.execute(query("rollups/recent_runs"), {"limit": runs}).fetchall()
        latest = cursor.execute(query("rollups/latest_discrepancies")).fetchone()
        return RollupStatus(
            today=today,
            rolled_up_through=through,
            lag_days=lag,
            generated_at=generated_at,
            runs=tuple(recent),
            monitor_run_id=latest["id"] if latest else None,
            discrepancies=tuple(latest["discrepancy_details"]) if latest else (),
            dirty=dirty_days.backlog(conn),
        )

    return runtime.database.run(read)
