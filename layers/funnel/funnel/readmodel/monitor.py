"""The discrepancy monitor: after a run's days, raw counts are compared with the stored
rollups on every settled day still in raw retention that a run has rolled up, and each
difference is logged and recorded with the run (``funnel.readmodel.runs``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from aws_lambda_powertools import Logger

from funnel.capture.sessions import MAX_CLIENT_DELAY
from funnel.platform.sql import query
from funnel.readmodel.day import Scope, day_bounds

logger = Logger(child=True)


@dataclass(frozen=True)
class Discrepancy:
    """A raw count that differs from its rolled-up total: ``kind`` is ``property`` or
    ``tenant`` and ``key`` the property or tenant id."""

    day: date
    kind: str
    key: str
    metric: str
    raw: int
    rolled_up: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "kind": self.kind,
            "key": self.key,
            "metric": self.metric,
            "raw": self.raw,
            "rolledUp": self.rolled_up,
        }


def monitor_window(now: datetime, first_kept_day: date) -> tuple[date, date] | None:
    """The days the discrepancy monitor checks: from the first day raw retention keeps to
    the last settled day. A beacon may be dated up to ``MAX_CLIENT_DELAY`` before it
    arrives, so later days still move, and a difference there is news, not drift."""
    last = (now - MAX_CLIENT_DELAY).astimezone(UTC).date() - timedelta(days=1)
    return (first_kept_day, last) if first_kept_day <= last else None


def find_discrepancies(
    conn: psycopg.Connection,
    *,
    window: tuple[date, date],
    scope: Scope,
    property_id: str | None,
    run_days: Sequence[date] = (),
) -> tuple[Discrepancy, ...]:
    """Compare raw counts with the stored rollups over ``window`` and log each mismatch.

    Checks page views, entrances, form submits and new leads per property and day (every
    property, or ``property_id``) when ``scope`` covers marketing, and completed scans per
    tenant and day when it covers service usage; only on days a succeeded run (or this
    one: ``run_days``) rolled up and that are not marked dirty (``funnel.platform.dirty_days``: a run
    will recompute them). See ``queries/rollups/find_discrepancies.sql``.
    """
    first, last = window
    rows = conn.execute(
        query("rollups/find_discrepancies"),
        {
            "first_day": first,
            "last_day": last,
            "start_at": day_bounds(first)[0],
            "end_at": day_bounds(last)[1],
            "check_marketing": scope.marketing,
            "check_service_usage": scope.service_usage,
            "property_id": property_id,
            "run_scope": scope.value,
            "run_days": list(run_days),
        },
        prepare=False,
    ).fetchall()
    found = tuple(
        Discrepancy(day=day, kind=kind, key=key, metric=metric, raw=int(raw), rolled_up=int(rolled_up))
        for day, kind, key, metric, raw, rolled_up in rows
    )
    for item in found:
        logger.warning("rollup discrepancy", extra=item.as_dict())
    return found
