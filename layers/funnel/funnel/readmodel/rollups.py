"""Daily rollups: the read model the metrics API reads instead of raw events.

A UTC day is recomputed whole from the raw tables and replaces what was stored for it,
in one transaction holding that day's advisory lock (``pg_advisory_xact_lock``): every
column is set from the recomputation (``SET x = EXCLUDED.x``, never ``x = x + ...``) and
the day's rows of properties or tenants that no longer have data that day are deleted.
So a re-run changes nothing, two runs at once leave the rows of one, and a late event is
in the next run's numbers. Per UTC day:

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

A day older than raw retention (``RAW_RETENTION_DAYS``) is never recomputed: its raw data
is gone and its rollup is the only record left, so a run skips it and reports it. A
scheduled run also recomputes the days late writes marked dirty (``funnel.readmodel.dirty_days``),
a bounded number per run.

Every run is recorded in ``rollup_runs``: ``running`` as it starts (committed on its own,
so a run that dies is seen), ``succeeded`` or ``failed`` when it ends; freshness is read
from there. A dry run computes every day in a transaction that is rolled back, and
records nothing. After the days, the discrepancy monitor compares raw counts with the
stored rollups for every settled day still in raw retention that a run has rolled up.

One implementation behind three doors: ``RollupFunction`` (``handle_event``), the CLI
(``python -m funnel rollups-...``) and the tests all call ``run_rollups``.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import partial
from itertools import compress
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from aws_lambda_powertools import Logger
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from funnel.capture import accounting
from funnel.capture.beacons import MAX_CLIENT_DELAY
from funnel.metrics.schemas import OTHER
from funnel.platform.errors import DatabaseUnavailable
from funnel.platform.observability import traced
from funnel.platform.runtime import Runtime
from funnel.platform.sql import query
from funnel.privacy.retention import Horizon, first_kept_days
from funnel.readmodel import dirty_days, sketch, sketch_blocks
from funnel.readmodel.dirty_days import days_between
from funnel.readmodel.schemas import RollupRange, ScheduledRollup

logger = Logger(child=True)

# Arbitrary but fixed: the first key of every day's rollup lock; the second is the day.
LOCK_SPACE = 480_913_227
# The reads of raw data run with prepare=False. psycopg prepares a statement from its fifth
# run on a connection (and a warm Lambda's connection sees many), and PostgreSQL may then
# plan it once for any parameters; but how many rows a day holds, and whether a property
# filter applies, only the parameters tell, so each read is planned for its own.

# Stored errors are for an operator to read, not a traceback.
MAX_ERROR_LENGTH = 2000


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


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    INVOKE = "invoke"
    CLI = "cli"


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


@dataclass(frozen=True)
class RollupReport:
    """What a run did: the days rolled up (its own oldest first, then the dirty ones), the
    days skipped as past raw retention, the days not reached (out of time), what the
    monitor found over ``monitored`` (None when it did not run), and of the dirty days
    (``funnel.readmodel.dirty_days``) those it rolled up and those it left for the next run."""

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


# --------------------------------------------------------------------------- one day


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


# --------------------------------------------------------------------------- the monitor


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
    one: ``run_days``) rolled up and that are not marked dirty (``funnel.readmodel.dirty_days``: a run
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


# --------------------------------------------------------------------------- runs


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
        (``funnel.readmodel.dirty_days``). Those it leaves, past that bound or out of time, are
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
    scope = scope or (Scope.MARKETING if property_id is not None else Scope.ALL)
    if property_id is not None and scope is not Scope.MARKETING:
        raise ValueError("a property filter applies to the marketing and ingest rollups only")
    now = runtime.clock().astimezone(UTC)
    first_kept = first_kept_days(now.date(), runtime.settings.privacy)[Horizon.RAW]
    requested = days_between(from_day, to_day)
    skipped = tuple(day for day in requested if day < first_kept)
    todo = [day for day in requested if day >= first_kept]
    if skipped:
        logger.warning(
            "rollup days past raw retention skipped, their rollups kept as they are",
            extra={
                "first": skipped[0].isoformat(),
                "last": skipped[-1].isoformat(),
                "firstKeptDay": first_kept.isoformat(),
            },
        )
    # A day runs several statements, each within one statement timeout; keep that and a
    # margin in hand, as the retention purge does.
    reserve_ms = runtime.settings.database.db_statement_timeout_ms + 5_000

    run_id = None
    dirty = dirty_days.DirtyPlan(days=(), carried=())
    if not dry_run:

        def start(conn: psycopg.Connection) -> tuple[UUID, dirty_days.DirtyPlan]:
            started = _start_run(
                conn, trigger, scope, from_day, to_day, property_id, started_at=runtime.clock()
            )
            if not with_dirty_days:
                return started, dirty
            return started, dirty_days.plan(
                conn,
                now=now,
                first_kept_day=first_kept,
                own_days=todo,
                limit=runtime.settings.rollup.rollup_dirty_days_per_run,
            )

        run_id, dirty = runtime.database.run(start)
    work = [*todo, *dirty.days]
    done: list[DayResult] = []
    remaining: tuple[date, ...] = ()
    carried: tuple[date, ...] = dirty.carried
    window: tuple[date, date] | None = None
    found: tuple[Discrepancy, ...] = ()
    try:
        for day in work:
            if time_left_ms is not None and time_left_ms() <= reserve_ms:
                break
            done.append(
                runtime.database.run(
                    partial(
                        _rollup_day_once,
                        day=day,
                        scope=scope,
                        property_id=property_id,
                        clock=runtime.clock,
                        work_mem_mb=runtime.settings.rollup.rollup_work_mem_mb,
                        breakdown_keys_per_day=runtime.settings.rollup.rollup_breakdown_keys_per_day,
                        dry_run=dry_run,
                    ),
                    transaction=False,
                )
            )
            if progress is not None:
                progress(len(done), len(work), day)
        remaining = tuple(todo[len(done) :])
        # Dirty days not reached wait for the next run, as those past the bound do: a run
        # that did its own days is complete.
        carried = (*dirty.days[max(len(done) - len(todo), 0) :], *dirty.carried)
        if not remaining:
            window = monitor_window(now, first_kept)
        if window is not None:
            found = runtime.database.run(
                partial(
                    find_discrepancies,
                    window=window,
                    scope=scope,
                    property_id=property_id,
                    run_days=[] if dry_run else [result.day for result in done],
                )
            )
    except Exception as exc:
        logger.exception(
            "rollup run failed", extra={"runId": str(run_id) if run_id else None, "daysRolledUp": len(done)}
        )
        if run_id is not None:
            _record_failure(runtime, run_id, exc, done=done, skipped=skipped, dirty=dirty)
        raise

    report = RollupReport(
        run_id=run_id,
        trigger=trigger,
        scope=scope,
        from_day=from_day,
        to_day=to_day,
        property_id=property_id,
        dry_run=dry_run,
        days=tuple(done),
        skipped_days=skipped,
        remaining_days=remaining,
        monitored=window,
        discrepancies=found,
        dirty_days=tuple(result.day for result in done[len(todo) :]),
        carried_days=carried,
    )
    if run_id is not None:
        runtime.database.run(partial(_finish_run, report=report, finished_at=runtime.clock()))
    if report.complete:
        logger.info("rollup run finished", extra=report.summary())
    else:
        logger.warning("rollup run out of time", extra=report.summary())
    return report


def _rollup_day_once(
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
    # the raw data (``funnel.readmodel.dirty_days``).
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


def _start_run(
    conn: psycopg.Connection,
    trigger: Trigger,
    scope: Scope,
    from_day: date,
    to_day: date,
    property_id: str | None,
    *,
    started_at: datetime,
) -> UUID:
    row = conn.execute(
        query("rollups/start_run"),
        {
            "trigger": trigger.value,
            "scope": scope.value,
            "from_day": from_day,
            "to_day": to_day,
            "property_id": property_id,
            "started_at": started_at,
        },
    ).fetchone()
    assert row is not None
    run_id: UUID = row[0]
    return run_id


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


# --------------------------------------------------------------------------- the doors


@dataclass(frozen=True)
class RollupPlan:
    """A run asked for through a door, validated."""

    from_day: date
    to_day: date
    property_id: str | None
    dry_run: bool
    trigger: Trigger


def scheduled_range(today: date, batch_days: int) -> tuple[date, date]:
    """The days every scheduled run recomputes: today so far and the ``batch_days``
    before it, so events that arrive late land."""
    return today - timedelta(days=batch_days), today


def plan_from_event(event: Any, *, today: date, batch_days: int) -> RollupPlan:
    """Read the function's input: ``{"trigger": "schedule"}`` (the template's ``Input``;
    an EventBridge scheduled event without one reads the same) or a ``RollupRange``.

    Raises
    ------
    pydantic.ValidationError
        For anything else, or a range that is not allowed.
    """
    if isinstance(event, Mapping) and (
        "trigger" in event
        or (event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event")
    ):
        if "trigger" in event:
            ScheduledRollup.model_validate(event)
        first, last = scheduled_range(today, batch_days)
        return RollupPlan(first, last, None, False, Trigger.SCHEDULE)
    request = RollupRange.model_validate(event, context={"today": today})
    return RollupPlan(request.from_, request.to, request.propertyId, request.dryRun, Trigger.INVOKE)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """What failed, without echoing the input."""
    return [
        {
            "loc": ".".join(str(part) for part in error["loc"]) or "event",
            "msg": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]


@traced
def handle_event(
    runtime: Runtime, event: Any, *, time_left_ms: Callable[[], int] | None = None
) -> dict[str, Any]:
    """``RollupFunction``: read the event, run, and return ``{"ok": true, ...report}``.

    Input that does not validate is answered ``{"ok": false, "error":
    "validation_failed", "details": [...]}``, returned rather than raised: the invoker
    reads it as the result, and an asynchronous invocation is not retried for a mistake
    no retry can fix. A run that fails raises, so Lambda counts the error (and retries an
    asynchronous invocation; a rollup is safe to repeat).
    """
    today = runtime.clock().astimezone(UTC).date()
    try:
        plan = plan_from_event(event, today=today, batch_days=runtime.settings.rollup.rollup_batch_days)
    except ValidationError as exc:
        details = validation_details(exc)
        logger.warning("rollup input refused", extra={"errors": details})
        return {"ok": False, "error": "validation_failed", "details": details}
    report = run_rollups(
        runtime,
        from_day=plan.from_day,
        to_day=plan.to_day,
        property_id=plan.property_id,
        dry_run=plan.dry_run,
        trigger=plan.trigger,
        with_dirty_days=plan.trigger is Trigger.SCHEDULE,
        time_left_ms=time_left_ms,
    )
    return {"ok": True, **report.as_dict()}


# --------------------------------------------------------------------------- freshness


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
    monitor_finished_at: datetime | None
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
            monitor_finished_at=latest["finished_at"] if latest else None,
            discrepancies=tuple(latest["discrepancy_details"]) if latest else (),
            dirty=dirty_days.backlog(conn),
        )

    return runtime.database.run(read)
