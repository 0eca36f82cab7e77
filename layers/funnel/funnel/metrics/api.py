"""The metrics API, served from the read model: the daily rollups (breakdowns included),
the tenant milestones and the leads (for lead counts and first touch), never raw events,
so the cost of an answer follows the number of days, properties and tenants, not the
traffic. The one exception is ``visitors_now`` (``GET /v1/metrics/now``), a live count of
the last five minutes' events through an index that bounds it by those minutes.

``summary`` answers ``GET /v1/metrics/summary`` and ``service_usage``
``GET /v1/metrics/service-usage``, as docs/metrics.md defines them. Both:

* resolve the window (inclusive UTC days, or a ``period`` relative to today; by default
  the last 30 complete days) against the runtime's clock and refuse impossible ones
  (``funnel.metrics.windows``, where the window and delta maths live);
* read everything of one answer from one snapshot (``REPEATABLE READ, READ ONLY``);
* keep answers in a ``ReportCache`` of the warm container, keyed by the request and the
  data version: the newest ``generated_at`` of the rollups and the newest successful
  rollup run. Checking that version is one statement of index probes, so a new rollup is
  visible to the very next request. Lead and tenant counts are read live from their
  tables, which the version does not follow (an index on their update times would cost
  every webhook its HOT update): an answer is therefore kept at most ``CACHE_MAX_AGE``,
  and those counts are at most that old.
"""

from __future__ import annotations

import time as timer
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from aws_lambda_powertools import Logger
from psycopg.rows import dict_row
from pydantic import BaseModel

from funnel.metrics.schemas import (
    NOT_SET,
    UNATTRIBUTED,
    Breakdowns,
    Freshness,
    Funnel,
    FunnelGroups,
    GroupBy,
    Ingest,
    NowQuery,
    NowResponse,
    RequestedWindow,
    ServiceUsageQuery,
    ServiceUsageResponse,
    SummaryMetrics,
    SummaryQuery,
    SummaryResponse,
    TimeToFirstScan,
    TrafficDay,
    UsageDay,
    UsageMetrics,
    Window,
)
from funnel.metrics.windows import (
    NOW_WINDOW_SECONDS,
    Number,
    active_from,
    compared,
    comparison_window,
    now_bounds,
    ratio,
    resolve_window,
    utc_today,
    window_bounds,
)
from funnel.platform.observability import traced
from funnel.platform.runtime import Runtime
from funnel.platform.schemas import OTHER
from funnel.platform.sql import query
from funnel.readmodel import sketch_blocks
from funnel.readmodel.freshness import freshness
from funnel.readmodel.sketch import SketchMemo, decode, union_decoded

logger = Logger(child=True)

MS_PER_HOUR = 3_600_000
CACHE_ENTRIES = 128
# How long a cached answer may be served while its data version holds (see the docstring).
CACHE_MAX_AGE_SECONDS = 60.0

# The version of a rollup row's sketches: its id and generated_at. Rows are replaced whole
# by a re-roll, which always writes a new generated_at (and a re-inserted day has a new id).
RowVersion = tuple[UUID, datetime]

# The decoded daily sketches of the warm container, by what they are and their row's
# version: a request fetches and deserialises only the sketches of rows it has not seen.
decoded_sketches: SketchMemo[Any] = SketchMemo()


# --- parameters and rows --------------------------------------------------------------


def _window_params(window: Window) -> dict[str, Any]:
    start_at, end_at = window_bounds(window)
    return {"from_day": window.start, "to_day": window.end, "start_at": start_at, "end_at": end_at}


