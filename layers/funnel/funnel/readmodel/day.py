"""One UTC day of the read model, recomputed whole from the raw tables.

A day's rows replace what was stored for it, in one transaction holding that day's
advisory lock (``pg_advisory_xact_lock``): every column is set from the recomputation
(``SET x = EXCLUDED.x``, never ``x = x + ...``) and the day's rows of properties or tenants
that no longer have data that day are deleted. So a re-run changes nothing, two runs at
once leave the rows of one, and a late event is in the next run's numbers. Per UTC day:

- ``daily_metric_rollups`` per property: the sums the traffic metrics are ratios of
  (docs/metrics.md#summary-metrics), with HyperLogLog sketches of the day's visitors (all,
  and per traffic source) so a window's unique visitors are a union of days
  (``funnel.readmodel.sketch``), and the pre-merged sketches of the aligned runs of days
  that contain the day (``funnel.readmodel.sketch_blocks``);
- ``daily_breakdown_rollups`` per property, dimension and key: the day's page views by
  landing page, page, device type, country and traffic source, with a visitor sketch per
  key (at most ``ROLLUP_BREAKDOWN_KEYS_PER_DAY`` keys a dimension, the rest one
  ``(other)`` row);
- ``daily_ingest_rollups`` per property: the ingest counters (a settled day's counter rows
  folded into one per counter first, ``funnel.capture.accounting``), and the day's discrete TTFB
  p95 (as ``percentile_disc(0.95)``: a value some page view had) with its sample count,
  the weight of an event-weighted window p95;
- ``service_usage_rollups`` per tenant: the sums of docs/metrics.md#service-usage-metrics,
  with duration sums and counts.

The reads of raw data run with prepare=False. psycopg prepares a statement from its fifth
run on a connection (and a warm Lambda's connection sees many), and PostgreSQL may then
plan it once for any parameters; but how many rows a day holds, and whether a property
filter applies, only the parameters tell, so each read is planned for its own.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import compress
from typing import Any, LiteralString

import psycopg
from psycopg.rows import dict_row

from funnel.capture import accounting
from funnel.platform.schemas import OTHER
from funnel.platform.sql import query
from funnel.readmodel import sketch, sketch_blocks

# Arbitrary but fixed: the first key of every day's rollup lock; the second is the day.
LOCK_SPACE = 480_913_227


class Scope(StrEnum):
    """What a run rolls up: everything, the marketing and ingest tables (of every property
    or one), or service usage (per tenant, so never filtered by property)."""

    ALL = "all"
    MARKETING = "marketing"
    SERVICE_USAGE = "service_usage"

    @property
    def marketing(self) -> bool:
        return self is not Scope.SERVICE_USAGE

    @property
    def service_usage(self) -> bool:
        return self is not Scope.MARKETING


@dataclass(frozen=True)
class DayResult:
    """One day's replacement: rows upserted and deleted, per table."""

    day: date
    upserted: Mapping[str, int]
    deleted: Mapping[str, int]

    @property
    def rows_written(self) -> int:
        return sum(self.upserted.values()) + sum(self.deleted.values())

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "upserted": dict(self.upserted), "deleted": dict(self.deleted)}


@dataclass(frozen=True)
class _Target:
    """A rollup table and its ``replace_*`` statement, which takes one array per column,
    the property or tenant ids first."""

    table: str
    statement: LiteralString
    columns: tuple[str, ...]


