"""CSV of the metrics answers (``format=csv`` or ``Accept: text/csv``, with ``table=``): the
pinned column order of every table (a contract: columns are only ever added at the end),
the cells equal to the JSON answer's values, the negotiation and its refusals."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

import metrics_handler
from funnel.metrics.api import ReportCache
from funnel.platform.runtime import get_runtime, reset_runtime
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY, load_event
from tests.raw_data import event, session, visitor
from tests.read_model import at, breakdown_day, february_cohort, lead, metric_day

pytestmark = pytest.mark.integration

NOW = at(2, 14, 9)
WINDOW = "from=2026-02-01&to=2026-02-07"

FUNNEL = [
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
]
# The contract: each table's columns, in order. A change here breaks downloads people
# have built spreadsheets on; add columns at the end only.
PINNED = {
    ("summary", "trend"): ["day", "uniqueVisitors", "pageViews", "newLeads"],
    ("summary", "compareTrend"): ["day", "uniqueVisitors", "pageViews", "newLeads"],
    ("summary", "metrics"): ["metric", "value", "delta"],
    ("summary", "landingPages"): ["key", "visitors", "pageViews", "entrances", "conversions"],
    ("summary", "topPages"): ["key", "visitors", "pageViews"],
    ("summary", "devices"): ["key", "visitors", "pageViews"],
    ("summary", "countries"): ["key", "visitors", "pageViews"],
    ("summary", "sources"): ["key", "visitors", "pageViews"],
    ("summary", "funnel"): FUNNEL,
    ("service_usage", "trend"): ["day", "scansCompleted", "mediaProcessed", "identitiesDetected"],
    ("service_usage", "usage"): ["metric", "value", "delta"],
    ("service_usage", "funnel"): FUNNEL,
    ("service_usage", "funnelByGroup"): ["group", *FUNNEL],
    ("now", "now"): ["propertyId", "visitors", "windowSeconds", "asOf"],
}


@pytest.fixture
def api(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    set_clock(NOW)
    lambda_env.setattr(metrics_handler, "cache", ReportCache())


def get(context: Any, sample: str, query: str, **headers: str) -> dict[str, Any]:
    event_ = api_event(f"metrics/{sample}", query=query, headers={"x-admin-key": ADMIN_KEY, **headers})
    response: dict[str, Any] = metrics_handler.lambda_handler(event_, context)
    return response


def table(response: dict[str, Any]) -> list[list[str]]:
    assert response["statusCode"] == 200, response["body"]
    assert response["headers"]["Content-Type"] == "text/csv; charset=utf-8"
    assert "\r\n" in response["body"]
    return list(csv.reader(io.StringIO(response["body"])))


def traffic(db: psycopg.Connection) -> None:
    """Rollups of the window and the one before, breakdowns, leads and tenants."""
    for day in (date(2026, 2, 3), date(2026, 1, 27)):
        metric_day(db, day, visitors=["a", "b", "c"], page_views=9, entrances=3, conversions=1, new_leads=1)
        breakdown_day(db, day, "page", "/pricing", visitors=["a", "b"], page_views=5)
        breakdown_day(db, day, "page", "/", visitors=["c"], page_views=4)
        breakdown_day(
            db, day, "landing_page", "/", visitors=["a", "b", "c"], page_views=9, entrances=3, conversions=1
        )
        breakdown_day(db, day, "device", "mobile", visitors=["a", "b", "c"], page_views=9)
        breakdown_day(db, day, "country", "(not set)", visitors=["a", "b", "c"], page_views=9)
        breakdown_day(db, day, "source", "direct", visitors=["a", "b", "c"], page_views=9)
    february_cohort(db)


class TestPinnedColumns:
    @pytest.mark.parametrize(("report", "name"), list(PINNED))
    def test_every_table_has_its_pinned_columns_in_order(self, api, db, context, report, name):
        traffic(db)
        query = f"format=csv&table={name}" + ("&propertyId=default" if report == "now" else f"&{WINDOW}")
        assert table(get(context, report, query))[0] == PINNED[(report, name)]

    def test_the_pinned_tables_are_every_table(self):
        from funnel.metrics import csv_tables

        assert set(PINNED) == {
            *(("summary", name) for name in csv_tables.SUMMARY_TABLES),
            *(("service_usage", name) for name in csv_tables.SERVICE_USAGE_TABLES),
            *(("now", name) for name in csv_tables.NOW_TABLES),
        }


class TestCells:
    def test_a_tables_rows_are_the_json_answers_values(self, api, db, context):
        traffic(db)
        answer = response_json(get(context, "summary", f"{WINDOW}&includeBreakdowns=true&compareTo=true"))
        for name in ("topPages", "landingPages"):
            rows = table(get(context, "summary", f"{WINDOW}&format=csv&table={name}"))
            expected = [
                [str(row[column]) for column in PINNED[("summary", name)]]
                for row in answer["breakdowns"][name]
            ]
            assert rows[1:] == expected
        rows = table(get(context, "summary", f"{WINDOW}&format=csv&table=compareTrend"))
        assert rows[1:] == [
            [day["day"], str(day["uniqueVisitors"]), str(day["pageViews"]), str(day["newLeads"])]
            for day in answer["compareTrend"]
        ]

    def test_metrics_are_one_row_each_with_an_empty_cell_for_null(self, api, db, context):
        traffic(db)
        rows = table(get(context, "summary", f"{WINDOW}&format=csv&table=metrics"))
        by_name = {row[0]: row[1:] for row in rows[1:]}
        assert by_name["totalPageViews"] == ["9", ""]  # no comparison asked: delta is null
        assert by_name["uniqueVisitors"] == ["3", ""]
        assert "trafficSourceMix" not in by_name
        with_deltas = table(get(context, "summary", f"{WINDOW}&compareTo=true&format=csv&table=metrics"))
        assert {row[0]: row[1:] for row in with_deltas[1:]}["totalPageViews"] == ["9", "0.0"]

    def test_text_a_spreadsheet_would_run_is_quoted_out(self, api, db, context):
        # Given a lead whose first touch carried a formula as its UTM source
        traffic(db)
        lead(db, "evil@example.com", at(2, 2, 9), source="direct", utm_source='=HYPERLINK("x")')
        rows = table(
            get(context, "service_usage", f"{WINDOW}&groupBy=utm_source&format=csv&table=funnelByGroup")
        )
        assert [row[0] for row in rows if row[0].startswith("'")] == ['\'=HYPERLINK("x")']

    def test_a_table_implies_the_flag_it_needs(self, api, db, context):
        traffic(db)
        assert len(table(get(context, "summary", f"{WINDOW}&format=csv&table=topPages"))) == 3
        assert len(table(get(context, "summary", f"{WINDOW}&format=csv&table=compareTrend"))) == 8
        assert len(table(get(context, "summary", f"{WINDOW}&format=csv&table=funnel"))) == 2
        groups = table(get(context, "service_usage", f"{WINDOW}&format=csv&table=funnelByGroup"))
        assert "direct" in {row[0] for row in groups[1:]}

    def test_visitors_now_as_csv(self, api, db, context):
        visitor_id = visitor(db, NOW - timedelta(days=1))
        event(
            db, session(db, visitor_id, NOW - timedelta(minutes=1)), NOW - timedelta(minutes=1), "page_view"
        )
        event_ = api_event(
            "metrics/now", query="propertyId=default&format=csv&table=now", headers={"x-admin-key": ADMIN_KEY}
        )
        response = metrics_handler.lambda_handler(event_, context)
        assert table(response)[1] == ["default", "1", "300", "2026-02-14T09:00:00Z"]
        assert response["headers"]["Content-Disposition"] == 'attachment; filename="now-now.csv"'

    def test_the_sample_event_is_a_csv_download(self, api, lambda_env, db, context):
        lambda_env.setenv("METRICS_API_KEYS", "local-metrics-key")
        reset_runtime()
        get_runtime().clock = lambda: NOW
        traffic(db)
        response = metrics_handler.lambda_handler(load_event("metrics/summary_csv.json"), context)
        assert table(response)[0] == PINNED[("summary", "topPages")]

    def test_the_download_is_named_after_the_report_table_and_window(self, api, db, context):
        response = get(context, "summary", f"{WINDOW}&format=csv&table=trend")
        assert response["headers"]["Content-Disposition"] == (
            'attachment; filename="summary-trend-2026-02-01-2026-02-07.csv"'
        )


class TestNegotiation:
    @pytest.mark.parametrize(
        ("query", "accept", "is_csv"),
        [
            ("table=trend", "text/csv", True),
            ("table=trend", "application/json;q=0.9, text/csv", True),
            ("table=trend", "Text/CSV; charset=utf-8", True),
            ("", "text/csv;q=0", False),
            ("", "application/json", False),
            ("", "*/*", False),
            ("format=json", "text/csv;q=0", False),
            ("format=csv&table=trend", "application/json", True),
        ],
    )
    def test_format_wins_then_accept(self, api, db, context, query, accept, is_csv):
        response = get(context, "summary", f"{WINDOW}&{query}".rstrip("&"), accept=accept)
        assert response["statusCode"] == 200, response["body"]
        assert response["headers"]["Content-Type"].startswith("text/csv" if is_csv else "application/json")

    @pytest.mark.parametrize(
        ("sample", "query", "kind"),
        [
            ("summary", "format=csv", "missing"),
            ("summary", "table=trend", "table_without_csv"),
            ("summary", "format=json&table=trend", "table_without_csv"),
            ("summary", "format=csv&table=usage", "literal_error"),
            ("summary", "format=xml", "literal_error"),
            ("service_usage", "format=csv&table=topPages", "literal_error"),
            ("now", "format=csv&table=trend", "literal_error"),
        ],
    )
    def test_a_csv_request_without_a_table_of_its_route_is_422(
        self, api, context, row_counts, sample, query, kind
    ):
        before = row_counts()
        response = get(context, sample, query)
        assert response["statusCode"] == 422, response["body"]
        assert kind in [detail["type"] for detail in response_json(response)["details"]]
        assert row_counts() == before

    def test_a_missing_table_lists_the_tables(self, api, context):
        details = response_json(get(context, "summary", "format=csv"))["details"]
        assert "trend, compareTrend, metrics, landingPages" in details[0]["msg"]
