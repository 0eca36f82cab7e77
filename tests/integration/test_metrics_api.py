"""The metrics function's boundary: the admin key on every route, query validation (422
with details, nothing written), and the warm container's cache, observed on the wire."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg import pq

import metrics_handler
from funnel.metrics.api import ReportCache
from funnel.platform.runtime import get_runtime, reset_runtime
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY
from tests.read_model import at, metric_day, rollup_run, usage_day

pytestmark = pytest.mark.integration

# The sample events ask for 2026-01-14..2026-02-12, as of the morning of 02-14.
NOW = at(2, 14, 9)
SAMPLES = [
    "metrics/summary",
    "metrics/summary_compare_funnel",
    "metrics/summary_period",
    "metrics/summary_dashboard",
    "metrics/service_usage",
    "metrics/service_usage_by_channel",
]


@pytest.fixture
def api(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    set_clock(NOW)
    lambda_env.setattr(metrics_handler, "cache", ReportCache())


def invoke(
    context: Any, sample: str, query: str | None = None, key: str | None = ADMIN_KEY
) -> dict[str, Any]:
    event = api_event(sample, query=query, headers={"x-admin-key": key})
    response: dict[str, Any] = metrics_handler.lambda_handler(event, context)
    return response


class TestAdminKey:
    @pytest.mark.parametrize("sample", SAMPLES)
    def test_every_sample_event_is_answered_with_the_admin_key(self, api, context, sample):
        assert invoke(context, sample)["statusCode"] == 200

    @pytest.mark.parametrize("sample", SAMPLES)
    @pytest.mark.parametrize("key", [None, "", "wrong-key", ADMIN_KEY + " "])
    def test_a_missing_or_wrong_key_is_401(self, api, context, sample, key):
        response = invoke(context, sample, key=key)
        assert response["statusCode"] == 401
        assert response_json(response) == {"ok": False, "error": "unauthorized", "details": None}

    def test_authentication_comes_before_validation(self, api, context):
        response = invoke(context, "metrics/summary", "from=not-a-date", key="wrong-key")
        assert response["statusCode"] == 401

    def test_without_a_configured_key_the_routes_are_closed(self, api, lambda_env, set_clock, context):
        lambda_env.delenv("ADMIN_API_KEY")
        reset_runtime()
        response = invoke(context, "metrics/service_usage")
        assert response["statusCode"] == 503
        assert response_json(response)["error"] == "admin_auth_not_configured"


SUMMARY_REFUSALS = [
    ("from=2026-2-1", "from", "value_error"),
    ("from=02/01/2026", "from", "value_error"),
    ("to=20260201", "to", "value_error"),
    ("to=1769904000", "to", "value_error"),
    ("from=2026-02-30", "from", "date_from_datetime_parsing"),
    ("from=1999-12-31&to=2000-01-10", "from", "value_error"),
    ("from=2026-02-07&to=2026-02-01", "from", "window_reversed"),
    ("from=2025-02-08&to=2026-02-09", "to", "window_too_long"),
    ("to=2026-02-15", "to", "date_in_future"),
    ("from=2026-03-01", "from", "date_in_future"),
    ("compareTo=maybe", "compareTo", "bool_parsing"),
    ("includeFunnel=2", "includeFunnel", "bool_parsing"),
    ("propertyId=", "propertyId", "string_too_short"),
    ("propertyId=no%20spaces", "propertyId", "string_pattern_mismatch"),
]
USAGE_REFUSALS = [
    ("groupBy=country", "groupBy", "literal_error"),
    ("groupBy=", "groupBy", "literal_error"),
    ("tenantId=" + "t" * 129, "tenantId", "string_too_long"),
    ("compareTo=yes-please", "compareTo", "bool_parsing"),
    ("from=2026-02-07&to=2026-02-01", "from", "window_reversed"),
]


class TestValidation:
    @pytest.mark.parametrize(
        ("sample", "query", "field", "kind"),
        [("metrics/summary", *case) for case in SUMMARY_REFUSALS]
        + [("metrics/service_usage", *case) for case in USAGE_REFUSALS],
    )
    def test_a_bad_query_is_422_naming_the_parameter_and_writes_nothing(
        self, api, context, row_counts, sample, query, field, kind
    ):
        before = row_counts()
        response = invoke(context, sample, query)
        assert response["statusCode"] == 422, response["body"]
        body = response_json(response)
        assert body["ok"] is False and body["error"] == "validation_failed"
        assert {"loc": field, "type": kind} in [{"loc": d["loc"], "type": d["type"]} for d in body["details"]]
        assert all(detail["msg"] for detail in body["details"])
        assert row_counts() == before

    def test_a_from_after_today_is_refused_for_itself(self, api, context):
        details = response_json(invoke(context, "metrics/summary", "from=2026-03-01"))["details"]
        assert {detail["loc"] for detail in details} == {"from"}

    def test_every_problem_of_a_query_is_reported_at_once(self, api, context):
        response = invoke(context, "metrics/summary", "from=2026-2-1&compareTo=maybe&includeFunnel=x")
        assert [detail["loc"] for detail in response_json(response)["details"]] == [
            "from",
            "compareTo",
            "includeFunnel",
        ]

    @pytest.mark.parametrize("flag", ["true", "false", "1", "0"])
    def test_booleans_take_true_false_1_and_0(self, api, context, flag):
        assert (
            invoke(context, "metrics/summary", f"compareTo={flag}&includeFunnel={flag}")["statusCode"] == 200
        )


SUMMARY_PARAMETERS = [
    "compareTo",
    "format",
    "from",
    "includeBreakdowns",
    "includeFunnel",
    "period",
    "propertyId",
    "table",
    "to",
    "top",
]
USAGE_PARAMETERS = ["compareTo", "format", "from", "groupBy", "period", "table", "tenantId", "to"]


class TestUnknownParameters:
    @pytest.mark.parametrize(
        ("sample", "query", "unknown", "accepted"),
        [
            ("metrics/summary", "colour=blue", ["colour"], SUMMARY_PARAMETERS),
            # a parameter's name in the wrong case is another name
            ("metrics/summary", "includefunnel=true", ["includefunnel"], SUMMARY_PARAMETERS),
            ("metrics/summary", "from=2026-02-01&tenantId=t1&x=", ["tenantId", "x"], SUMMARY_PARAMETERS),
            ("metrics/service_usage", "propertyId=default", ["propertyId"], USAGE_PARAMETERS),
        ],
    )
    def test_an_unknown_parameter_is_400_listing_the_accepted_ones_and_writes_nothing(
        self, api, context, row_counts, sample, query, unknown, accepted
    ):
        before = row_counts()
        response = invoke(context, sample, query)
        assert response["statusCode"] == 400
        assert response_json(response) == {
            "ok": False,
            "error": "unknown_query_parameter",
            "details": {"unknown": unknown},
            "accepted": accepted,
        }
        assert row_counts() == before

    def test_it_comes_before_validation_and_after_authentication(self, api, context):
        assert invoke(context, "metrics/summary", "from=bad&colour=blue")["statusCode"] == 400
        assert invoke(context, "metrics/summary", "colour=blue", key="wrong-key")["statusCode"] == 401

    def test_every_declared_parameter_is_accepted(self, api, context):
        query = "propertyId=default&from=2026-02-01&to=2026-02-07&compareTo=true&includeFunnel=true"
        assert invoke(context, "metrics/summary", query)["statusCode"] == 200


def window_of(context: Any, sample: str, query: str) -> dict[str, Any]:
    response = invoke(context, sample, query)
    assert response["statusCode"] == 200, response["body"]
    return dict(response_json(response)["window"])


class TestPeriod:
    # NOW is 2026-02-14 09:00 UTC.
    @pytest.mark.parametrize(
        ("period", "first", "last"),
        [
            ("today", "2026-02-14", "2026-02-14"),
            ("7d", "2026-02-07", "2026-02-13"),
            ("30d", "2026-01-15", "2026-02-13"),
            ("90d", "2025-11-16", "2026-02-13"),
            ("month", "2026-02-01", "2026-02-14"),
            ("last_month", "2026-01-01", "2026-01-31"),
        ],
    )
    @pytest.mark.parametrize("sample", ["metrics/summary", "metrics/service_usage"])
    def test_a_period_is_resolved_in_utc_and_echoed(self, api, context, sample, period, first, last):
        assert window_of(context, sample, f"period={period}") == {"from": first, "to": last, "period": period}

    def test_from_and_to_echo_no_period(self, api, context):
        assert window_of(context, "metrics/summary", "from=2026-02-01&to=2026-02-07")["period"] is None

    def test_the_comparison_window_of_a_period_is_the_one_just_before(self, api, context):
        body = response_json(invoke(context, "metrics/summary", "period=7d&compareTo=true"))
        assert body["compareTo"] == {"from": "2026-01-31", "to": "2026-02-06"}

    @pytest.mark.parametrize(
        ("moment", "period", "first", "last"),
        [
            # the last instant of a UTC day and the first of the next
            (at(2, 28, 23, 59, 59), "today", "2026-02-28", "2026-02-28"),
            (at(3, 1, 0, 0, 0), "today", "2026-03-01", "2026-03-01"),
            (at(2, 28, 23, 59, 59), "month", "2026-02-01", "2026-02-28"),
            (at(3, 1, 0, 0, 0), "month", "2026-03-01", "2026-03-01"),
            (at(2, 28, 23, 59, 59), "last_month", "2026-01-01", "2026-01-31"),
            (at(3, 1, 0, 0, 0), "last_month", "2026-02-01", "2026-02-28"),
            (at(3, 1, 0, 0, 0), "7d", "2026-02-22", "2026-02-28"),
            (datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "last_month", "2026-12-01", "2026-12-31"),
            (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "month", "2026-12-01", "2026-12-31"),
            # a clock in another zone is read in UTC: 2026-03-01 01:30+02:00 is 02-28 in UTC
            (
                datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))),
                "today",
                "2026-02-28",
                "2026-02-28",
            ),
        ],
    )
    def test_periods_at_the_edges_of_days_months_and_years(
        self, api, context, set_clock, moment, period, first, last
    ):
        set_clock(moment)
        window = window_of(context, "metrics/summary", f"period={period}")
        assert (window["from"], window["to"]) == (first, last)

    @pytest.mark.parametrize("query", ["period=7d&from=2026-02-01", "period=7d&to=2026-02-01"])
    @pytest.mark.parametrize("sample", ["metrics/summary", "metrics/service_usage"])
    def test_a_period_with_dates_is_400_and_writes_nothing(self, api, context, row_counts, sample, query):
        before = row_counts()
        response = invoke(context, sample, query)
        assert response["statusCode"] == 400
        body = response_json(response)
        assert body["error"] == "period_with_dates"
        assert body["details"]["with"] == [query.split("&")[1].split("=")[0]]
        assert row_counts() == before

    @pytest.mark.parametrize("period", ["", "1d", "365d", "week", "TODAY", "30D"])
    def test_an_unknown_period_is_422(self, api, context, period):
        response = invoke(context, "metrics/summary", f"period={period}")
        assert response["statusCode"] == 422
        assert [detail["loc"] for detail in response_json(response)["details"]] == ["period"]


@dataclass
class Wire:
    """What a connection sent, from libpq's protocol trace."""

    statements: int = 0
    trace: str = ""