def _rows(
    conn: psycopg.Connection, statement: LiteralString, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    # Binary results: the visitor sketches are most of the bytes, and text would send each
    # twice over (hex) and decode it again.
    return conn.cursor(row_factory=dict_row, binary=True).execute(statement, params).fetchall()


def _row(conn: psycopg.Connection, statement: LiteralString, params: Mapping[str, Any]) -> dict[str, Any]:
    (row,) = _rows(conn, statement, params)
    return row


# --- reading the read model -----------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """A window's marketing rollups, summed (``queries/metrics/summarize_traffic.sql``)."""

    unique_visitors: int
    row: Mapping[str, Any]

    def values(self) -> dict[str, Number | None]:
        """The summary's metric values, as window ratios (docs/metrics.md#summary-metrics)."""
        row = self.row
        return {
            "uniqueVisitors": self.unique_visitors,
            "returningVisitorsPct": ratio(row["returning_visitor_days"], row["unique_visitor_days"]),
            "totalPageViews": row["page_views"],
            "leadCaptureRate": ratio(row["new_leads"], self.unique_visitors),
            "formCompletionRate": ratio(row["form_submits"], row["form_starts"]),
            "landingPageConversionRate": ratio(row["conversions"], row["entrances"]),
            "avgTimeToFirstCaptureHrs": ratio(
                row["time_to_first_capture_sum_ms"], row["time_to_first_capture_count"] * MS_PER_HOUR
            ),
        }

    def source_mix(self) -> dict[str, float]:
        """Each traffic source's share of page views, largest first; {} without page views."""
        page_views: Mapping[str, int] = self.row["source_page_views"]
        total = sum(page_views.values())
        if not total:
            return {}
        ranked = sorted(page_views.items(), key=lambda item: (-item[1], item[0]))
        return {source: count / total for source, count in ranked if count}


def read_traffic(conn: psycopg.Connection, window: Window, property_id: str | None) -> Traffic:
    """Sum a window's marketing rollups and merge its visitor sketches."""
    row = _row(
        conn, query("metrics/summarize_traffic"), {**_window_params(window), "property_id": property_id}
    )
    days, blocks = _window_sketches(conn, window, property_id)
    sketches = _decoded(conn, "visitors", days, query("metrics/list_visitor_sketches"), _decode_visitors)
    sketches += _decoded(
        conn, "visitor-blocks", blocks, query("metrics/list_block_visitor_sketches"), _decode_visitors
    )
    return Traffic(unique_visitors=union_decoded(sketches), row=row)


def _window_sketches(
    conn: psycopg.Connection, window: Window, property_id: str | None
) -> tuple[list[RowVersion], list[RowVersion]]:
    """The daily rows and the pre-merged blocks whose sketches together hold the window's
    visitors (of one property, or every property), each by its version
    (``list_window_sketches.sql``, ``funnel.readmodel.sketch_blocks``)."""
    params = {
        **_window_params(window),
        **sketch_blocks.stored_pieces(window.start, window.end),
        "property_id": property_id,
    }
    days: list[RowVersion] = []
    blocks: list[RowVersion] = []
    for is_block, row_id, generated_at in conn.execute(query("metrics/list_window_sketches"), params):
        (blocks if is_block else days).append((row_id, generated_at))
    return days, blocks


def _decode_visitors(rows: list[dict[str, Any]]) -> dict[RowVersion, tuple[Any, int]]:
    return {(row["id"], row["generated_at"]): (decode(row["sketch"]), len(row["sketch"])) for row in rows}


def _decode_sources(rows: list[dict[str, Any]]) -> dict[RowVersion, tuple[Any, int]]:
    by_row: dict[RowVersion, tuple[dict[str, Any], int]] = {}
    for row in rows:
        sketches, size = by_row.get((row["id"], row["generated_at"]), ({}, 0))
        if row["source"] is not None:
            sketches[row["source"]] = decode(row["sketch"])
            size += len(row["sketch"])
        by_row[(row["id"], row["generated_at"])] = (sketches, size)
    return dict(by_row)


def _decoded(
    conn: psycopg.Connection,
    kind: str,
    versions: Sequence[RowVersion],
    statement: LiteralString,
    decode_rows: Callable[[list[dict[str, Any]]], dict[RowVersion, tuple[Any, int]]],
) -> list[Any]:
    """The decoded sketches of the rows ``versions``, in their order: those of the warm
    container's memo, and the others fetched by id with ``statement`` (in the same
    snapshot, so at the version asked for), decoded with ``decode_rows`` and memoised."""
    found = {version: decoded_sketches.get((kind, *version)) for version in versions}
    missing = [version[0] for version, sketch in found.items() if sketch is None]
    if missing:
        for version, (sketch, size) in decode_rows(_rows(conn, statement, {"ids": missing})).items():
            if version in found:
                decoded_sketches.put((kind, *version), sketch, size)
                found[version] = sketch
    unread = [version for version, sketch in found.items() if sketch is None]
    if unread:
        raise LookupError(f"{kind} sketches of rows {unread} changed within the snapshot")
    return [found[version] for version in versions]


def read_ingest(conn: psycopg.Connection, window: Window, property_id: str | None) -> Ingest:
    row = _row(
        conn, query("metrics/summarize_ingest"), {**_window_params(window), "property_id": property_id}
    )
    accepted, rejected = row["events_accepted"], row["events_rejected"]
    return Ingest(
        successPct=ratio(accepted, accepted + rejected),
        p95TtfbMs=ratio(row["ttfb_weighted_sum"], row["ttfb_samples"]),
        totalEventsAccepted=accepted,
        totalEventsRejected=rejected,
        totalEventsDuplicate=row["events_duplicate"],
        totalEventsBot=row["events_bot"],
    )


def read_usage(conn: psycopg.Connection, window: Window, tenant_id: str | None) -> dict[str, Number | None]:
    """The eight usage metric values of a window (docs/metrics.md#service-usage-metrics)."""
    row = _row(conn, query("metrics/summarize_usage"), {**_window_params(window), "tenant_id": tenant_id})
    completed, failed = row["scans_completed"], row["scans_failed"]
    return {
        "totalScansCompleted": completed,
        "totalScansFailed": failed,
        "scanSuccessRate": ratio(completed, completed + failed),
        "totalMediaProcessed": row["media_processed"],
        "totalIdentitiesDetected": row["identities_detected"],
        "avgScanDurationMs": ratio(row["scan_duration_sum_ms"], row["scan_duration_count"]),
        "totalClustersCreated": row["clusters_created"],
        "suggestionResolutionRate": ratio(row["suggestions_resolved"], row["suggestions_generated"]),
    }


def read_freshness(conn: psycopg.Connection, today: date) -> Freshness:
    """How current the rollups are (``funnel.readmodel.freshness``, from the run ledger)."""
    through, lag_days, generated_at = freshness(conn, today)
    return Freshness(rolledUpThrough=through, lagDays=lag_days, generatedAt=generated_at)


_NO_TENANTS: Mapping[str, Any] = {
    "tenants_created": 0,
    "tenants_with_lead": 0,
    "tenants_with_api_key": 0,
    "tenants_with_first_scan": 0,
    "tenants_active": 0,
    "median_hours_to_first_scan": None,
    "mean_hours_to_first_scan": None,
}


def _funnel(visitors: int | None, leads: int, cohort: Mapping[str, Any]) -> Funnel:
    created = cohort["tenants_created"]
    return Funnel(
        marketingVisitors=visitors,
        leadsCaptured=leads,
        tenantsCreated=created,
        tenantsWithApiKey=cohort["tenants_with_api_key"],
        tenantsWithFirstScan=cohort["tenants_with_first_scan"],
        tenantsActive30d=cohort["tenants_active"],
        leadToTenantConversionRate=ratio(cohort["tenants_with_lead"], leads),
        activationRate=ratio(cohort["tenants_with_first_scan"], created),
        apiKeyCreationRate=ratio(cohort["tenants_with_api_key"], created),
        timeToFirstScanHours=TimeToFirstScan(
            median=cohort["median_hours_to_first_scan"], mean=cohort["mean_hours_to_first_scan"]
        ),
    )


def _split(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A grouping-sets result as (its total row, its rows by group)."""
    total = next(row for row in rows if row["is_total"])
    return total, {row["grp"]: row for row in rows if not row["is_total"]}


def channel_visitors(conn: psycopg.Connection, window: Window) -> dict[str, int]:
    """Unique visitors of each traffic source over a window (every property)."""
    days, blocks = _window_sketches(conn, window, None)
    sketches: defaultdict[str, list[Any]] = defaultdict(list)
    for by_source in _decoded(
        conn, "sources", days, query("metrics/list_source_sketches"), _decode_sources
    ) + _decoded(conn, "source-blocks", blocks, query("metrics/list_block_source_sketches"), _decode_sources):
        for source, sketch in by_source.items():
            sketches[source].append(sketch)
    return {source: union_decoded(days) for source, days in sketches.items()}


def read_funnel(
    conn: psycopg.Connection,
    window: Window,
    *,
    visitors: int,
    property_id: str | None = None,
    tenant_id: str | None = None,
    group_by: GroupBy | None = None,
) -> tuple[Funnel, FunnelGroups | None]:
    """The window's funnel, and with ``group_by`` the funnel of each first-touch group.

    Parameters
    ----------
    visitors
        The window's unique visitors (the funnel's first stage).
    property_id
        Count only this property's leads (visitors are the caller's).
    tenant_id
        Follow only this tenant through the tenant stages.
    group_by
        ``channel``, ``utm_source`` or ``utm_campaign`` of the leads' first touch. Visitors
        per group exist only for channels (the rollups keep a visitor sketch per traffic
        source, none per UTM value), so they are None for UTM groups and for the
        ``unattributed`` and ``(not set)`` groups.
    """
    params = {
        **_window_params(window),
        "active_from": active_from(window),
        "property_id": property_id,
        "tenant_id": tenant_id,
        "group_by": group_by,
    }
    cohort, cohort_groups = _split(_rows(conn, query("metrics/summarize_tenant_cohort"), params))
    # Without groups, only the total: no grouping of every lead of the window.
    counted = query("metrics/count_leads_captured") if group_by else query("metrics/count_leads_total")
    leads, lead_groups = _split(_rows(conn, counted, params))
    total = _funnel(visitors, leads["leads"], cohort)
    if group_by is None:
        return total, None
    by_channel = channel_visitors(conn, window) if group_by == "channel" else {}
    names = sorted(set(cohort_groups) | set(lead_groups) | set(by_channel))
    groups = {
        name: _funnel(
            None if group_by != "channel" or name in (UNATTRIBUTED, NOT_SET) else by_channel.get(name, 0),
            lead_groups[name]["leads"] if name in lead_groups else 0,
            cohort_groups.get(name, _NO_TENANTS),
        )
        for name in names
    }
    return total, FunnelGroups(groupBy=group_by, groups=groups)


# The breakdowns' stored dimensions and their lists in the answer.
BREAKDOWNS = {
    "landing_page": "landingPages",
    "page": "topPages",
    "device": "devices",
    "country": "countries",
    "source": "sources",
}


# A property day's breakdowns, decoded: (dimension, key) -> counts and the visitor sketch.
DayBreakdowns = dict[tuple[str, str], tuple[int, int, int, Any]]


def read_breakdowns(
    conn: psycopg.Connection, window: Window, property_id: str | None, top: int
) -> Breakdowns:
    """The window's breakdowns from ``daily_breakdown_rollups``: counts summed over its
    days, each key's visitors merged from its daily sketches, the ``top`` keys of each
    dimension by visitors, and the rest (with the days' own ``(other)`` rows) as one
    ``(other)`` row. A property day's rows are fetched and decoded once per version and
    kept in the warm container's memo, whole: a window costs a lookup per day."""
    days = _breakdown_days(conn, window, property_id)
    keys: defaultdict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0, 0, []])
    for day in days:
        for place, (page_views, entrances, conversions, sketch) in day.items():
            totals = keys[place]
            totals[0] += page_views
            totals[1] += entrances
            totals[2] += conversions
            totals[3].append(sketch)
    lists: dict[str, list[dict[str, Any]]] = {}
    for dimension, name in BREAKDOWNS.items():
        ranked = sorted(
            (
                (union_decoded(totals[3]), key, totals)
                for (of, key), totals in keys.items()
                if of == dimension and key != OTHER
            ),
            key=lambda item: (-item[0], -item[2][0], item[1]),
        )
        shown = [_breakdown(key, visitors, totals) for visitors, key, totals in ranked[:top]]
        rest = [totals for _, _, totals in ranked[top:]]
        if (dimension, OTHER) in keys:
            rest.append(keys[(dimension, OTHER)])
        if rest:
            merged = [sum(totals[index] for totals in rest) for index in range(3)]
            visitors = union_decoded(sketch for totals in rest for sketch in totals[3])
            shown.append(_breakdown(OTHER, visitors, [*merged, []]))
        lists[name] = shown
    return Breakdowns.model_validate(lists)