_METRICS = _Target(
    "daily_metric_rollups",
    query("rollups/replace_metric_rollups"),
    (
        "property_ids",
        "unique_visitors",
        "returning_visitors",
        "visitors_sketch",
        "source_visitor_sketches",
        "total_page_views",
        "total_sessions",
        "total_entrances",
        "total_exits",
        "total_conversions",
        "form_starts",
        "form_submits",
        "new_leads",
        "time_to_first_capture_sum_ms",
        "time_to_first_capture_count",
        "traffic_source_breakdown",
        "top_landing_paths",
    ),
)
_BREAKDOWNS = _Target(
    "daily_breakdown_rollups",
    query("rollups/replace_breakdown_rollups"),
    (
        "property_ids",
        "dimensions",
        "keys",
        "visitors",
        "visitors_sketches",
        "page_views",
        "entrances",
        "conversions",
    ),
)
_INGEST = _Target(
    "daily_ingest_rollups",
    query("rollups/replace_ingest_rollups"),
    (
        "property_ids",
        "events_accepted",
        "events_rejected",
        "events_duplicate",
        "events_bot",
        "leads_accepted",
        "leads_rejected",
        "p95_ttfb_ms",
        "ttfb_samples",
        "error_breakdown",
    ),
)
_USAGE = _Target(
    "service_usage_rollups",
    query("rollups/replace_service_usage"),
    (
        "tenant_ids",
        "scans_completed",
        "scans_failed",
        "media_processed",
        "identities_detected",
        "clusters_created",
        "suggestions_generated",
        "suggestions_resolved",
        "avg_scan_duration_ms",
        "scan_duration_sum_ms",
        "scan_duration_count",
    ),
)
# A property with no page view that day (only sessions, form events or leads).
_NO_PAGES: Mapping[str, Any] = {"top_landing_paths": [], "p95_ttfb_ms": None, "ttfb_samples": 0}
# A property with page views but no ingest counter that day (counters are dated when
# received, page views when they occurred, so the two can straddle midnight).
_NO_COUNTERS: Mapping[str, Any] = {
    "events_accepted": 0,
    "events_rejected": 0,
    "events_duplicate": 0,
    "events_bot": 0,
    "leads_accepted": 0,
    "leads_rejected": 0,
    "error_breakdown": {},
}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a day starts and ends (exclusive)."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def rollup_day(
    conn: psycopg.Connection,
    day: date,
    *,
    scope: Scope,
    property_id: str | None,
    generated_at: datetime,
    work_mem_mb: int,
    breakdown_keys_per_day: int,
) -> DayResult:
    """Recompute ``day`` and replace its stored rows; call inside a transaction.

    The day's lock is taken first and held to the end of the caller's transaction, so
    runs of the same day queue instead of interleaving their reads and writes.

    Parameters
    ----------
    scope
        Which tables to replace.
    property_id
        Only this property's marketing and ingest rows (with ``Scope.MARKETING``).
    generated_at
        Stamped on every row written.
    work_mem_mb
        Sort and hash memory of the transaction's queries (``ROLLUP_WORK_MEM_MB``).
    breakdown_keys_per_day
        Keys of each breakdown dimension a property's day keeps, the largest; the rest are
        one ``(other)`` row (``ROLLUP_BREAKDOWN_KEYS_PER_DAY``).
    """
    conn.execute(query("rollups/lock_day"), {"lock_space": LOCK_SPACE, "day_number": day.toordinal()})
    conn.execute(query("rollups/set_work_mem"), {"work_mem": f"{work_mem_mb}MB"})
    start, end = day_bounds(day)
    read = {"day": day, "day_start": start, "day_end": end, "property_id": property_id}
    write = {"day": day, "only_property": property_id, "generated_at": generated_at}
    replaced: list[tuple[_Target, list[dict[str, Any]]]] = []
    if scope.marketing:
        accounting.fold_settled_day(conn, day, property_id=property_id, now=generated_at)
        metric_rows, ingest_rows = _marketing_rows(conn, read)
        replaced += [
            (_METRICS, metric_rows),
            (_INGEST, ingest_rows),
            (_BREAKDOWNS, _breakdown_rows(conn, read, breakdown_keys_per_day)),
        ]
    if scope.service_usage:
        usage = (
            conn.cursor(row_factory=dict_row)
            .execute(query("rollups/usage_by_tenant"), read, prepare=False)
            .fetchall()
        )
        replaced.append((_USAGE, [{**row, "tenant_ids": row["tenant_id"]} for row in usage]))
    written = {target.table: _replace(conn, target, rows, write) for target, rows in replaced}
    if scope.marketing:
        sketch_blocks.rebuild(conn, day, day, property_id=property_id)
    return DayResult(
        day=day,
        upserted={table: counts[0] for table, counts in written.items()},
        deleted={table: counts[1] for table, counts in written.items()},
    )