@contextmanager
def wire(conn: psycopg.Connection) -> Iterator[Wire]:
    """Watch a connection's protocol in the block: each simple ``Query`` and each
    extended-protocol ``Execute`` message is one statement run."""
    seen = Wire()
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield seen
        finally:
            conn.pgconn.untrace()
            trace.seek(0)
            seen.trace = trace.read()
    # Statement texts span lines; message lines start with the direction and the length.
    messages = [line.split("\t") for line in seen.trace.splitlines() if line.startswith("F\t")]
    seen.statements = sum(1 for message in messages if message[2] in ("Query", "Execute"))


class TestCache:
    def test_a_repeated_request_runs_one_version_check_and_nothing_else(self, api, db, context):
        # Given a summary answered once
        metric_day(db, date(2026, 2, 2), visitors=["a", "b"], page_views=3)
        first = invoke(context, "metrics/summary_compare_funnel")
        connection = get_runtime().database.connection()

        # When the same request comes again
        with wire(connection) as sent:
            again = invoke(context, "metrics/summary_compare_funnel")

        # Then the same answer comes back after one statement, the version check, outside
        # any transaction: no report query reached the database
        assert again["body"] == first["body"]
        assert sent.statements == 1
        assert "BEGIN" not in sent.trace

    def test_a_cold_request_reads_its_report_from_one_snapshot(self, api, db, context):
        connection = get_runtime().database.connection()
        with wire(connection) as sent:
            invoke(context, "metrics/summary_compare_funnel")
        assert sent.statements > 5
        begin = sent.trace.index('Query\t "BEGIN"')
        assert sent.trace.index("REPEATABLE READ, READ ONLY", begin) < sent.trace.index(
            "daily_metric_rollups", begin
        )

    def test_a_new_rollup_is_visible_to_the_next_request(self, api, db, context):
        metric_day(db, date(2026, 2, 2), visitors=["a", "b"], page_views=3)
        before = response_json(invoke(context, "metrics/summary_compare_funnel"))

        # When the rollup engine replaces the day (a newer generated_at)
        db.execute(
            "UPDATE daily_metric_rollups SET total_page_views = 30, generated_at = clock_timestamp() "
            "WHERE day = '2026-02-02'"
        )
        after = response_json(invoke(context, "metrics/summary_compare_funnel"))

        assert before["metrics"]["totalPageViews"]["value"] == 3
        assert after["metrics"]["totalPageViews"]["value"] == 30

    def test_a_new_usage_rollup_is_visible_to_the_next_request(self, api, db, context):
        assert (
            response_json(invoke(context, "metrics/service_usage"))["usage"]["totalScansCompleted"]["value"]
            == 0
        )
        usage_day(db, date(2026, 2, 1), "t1", completed=4)
        assert (
            response_json(invoke(context, "metrics/service_usage"))["usage"]["totalScansCompleted"]["value"]
            == 4
        )

    def test_a_finished_rollup_run_refreshes_the_freshness(self, api, db, context):
        assert response_json(invoke(context, "metrics/summary"))["freshness"]["rolledUpThrough"] is None
        rollup_run(db, to_day=date(2026, 2, 8), finished_at=at(2, 9, 1))
        assert response_json(invoke(context, "metrics/summary"))["freshness"] == {
            "rolledUpThrough": "2026-02-08",
            "lagDays": 6,
            "generatedAt": "2026-02-09T01:00:00Z",
        }

    def test_a_new_utc_day_recomputes_the_lag(self, api, db, set_clock, context):
        rollup_run(db, to_day=date(2026, 2, 8), finished_at=at(2, 9, 1))
        assert response_json(invoke(context, "metrics/summary"))["freshness"]["lagDays"] == 6
        set_clock(at(2, 15, 0, 0, 1))
        assert response_json(invoke(context, "metrics/summary"))["freshness"]["lagDays"] == 7

    def test_different_queries_are_kept_apart(self, api, db, context):
        metric_day(db, date(2026, 2, 2), property_id="docs", visitors=["a"], page_views=7)
        everything = invoke(context, "metrics/summary", "from=2026-02-01&to=2026-02-07")
        site = invoke(context, "metrics/summary", "from=2026-02-01&to=2026-02-07&propertyId=default")
        assert response_json(everything)["metrics"]["totalPageViews"]["value"] == 7
        assert response_json(site)["metrics"]["totalPageViews"]["value"] == 0