def _breakdown_days(conn: psycopg.Connection, window: Window, property_id: str | None) -> list[DayBreakdowns]:
    """The decoded breakdowns of each property day of the window (day and property order):
    those of the memo at their version, the others fetched in one statement (in the same
    snapshot, so at the version listed) and memoised."""
    listed = conn.execute(
        query("metrics/list_breakdown_days"), {**_window_params(window), "property_id": property_id}
    ).fetchall()
    found = {
        (prop, day): decoded_sketches.get(("breakdowns", prop, day, *version))
        for prop, day, *version in listed
    }
    missing = [place for place, decoded in found.items() if decoded is None]
    if missing:
        fetched: dict[tuple[str, date], DayBreakdowns] = defaultdict(dict)
        sizes: dict[tuple[str, date], int] = defaultdict(int)
        params = {"property_ids": [prop for prop, _ in missing], "days": [day for _, day in missing]}
        for row in _rows(conn, query("metrics/list_breakdown_rows"), params):
            place = (row["property_id"], row["day"])
            fetched[place][(row["dimension"], row["key"])] = (
                row["page_views"],
                row["entrances"],
                row["conversions"],
                decode(row["sketch"]),
            )
            sizes[place] += len(row["sketch"])
        for prop, day, *version in listed:
            if (prop, day) in fetched:
                decoded_sketches.put(
                    ("breakdowns", prop, day, *version), fetched[(prop, day)], sizes[(prop, day)]
                )
                found[(prop, day)] = fetched[(prop, day)]
    return [found[(prop, day)] or {} for prop, day, *_ in listed]


