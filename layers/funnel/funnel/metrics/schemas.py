"""The admin metrics API: the query strings of ``GET /v1/metrics/summary`` and
``GET /v1/metrics/service-usage`` and their answers (see docs/metrics.md#response-contract).
Field names and nesting are a public contract; ``leadsCaptured`` is served under its correct
name.

Ratios and averages are exact (unrounded) window ratios of summed numerators and
denominators; a ratio whose denominator is zero is ``null`` (docs/metrics.md#ratios-and-averages).
A ``delta`` is ``(current - comparison) / comparison``, ``null`` without a comparison window
or when the comparison value is zero or ``null`` (docs/metrics.md#comparison-window-and-deltas).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from funnel.platform.schemas import OTHER

# The earliest day a window may start: before any data this product can hold, and far
# enough from date.min that the comparison window can always be computed.
EARLIEST_DAY = date(2000, 1, 1)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: object) -> object:
    # pydantic's date also takes Unix timestamps and datetimes at midnight; the API takes
    # exactly YYYY-MM-DD.
    if isinstance(value, str) and not _ISO_DAY.match(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


def _not_too_early(value: date) -> date:
    if value < EARLIEST_DAY:
        raise ValueError(f"must not be before {EARLIEST_DAY.isoformat()}")
    return value


# What the document says of a day: the text, and (by its pattern) the 2000-01-01 floor.
_DAY_SCHEMA = {
    "pattern": r"^[2-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
    "description": f"a UTC day, YYYY-MM-DD, not before {EARLIEST_DAY.isoformat()}; "
    "a window (from to to, inclusive) spans at most 366 days",
}
Day = Annotated[
    date,
    BeforeValidator(_iso_day),
    AfterValidator(_not_too_early),
    Field(json_schema_extra=_DAY_SCHEMA),
]
GroupBy = Literal["channel", "utm_source", "utm_campaign"]
Period = Literal["today", "7d", "30d", "90d", "month", "last_month"]
PERIOD_DESCRIPTION = (
    "a window relative to today (UTC), instead of from and to: today (so far); 7d, 30d or 90d "
    "(that many complete days, ending yesterday); month (this month so far); last_month"
)
UNATTRIBUTED = "unattributed"
NOT_SET = "(not set)"


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date | None = None
    end: date | None = None
    period: Period | None = None
    compare_to: bool = False


DEFAULT_TOP = 10
MAX_TOP = 100


class SummaryQuery(_Query):
    """``GET /v1/metrics/summary`` as the layer receives it (dates not yet defaulted)."""

    property_id: str | None = None
    include_funnel: bool = False
    include_breakdowns: bool = False
    top: int = DEFAULT_TOP


class ServiceUsageQuery(_Query):
    """``GET /v1/metrics/service-usage`` as the layer receives it (dates not yet defaulted)."""

    tenant_id: str | None = None
    group_by: GroupBy | None = None


class NowQuery(BaseModel):
    """``GET /v1/metrics/now`` as the layer receives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    property_id: str | None = None


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


class Window(_Answer):
    """Inclusive UTC days."""

    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


class RequestedWindow(Window):
    """The window asked for, as resolved: inclusive UTC days, and the period it came from."""

    period: Period | None = Field(
        default=None, description="the period the window was resolved from; null for from and to"
    )


class Metric(_Answer):
    value: int | float | None = Field(description="the window's value; null when its denominator is zero")
    delta: float | None = Field(
        description="(value - comparison) / comparison; null without compareTo, or when the comparison "
        "value is 0 or null"
    )


class Freshness(_Answer):
    rolledUpThrough: date | None = Field(
        description="the last UTC day a finished rollup run covered after that day had ended; "
        "null before the first run"
    )
    lagDays: int | None = Field(description="today (UTC) minus rolledUpThrough")
    generatedAt: datetime | None = Field(description="when the latest successful rollup run finished")


class SummaryMetrics(_Answer):
    uniqueVisitors: Metric = Field(description="visitors seen in the window, each counted once")
    returningVisitorsPct: Metric = Field(
        description="daily visitors first seen before that day ÷ daily visitors, summed over the window"
    )
    totalPageViews: Metric
    leadCaptureRate: Metric = Field(description="leads first captured in the window ÷ uniqueVisitors")
    formCompletionRate: Metric = Field(description="form submits ÷ form starts")
    landingPageConversionRate: Metric = Field(description="converted entrances ÷ entrances")
    avgTimeToFirstCaptureHrs: Metric = Field(
        description="mean hours from a visitor's first visit to their lead's first capture"
    )
    trafficSourceMix: dict[str, float] = Field(
        description="each traffic source's share of page views (the shares sum to 1); {} without traffic"
    )


class Ingest(_Answer):
    successPct: float | None = Field(description="accepted ÷ (accepted + rejected) events")
    p95TtfbMs: float | None = Field(description="daily p95 TTFB, weighted by each day's TTFB samples")
    totalEventsAccepted: int
    totalEventsRejected: int
    totalEventsDuplicate: int = Field(
        description="events sent again with an eventId already stored: acknowledged, stored once"
    )
    totalEventsBot: int = Field(description="events from crawlers and scripts: acknowledged, not stored")


class TrafficDay(_Answer):
    day: date
    uniqueVisitors: int = Field(description="the sum of the day's unique visitors of each property")
    pageViews: int
    newLeads: int


class BreakdownRow(_Answer):
    key: str = Field(description=f"the dimension's value; {OTHER!r}: every key past the top ones, together")
    visitors: int = Field(
        description="the key's visitors in the window, each once (merged from daily sketches: exact for "
        "small sets, within about 0.8 % otherwise)"
    )
    pageViews: int = Field(description="page views in the window (exact)")