def _marketing_rows(
    conn: psycopg.Connection, params: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The day's marketing rows (a property with any page view, session, form event or
    new lead) and ingest rows (a property with any ingest counter or page view)."""
    cursor = conn.cursor(row_factory=dict_row)
    visits: dict[str, _Visits] = {}
    for row in cursor.execute(query("rollups/visits_by_source"), params, prepare=False):
        visits.setdefault(row["property_id"], _Visits()).add(row)

    def by_property(statement: LiteralString) -> dict[str, dict[str, Any]]:
        return {row["property_id"]: row for row in cursor.execute(statement, params, prepare=False)}

    pages = by_property(query("rollups/pages_by_property"))
    sessions = by_property(query("rollups/sessions_by_property"))
    forms = by_property(query("rollups/form_events_by_property"))
    leads = by_property(query("rollups/new_leads_by_property"))
    counters = by_property(query("rollups/ingest_counts_by_property"))

    metric_rows = []
    for property_id in sorted(visits.keys() | sessions.keys() | forms.keys() | leads.keys()):
        seen = visits.get(property_id, _Visits())
        form = forms.get(property_id, {})
        lead = leads.get(property_id, {})
        metric_rows.append(
            {
                "property_ids": property_id,
                "unique_visitors": len(seen.visitors),
                "returning_visitors": len(seen.returning),
                "visitors_sketch": seen.day_sketch(),
                "source_visitor_sketches": json.dumps(seen.source_sketches()),
                "total_page_views": seen.totals["page_views"],
                "total_sessions": sessions.get(property_id, {}).get("sessions", 0),
                "total_entrances": seen.totals["entrances"],
                "total_exits": seen.totals["exits"],
                "total_conversions": seen.totals["conversions"],
                "form_starts": form.get("form_starts", 0),
                "form_submits": form.get("form_submits", 0),
                "new_leads": lead.get("new_leads", 0),
                "time_to_first_capture_sum_ms": lead.get("time_to_first_capture_sum_ms", 0),
                "time_to_first_capture_count": lead.get("time_to_first_capture_count", 0),
                "traffic_source_breakdown": json.dumps(seen.page_views_by_source),
                "top_landing_paths": json.dumps(pages.get(property_id, _NO_PAGES)["top_landing_paths"]),
            }
        )
    ingest_rows = []
    for property_id in sorted(counters.keys() | visits.keys()):
        counted = counters.get(property_id, _NO_COUNTERS)
        page = pages.get(property_id, _NO_PAGES)
        ingest_rows.append(
            {
                **counted,
                "property_ids": property_id,
                "p95_ttfb_ms": page["p95_ttfb_ms"],
                "ttfb_samples": page["ttfb_samples"],
                "error_breakdown": json.dumps(counted["error_breakdown"]),
            }
        )
    return metric_rows, ingest_rows


def _breakdown_rows(
    conn: psycopg.Connection, params: Mapping[str, Any], keys_per_day: int
) -> list[dict[str, Any]]:
    """The day's breakdown rows (``queries/rollups/breakdowns_by_property.sql``): per
    property and dimension, the ``keys_per_day`` largest keys (by entrances for landing
    pages, by page views otherwise, then by key) with a sketch of their visitors, and the
    others folded into one ``(other)`` row, so the day's totals stay exact."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    cursor = conn.cursor(row_factory=dict_row)
    for row in cursor.execute(query("rollups/breakdowns_by_property"), params, prepare=False):
        grouped.setdefault((row["property_id"], row["dimension"]), []).append(row)
    rows = []
    for (property_id, dimension), keys in sorted(grouped.items()):
        rank = "entrances" if dimension == "landing_page" else "page_views"
        keys.sort(key=lambda row: (-row[rank], -row["page_views"], row["key"]))
        kept, folded = keys[:keys_per_day], keys[keys_per_day:]
        if folded:
            kept.append(
                {
                    "key": OTHER,
                    "visitor_ids": {visitor for row in folded for visitor in row["visitor_ids"]},
                    **{name: sum(row[name] for row in folded) for name in _BREAKDOWN_COUNTS},
                }
            )
        rows += [
            {
                "property_ids": property_id,
                "dimensions": dimension,
                "keys": row["key"],
                "visitors": len(row["visitor_ids"]),
                # sorted: a recompute of the same visitors stores the same sketch
                "visitors_sketches": sketch.visitors_sketch(sorted(row["visitor_ids"])),
                **{name: row[name] for name in _BREAKDOWN_COUNTS},
            }
            for row in kept
        ]
    return rows


_BREAKDOWN_COUNTS = ("page_views", "entrances", "conversions")


class _Visits:
    """A property's day of page views, folded in source by source
    (``queries/rollups/visits_by_source.sql``): totals, page views per source, its unique
    and returning visitors, and the visitor ids of each source for the sketches."""

    def __init__(self) -> None:
        self.totals: Counter[str] = Counter(page_views=0, entrances=0, exits=0, conversions=0)
        self.page_views_by_source: dict[str, int] = {}
        self.visitor_ids: dict[str, list[str]] = {}
        self.visitors: set[str] = set()
        self.returning: set[str] = set()

    def add(self, row: Mapping[str, Any]) -> None:
        source, ids = row["traffic_source"], row["visitor_ids"]
        for name in ("page_views", "entrances", "exits", "conversions"):
            self.totals[name] += row[name]
        self.page_views_by_source[source] = row["page_views"]
        self.visitors.update(ids)
        self.returning.update(compress(ids, row["returning"]))
        # A sketch's bytes and estimate depend on the order it is fed, and the query
        # returns ids in no particular order: sorted, a recompute of the same visitors
        # stores the same sketch.
        self.visitor_ids[source] = sorted(ids)

    def day_sketch(self) -> bytes | None:
        """The day's visitors sketch; None when it had no page view."""
        return sketch.visitors_sketch(sorted(self.visitors)) if self.visitors else None

    def source_sketches(self) -> dict[str, str]:
        """``{source: base64 sketch of its visitors}``."""
        return {
            source: base64.b64encode(sketch.visitors_sketch(ids)).decode("ascii")
            for source, ids in sorted(self.visitor_ids.items())
        }


def _replace(
    conn: psycopg.Connection, target: _Target, rows: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
) -> tuple[int, int]:
    """Replace the day's rows of ``target``; returns the rows upserted and deleted."""
    arrays = {column: [row[column] for row in rows] for column in target.columns}
    result = conn.execute(target.statement, {**arrays, **params}).fetchone()
    assert result is not None
    return int(result[0]), int(result[1])