def _breakdown(key: str, visitors: int, totals: Sequence[Any]) -> dict[str, Any]:
    return {
        "key": key,
        "visitors": visitors,
        "pageViews": totals[0],
        "entrances": totals[1],
        "conversions": totals[2],
    }


def read_properties(conn: psycopg.Connection) -> list[str]:
    """Every property with a marketing rollup, in order (``list_properties.sql``)."""
    return [row[0] for row in conn.execute(query("metrics/list_properties"))]


def read_trend(conn: psycopg.Connection, window: Window, property_id: str | None) -> list[TrafficDay]:
    """Every day of the window: visitors, page views and new leads (zeros where none)."""
    rows = _rows(
        conn, query("metrics/list_traffic_trend"), {**_window_params(window), "property_id": property_id}
    )
    return [
        TrafficDay(
            day=row["day"],
            uniqueVisitors=row["unique_visitors"],
            pageViews=row["page_views"],
            newLeads=row["new_leads"],
        )
        for row in rows
    ]


# --- the two answers ------------------------------------------------------------------


def build_summary(
    conn: psycopg.Connection, request: SummaryQuery, window: RequestedWindow, today: date
) -> SummaryResponse:
    """Compute ``GET /v1/metrics/summary`` for a resolved window on ``conn``."""
    comparison = comparison_window(window) if request.compare_to else None
    current = read_traffic(conn, window, request.property_id)
    previous = read_traffic(conn, comparison, request.property_id) if comparison else None
    funnel = (
        read_funnel(conn, window, visitors=current.unique_visitors, property_id=request.property_id)[0]
        if request.include_funnel
        else None
    )
    return SummaryResponse(
        window=window,
        compareTo=comparison,
        freshness=read_freshness(conn, today),
        metrics=SummaryMetrics(
            **compared(current.values(), previous.values() if previous else None),
            trafficSourceMix=current.source_mix(),
        ),
        ingest=read_ingest(conn, window, request.property_id),
        trend=read_trend(conn, window, request.property_id),
        compareTrend=read_trend(conn, comparison, request.property_id) if comparison else None,
        funnel=funnel,
        breakdowns=(
            read_breakdowns(conn, window, request.property_id, request.top)
            if request.include_breakdowns
            else None
        ),
        properties=read_properties(conn),
    )