class LandingPageRow(BreakdownRow):
    pageViews: int = Field(description="page views of the visits that entered here, on the day they entered")
    entrances: int = Field(description="visits that entered on this path (exact)")
    conversions: int = Field(description="of those visits, the ones that converted")


class Breakdowns(_Answer):
    """Each list sorted by visitors, then page views, descending (then by key), the
    ``top`` keys and, when there are more, one ``(other)`` row last; counts sum exactly to
    the window's."""

    landingPages: list[LandingPageRow] = Field(description="the path each visit entered on")
    topPages: list[BreakdownRow] = Field(description="the paths viewed")
    devices: list[BreakdownRow] = Field(description="device types")
    countries: list[BreakdownRow] = Field(description=f"two-letter countries, {NOT_SET!r} when unknown")
    sources: list[BreakdownRow] = Field(description="traffic sources")


class TimeToFirstScan(_Answer):
    median: float | None
    mean: float | None


class Funnel(_Answer):
    """The acquisition funnel of a window (see docs/metrics.md#funnel-cohort): the tenants
    created in the window, and how many of those same tenants reached each later stage by
    its end."""

    marketingVisitors: int | None = Field(
        description="unique visitors of the window; by channel, those who arrived through it at least "
        "once; null where no visitor sketch exists for the grouping (UTM values, unattributed)"
    )
    leadsCaptured: int = Field(description="leads first captured in the window")
    tenantsCreated: int = Field(description="tenants whose tenant.created falls in the window")
    tenantsWithApiKey: int = Field(description="of those, tenants with an API key by the window's end")
    tenantsWithFirstScan: int = Field(description="of those, tenants with a completed scan by its end")
    tenantsActive30d: int = Field(
        description="of those, tenants with a completed scan in the 30 days ending with the window"
    )
    leadToTenantConversionRate: float | None = Field(
        description="tenantsCreated that came from a known lead ÷ leadsCaptured"
    )
    activationRate: float | None = Field(description="tenantsWithFirstScan ÷ tenantsCreated")
    apiKeyCreationRate: float | None = Field(description="tenantsWithApiKey ÷ tenantsCreated")
    timeToFirstScanHours: TimeToFirstScan = Field(
        description="hours from tenant.created to the first completed scan, over the tenants counted "
        "in tenantsWithFirstScan"
    )


class SummaryResponse(_Answer):
    """``GET /v1/metrics/summary`` (see docs/metrics.md#response-contract)."""

    ok: Literal[True] = True
    window: RequestedWindow
    compareTo: Window | None = Field(
        description="the equal-length window just before; null without compareTo"
    )
    freshness: Freshness
    metrics: SummaryMetrics
    ingest: Ingest
    trend: list[TrafficDay] = Field(description="every day of the window, zeros where nothing was rolled up")
    compareTrend: list[TrafficDay] | None = Field(
        default=None, description="only with compareTo=true: every day of the comparison window, as trend"
    )
    funnel: Funnel | None = Field(
        default=None,
        description="only with includeFunnel=true; visitors and leads of propertyId, tenants of all",
    )
    breakdowns: Breakdowns | None = Field(
        default=None, description="only with includeBreakdowns=true; of propertyId, or of every property"
    )
    properties: list[str] = Field(description="every property with rolled-up traffic, in order")

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``compareTrend``, ``funnel`` and ``breakdowns`` only when asked for."""
        absent = {name for name in ("compareTrend", "funnel", "breakdowns") if getattr(self, name) is None}
        return self.model_dump(mode="json", by_alias=True, exclude=absent or None)


class UsageMetrics(_Answer):
    totalScansCompleted: Metric
    totalScansFailed: Metric
    scanSuccessRate: Metric = Field(description="completed ÷ (completed + failed)")
    totalMediaProcessed: Metric = Field(description="media of completed scans")
    totalIdentitiesDetected: Metric
    avgScanDurationMs: Metric = Field(description="total duration ÷ completed scans with a duration")
    totalClustersCreated: Metric
    suggestionResolutionRate: Metric = Field(description="resolved ÷ generated suggestions")


class UsageDay(_Answer):
    day: date
    scansCompleted: int
    mediaProcessed: int
    identitiesDetected: int


class FunnelGroups(_Answer):
    groupBy: GroupBy
    groups: dict[str, Funnel] = Field(
        description=f"by the first touch of each tenant's lead; tenants without a lead under "
        f"{UNATTRIBUTED!r}, leads without a value under {NOT_SET!r}"
    )


class ServiceUsageResponse(_Answer):
    """``GET /v1/metrics/service-usage`` (see docs/metrics.md#response-contract), with the
    funnel's rates (docs/metrics.md#funnel-rates)."""

    ok: Literal[True] = True
    window: RequestedWindow
    compareTo: Window | None
    freshness: Freshness
    usage: UsageMetrics
    funnel: Funnel = Field(description="tenant stages of tenantId when given; visitors and leads of the site")
    funnelByGroup: FunnelGroups | None = Field(default=None, description="only with groupBy")
    trend: list[UsageDay] = Field(description="every day of the window, zeros where nothing was rolled up")

    def body(self) -> dict[str, Any]:
        """The JSON answer: ``funnelByGroup`` only when it was asked for."""
        return self.model_dump(
            mode="json", by_alias=True, exclude={"funnelByGroup"} if self.funnelByGroup is None else None
        )


class NowResponse(_Answer):
    """``GET /v1/metrics/now``: who is on the site, read live from raw events."""

    propertyId: str | None = Field(description="the property asked for; null for every property")
    visitors: int = Field(description="distinct visitors with an event in the last windowSeconds")
    windowSeconds: int = Field(description="how far back an event counts: 300")
    asOf: datetime = Field(description="the instant the count is as of (UTC)")

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
