"""Metrics, read with the admin key (``x-admin-key``) or a read-only metrics key
(``Authorization: Bearer``), served from the rollups: ``GET /v1/metrics/summary`` (traffic,
ingest and the acquisition funnel of a window), ``GET /v1/metrics/service-usage``
(description-service usage and the funnel, by first-touch channel on request) and
``GET /v1/metrics/now`` (visitors on the site in the last five minutes, from raw events).
Every number is defined in docs/metrics.md."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.metrics import csv_tables
from funnel.metrics.api import ReportCache, service_usage, summary, visitors_now
from funnel.metrics.schemas import (
    DEFAULT_TOP,
    MAX_TOP,
    PERIOD_DESCRIPTION,
    Day,
    GroupBy,
    NowQuery,
    NowResponse,
    Period,
    ServiceUsageQuery,
    ServiceUsageResponse,
    SummaryQuery,
    SummaryResponse,
)
from funnel.platform.error_docs import Content, error_responses
from funnel.platform.http import FunnelResolver, require_metrics_key
from funnel.platform.observability import Observability
from funnel.platform.schemas import Identifier

observability = Observability(api=True, traced=True)
metrics = observability.metrics
app = FunnelResolver(guards=[require_metrics_key], strict_query=True)
cache = ReportCache()

From = Annotated[
    Day | None,
    Query(alias="from", description="first UTC day (YYYY-MM-DD); default: 29 days before `to`"),
]
To = Annotated[
    Day | None,
    Query(
        alias="to",
        description="last UTC day, inclusive (YYYY-MM-DD, at most today); default: yesterday. "
        "At most 366 days from `from`",
    ),
]
RelativePeriod = Annotated[Period | None, Query(alias="period", description=PERIOD_DESCRIPTION)]
AsCsv = Annotated[csv_tables.Format | None, Query(alias="format", description=csv_tables.FORMAT_DESCRIPTION)]
TABLE = "with format=csv (required then): the table of the answer to send"
CompareTo = Annotated[
    bool, Query(alias="compareTo", description="add deltas against the equal-length window just before")
]
# The 200 answer's CSV alternative.
_CSV: Content = {
    csv_tables.CSV: {
        "schema": {"type": "string", "description": "one table, a header row first (format=csv)"}
    }
}
_ERRORS = error_responses(
    {
        400: "An unknown query parameter (unknown_query_parameter, with the accepted ones), "
        "or period given with from or to (period_with_dates)",
        401: "Missing or wrong key: x-admin-key (the admin key) or Authorization: Bearer (a metrics key)",
        422: "Invalid query: a bad date or flag, from after to, a window over 366 days or in the future, "
        "format=csv without table or table without it",
        503: "Database unavailable or no key configured; retry",
    }
)


@app.get(
    "/v1/metrics/summary",
    summary="Traffic, ingest and funnel metrics of a window, with deltas",
    tags=["metrics"],
    responses={
        200: {
            "description": "The summary, or one of its tables as CSV",
            "content": {"application/json": {"model": SummaryResponse}, **_CSV},
        },
        **_ERRORS,
    },
)
def get_summary(
    start: From = None,
    end: To = None,
    period: RelativePeriod = None,
    property_id: Annotated[
        Identifier | None, Query(alias="propertyId", description="one property; default: every property")
    ] = None,
    compare_to: CompareTo = False,
    include_funnel: Annotated[
        bool, Query(alias="includeFunnel", description="add the acquisition funnel")
    ] = False,
    include_breakdowns: Annotated[
        bool,
        Query(
            alias="includeBreakdowns",
            description="add the breakdowns: landing pages, pages, devices, countries and sources",
        ),
    ] = False,
    top: Annotated[
        int,
        Query(
            alias="top",
            ge=1,
            le=MAX_TOP,
            description=f"keys of each breakdown before its (other) row (default {DEFAULT_TOP})",
        ),
    ] = DEFAULT_TOP,
    format_: AsCsv = None,
    table: Annotated[
        csv_tables.SummaryTable | None,
        Query(alias="table", description=f"{TABLE} (a table implies the flag it needs)"),
    ] = None,
) -> Response[Any]:
    chosen = csv_tables.choose(format_, _accept(), table, csv_tables.SUMMARY_TABLES)
    request = SummaryQuery(
        start=start,
        end=end,
        period=period,
        property_id=property_id,
        compare_to=compare_to or table == "compareTrend",
        include_funnel=include_funnel or table == "funnel",
        include_breakdowns=include_breakdowns or table in csv_tables.BREAKDOWN_TABLES,
        top=top,
    )
    answer = summary(app.runtime(), request, cache)
    metrics.add_metric(name="MetricsSummariesServed", unit=MetricUnit.Count, value=1)
    return _answer("summary", table, chosen, answer.body())


@app.get(
    "/v1/metrics/service-usage",
    summary="Description-service usage and the acquisition funnel of a window",
    tags=["metrics"],
    responses={
        200: {
            "description": "Usage, funnel and trend, or one of their tables as CSV",
            "content": {"application/json": {"model": ServiceUsageResponse}, **_CSV},
        },
        **_ERRORS,
    },
)
def get_service_usage(
    start: From = None,
    end: To = None,
    period: RelativePeriod = None,
    tenant_id: Annotated[
        Identifier | None, Query(alias="tenantId", description="one tenant; default: every tenant")
    ] = None,
    compare_to: CompareTo = False,
    group_by: Annotated[
        GroupBy | None,
        Query(alias="groupBy", description="also the funnel of each first touch of the tenants' leads"),
    ] = None,
    format_: AsCsv = None,
    table: Annotated[
        csv_tables.ServiceUsageTable | None,
        Query(alias="table", description=f"{TABLE} (funnelByGroup without groupBy groups by channel)"),
    ] = None,
) -> Response[Any]:
    chosen = csv_tables.choose(format_, _accept(), table, csv_tables.SERVICE_USAGE_TABLES)
    if table == "funnelByGroup" and group_by is None:
        group_by = "channel"
    request = ServiceUsageQuery(
        start=start, end=end, period=period, tenant_id=tenant_id, compare_to=compare_to, group_by=group_by
    )
    answer = service_usage(app.runtime(), request, cache)
    metrics.add_metric(name="MetricsServiceUsageServed", unit=MetricUnit.Count, value=1)
    return _answer("service-usage", table, chosen, answer.body())


@app.get(
    "/v1/metrics/now",
    summary="Visitors on the site now: distinct visitors with an event in the last 5 minutes",
    tags=["metrics"],
    responses={
        200: {
            "description": "Visitors now, or as CSV",
            "content": {"application/json": {"model": NowResponse}, **_CSV},
        },
        **_ERRORS,
    },
)
def get_now(
    property_id: Annotated[
        Identifier | None, Query(alias="propertyId", description="one property; default: every property")
    ] = None,
    format_: AsCsv = None,
    table: Annotated[csv_tables.NowTable | None, Query(alias="table", description=TABLE)] = None,
) -> Response[Any]:
    chosen = csv_tables.choose(format_, _accept(), table, csv_tables.NOW_TABLES)
    answer = visitors_now(app.runtime(), NowQuery(property_id=property_id))
    metrics.add_metric(name="MetricsNowServed", unit=MetricUnit.Count, value=1)
    return _answer("now", table, chosen, answer.body())


def _accept() -> str:
    return app.raw_request.headers.get("accept", "")


def _answer(
    report: str, table: str | None, chosen: csv_tables.Table | None, body: dict[str, Any]
) -> Response[Any]:
    """The JSON body, or the chosen table of it as CSV."""
    if chosen is None or table is None:
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)
    return Response(
        status_code=200,
        content_type=f"{csv_tables.CSV}; charset=utf-8",
        body=csv_tables.render(chosen, body),
        headers={"Content-Disposition": csv_tables.content_disposition(report, table, body)},
    )


@observability.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