def build_service_usage(
    conn: psycopg.Connection, request: ServiceUsageQuery, window: RequestedWindow, today: date
) -> ServiceUsageResponse:
    """Compute ``GET /v1/metrics/service-usage`` for a resolved window on ``conn``."""
    comparison = comparison_window(window) if request.compare_to else None
    usage = read_usage(conn, window, request.tenant_id)
    previous = read_usage(conn, comparison, request.tenant_id) if comparison else None
    funnel, groups = read_funnel(
        conn,
        window,
        visitors=read_traffic(conn, window, None).unique_visitors,
        tenant_id=request.tenant_id,
        group_by=request.group_by,
    )
    trend = _rows(
        conn, query("metrics/list_usage_trend"), {**_window_params(window), "tenant_id": request.tenant_id}
    )
    return ServiceUsageResponse(
        window=window,
        compareTo=comparison,
        freshness=read_freshness(conn, today),
        usage=UsageMetrics(**compared(usage, previous)),
        funnel=funnel,
        funnelByGroup=groups,
        trend=[
            UsageDay(
                day=row["day"],
                scansCompleted=row["scans_completed"],
                mediaProcessed=row["media_processed"],
                identitiesDetected=row["identities_detected"],
            )
            for row in trend
        ],
    )


# --- serving: snapshot, cache, clock --------------------------------------------------


