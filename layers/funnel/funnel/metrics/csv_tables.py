"""The metrics answers as CSV (``format=csv``, or ``Accept: text/csv``): one table of an
answer, chosen with ``table=``, with a pinned column order that only grows at the end.

Rows are taken from the answer's JSON body, so a CSV cell is the JSON value: numbers as
JSON writes them, ``null`` as an empty cell. Text that a spreadsheet would run as a
formula (a UTM value of ``=HYPERLINK(...)``, say) is prefixed with ``'`` (OWASP's advice
for CSV injection); keys and days never start with those characters otherwise. The
tables and their columns are docs/metrics.md#csv-tables.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from funnel.platform.errors import ValidationFailed

SummaryTable = Literal[
    "trend",
    "compareTrend",
    "metrics",
    "landingPages",
    "topPages",
    "devices",
    "countries",
    "sources",
    "funnel",
]
ServiceUsageTable = Literal["trend", "usage", "funnel", "funnelByGroup"]
NowTable = Literal["now"]
Format = Literal["json", "csv"]
CSV = "text/csv"
FORMAT_DESCRIPTION = (
    "json (the default) or csv: one table of the answer (table=), with a stable column order; "
    "an Accept of text/csv asks for csv too"
)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FUNNEL = (
    "marketingVisitors",
    "leadsCaptured",
    "tenantsCreated",
    "tenantsWithApiKey",
    "tenantsWithFirstScan",
    "tenantsActive30d",
    "leadToTenantConversionRate",
    "activationRate",
    "apiKeyCreationRate",
    "timeToFirstScanHoursMedian",
    "timeToFirstScanHoursMean",
)
_BREAKDOWN = ("key", "visitors", "pageViews")
# The summary's tables that are lists of its breakdowns (they need includeBreakdowns).
BREAKDOWN_TABLES = frozenset({"landingPages", "topPages", "devices", "countries", "sources"})


@dataclass(frozen=True)
class Table:
    """A table's columns, in their pinned order, and how to read its rows from a body."""

    columns: tuple[str, ...]
    rows: Callable[[Mapping[str, Any]], Iterable[Mapping[str, Any]]]


def _list(name: str) -> Callable[[Mapping[str, Any]], Iterable[Mapping[str, Any]]]:
    return lambda body: body.get(name) or ()


def _breakdown(name: str) -> Callable[[Mapping[str, Any]], Iterable[Mapping[str, Any]]]:
    return lambda body: (body.get("breakdowns") or {}).get(name) or ()


def _metrics(name: str) -> Callable[[Mapping[str, Any]], Iterable[Mapping[str, Any]]]:
    def rows(body: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        for metric, value in body[name].items():
            if isinstance(value, Mapping) and "value" in value:
                yield {"metric": metric, "value": value["value"], "delta": value["delta"]}

    return rows


def _funnel_row(funnel: Mapping[str, Any]) -> dict[str, Any]:
    hours = funnel["timeToFirstScanHours"]
    return {
        **funnel,
        "timeToFirstScanHoursMedian": hours["median"],
        "timeToFirstScanHoursMean": hours["mean"],
    }


def _funnel(body: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    return [_funnel_row(body["funnel"])] if body.get("funnel") else []


def _funnel_groups(body: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    groups = (body.get("funnelByGroup") or {}).get("groups") or {}
    return [{"group": name, **_funnel_row(funnel)} for name, funnel in groups.items()]


SUMMARY_TABLES: dict[str, Table] = {
    "trend": Table(("day", "uniqueVisitors", "pageViews", "newLeads"), _list("trend")),
    "compareTrend": Table(("day", "uniqueVisitors", "pageViews", "newLeads"), _list("compareTrend")),
    "metrics": Table(("metric", "value", "delta"), _metrics("metrics")),
    "landingPages": Table((*_BREAKDOWN, "entrances", "conversions"), _breakdown("landingPages")),
    "topPages": Table(_BREAKDOWN, _breakdown("topPages")),
    "devices": Table(_BREAKDOWN, _breakdown("devices")),
    "countries": Table(_BREAKDOWN, _breakdown("countries")),
    "sources": Table(_BREAKDOWN, _breakdown("sources")),
    "funnel": Table(_FUNNEL, _funnel),
}
SERVICE_USAGE_TABLES: dict[str, Table] = {
    "trend": Table(("day", "scansCompleted", "mediaProcessed", "identitiesDetected"), _list("trend")),
    "usage": Table(("metric", "value", "delta"), _metrics("usage")),
    "funnel": Table(_FUNNEL, _funnel),
    "funnelByGroup": Table(("group", *_FUNNEL), _funnel_groups),
}
NOW_TABLES: dict[str, Table] = {
    "now": Table(("propertyId", "visitors", "windowSeconds", "asOf"), lambda body: [body]),
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def render(table: Table, body: Mapping[str, Any]) -> str:
    """The table of ``body`` as CSV (RFC 4180: a header row, CRLF line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows(body):
        writer.writerow([_cell(row.get(column)) for column in table.columns])
    return out.getvalue()


def wants_csv(format_: Format | None, accept: str) -> bool:
    """``format`` when given; otherwise whether ``Accept`` names ``text/csv`` with a
    quality above 0."""
    if format_ is not None:
        return format_ == "csv"
    for item in accept.split(","):
        kind, _, params = item.partition(";")
        if kind.strip().lower() != CSV:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return True
    return False


def filename(report: str, table: str, window: Mapping[str, Any] | None) -> str:
    """A download's file name: the report, the table and the window's days."""
    days = f"-{window['from']}-{window['to']}" if window else ""
    return f"{report}-{table}{days}.csv"


def content_disposition(report: str, table: str, body: Mapping[str, Any]) -> str:
    """The answer's ``Content-Disposition``: a download named after the report, table and
    the body's window."""
    return f'attachment; filename="{filename(report, table, body.get("window"))}"'


def choose(
    format_: Format | None, accept: str, table: str | None, tables: Mapping[str, Table]
) -> Table | None:
    """The table to answer as CSV, or None for JSON.

    Raises
    ------
    ValidationFailed
        For CSV without ``table`` (the details list the tables), or ``table`` with JSON.
    """
    if not wants_csv(format_, accept):
        if table is not None:
            raise ValidationFailed(
                details=[
                    {"loc": "table", "msg": "table applies to format=csv only", "type": "table_without_csv"}
                ]
            )
        return None
    if table is None:
        raise ValidationFailed(
            details=[
                {
                    "loc": "table",
                    "msg": f"CSV is one table: give table= one of {', '.join(tables)}",
                    "type": "missing",
                }
            ]
        )
    return tables[table]