class ReportCache:
    """Answers kept by a warm container, each valid for one data version and for at most
    ``max_age_seconds``.

    Parameters
    ----------
    max_entries
        How many answers to keep; the least recently used goes first.
    max_age_seconds
        How long an answer is served after it was computed, whatever the version.
    clock
        Seconds on a monotonic clock.
    """

    def __init__(
        self,
        max_entries: int = CACHE_ENTRIES,
        max_age_seconds: float = CACHE_MAX_AGE_SECONDS,
        clock: Callable[[], float] = timer.monotonic,
    ) -> None:
        self._max_entries = max_entries
        self._max_age = max_age_seconds
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[datetime | None, float, BaseModel]] = OrderedDict()

    def get(self, key: Hashable, version: datetime | None) -> BaseModel | None:
        """The answer stored for ``key`` if it was computed at ``version``, recently enough."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != version or self._clock() - entry[1] > self._max_age:
            return None
        self._entries.move_to_end(key)
        return entry[2]

    def put(self, key: Hashable, version: datetime | None, answer: BaseModel) -> None:
        self._entries[key] = (version, self._clock(), answer)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


def data_version(conn: psycopg.Connection) -> datetime | None:
    """The newest rollup write or successful rollup run (``find_data_version.sql``)."""
    version: datetime | None = _row(conn, query("metrics/find_data_version"), {})["version"]
    return version


def _serve[Report: BaseModel](
    runtime: Runtime,
    cache: ReportCache | None,
    key: tuple[Hashable, ...],
    build: Callable[[psycopg.Connection], Report],
    kind: type[Report],
) -> Report:
    started = timer.perf_counter()
    version = runtime.database.run(data_version, transaction=False) if cache is not None else None
    cached = cache.get(key, version) if cache is not None else None
    if isinstance(cached, kind):
        report, outcome = cached, "hit"
    else:

        def compute(conn: psycopg.Connection) -> Report:
            conn.execute(query("metrics/set_snapshot"))
            return build(conn)

        # Computed at least as new as `version`: if a rollup landed in between, the next
        # request sees a newer version and recomputes, so nothing stale outlives it.
        report = runtime.database.run(compute)
        outcome = "miss" if cache is not None else "off"
        if cache is not None:
            cache.put(key, version, report)
    logger.info(
        "metrics report",
        extra={
            "report": key[0],
            "cache": outcome,
            "data_version": version,
            "duration_ms": round((timer.perf_counter() - started) * 1000, 1),
        },
    )
    return report


@traced
def summary(runtime: Runtime, request: SummaryQuery, cache: ReportCache | None = None) -> SummaryResponse:
    """``GET /v1/metrics/summary``: traffic, ingest and (on request) funnel of a window.

    Parameters
    ----------
    runtime
        The database and the clock ("today" is the clock's UTC day).
    request
        The validated query string.
    cache
        The warm container's answers; None computes every time (benchmarks, backfills).

    Raises
    ------
    MalformedRequest, ValidationFailed
        For an impossible window (see ``resolve_window``).
    """
    today = utc_today(runtime.clock())
    window = resolve_window(request.start, request.end, today, request.period)
    return _serve(
        runtime,
        cache,
        ("summary", request, window, today),
        lambda conn: build_summary(conn, request, window, today),
        SummaryResponse,
    )


@traced
def service_usage(
    runtime: Runtime, request: ServiceUsageQuery, cache: ReportCache | None = None
) -> ServiceUsageResponse:
    """``GET /v1/metrics/service-usage``: description-service usage and the acquisition
    funnel of a window, optionally by first-touch group (see ``summary`` for the parameters).

    Raises
    ------
    MalformedRequest, ValidationFailed
        For an impossible window (see ``resolve_window``).
    """
    today = utc_today(runtime.clock())
    window = resolve_window(request.start, request.end, today, request.period)
    return _serve(
        runtime,
        cache,
        ("service_usage", request, window, today),
        lambda conn: build_service_usage(conn, request, window, today),
        ServiceUsageResponse,
    )


@traced
def visitors_now(runtime: Runtime, request: NowQuery) -> NowResponse:
    """``GET /v1/metrics/now``: the distinct visitors with an event in the last
    ``NOW_WINDOW_SECONDS`` seconds, live (never cached), the one read of raw events
    (``queries/metrics/count_visitors_now.sql``, cheap by ``0015_visitors_now_index``).

    An event dated up to ``MAX_CLIENT_AHEAD`` after the request (a client clock ahead, as
    ingest believes it) counts too: its visitor is on the site now (``windows.now_bounds``).
    """
    as_of = runtime.clock().astimezone(UTC)
    since_at, until_at = now_bounds(as_of)
    params = {"since_at": since_at, "until_at": until_at, "property_id": request.property_id}

    def count(conn: psycopg.Connection) -> int:
        # Planned for its parameters: one property's range or every property's.
        row = conn.execute(query("metrics/count_visitors_now"), params, prepare=False).fetchone()
        assert row is not None
        return int(row[0])

    visitors = runtime.database.run(count, transaction=False)
    return NowResponse(
        propertyId=request.property_id, visitors=visitors, windowSeconds=NOW_WINDOW_SECONDS, asOf=as_of
    )
