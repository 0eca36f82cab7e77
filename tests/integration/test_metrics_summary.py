"""GET /v1/metrics/summary through the Lambda handler, on rollup rows written with SQL:
every metric and delta computed by hand, windows (default, single day, across a month,
empty), freshness from the run ledger, ingest, the trend and the funnel."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
import pytest

import metrics_handler
from funnel.metrics.api import ReportCache
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY
from tests.read_model import at, february_cohort, ingest_day, metric_day, rollup_run

pytestmark = pytest.mark.integration

NOW = at(2, 9, 13)
WINDOW = "from=2026-02-01&to=2026-02-07"


@pytest.fixture
def api(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    """The metrics function with the clock at NOW and a cold cache."""
    set_clock(NOW)
    lambda_env.setattr(metrics_handler, "cache", ReportCache())


def get_summary(context: Any, query: str) -> dict[str, Any]:
    event = api_event("metrics/summary", query=query, headers={"x-admin-key": ADMIN_KEY})
    response = metrics_handler.lambda_handler(event, context)
    assert response["statusCode"] == 200, response["body"]
    body: dict[str, Any] = response_json(response)
    return body


def february_traffic(db: psycopg.Connection) -> None:
    """Two days of the window 2026-02-01..07 and one day of the window before it."""
    metric_day(
        db,
        date(2026, 2, 2),
        visitors=["v1", "v2", "v3"],
        returning=1,
        page_views=10,
        entrances=4,
        conversions=1,
        form_starts=4,
        form_submits=2,
        new_leads=1,
        time_to_first_capture_ms=[7_200_000],
        sources={"direct": 6, "organic_search": 4},
        source_visitors={"direct": ["v1", "v2"], "organic_search": ["v3"]},
    )
    metric_day(
        db,
        date(2026, 2, 5),
        visitors=["v2", "v4"],
        returning=1,
        page_views=6,
        entrances=2,
        conversions=1,
        form_starts=1,
        form_submits=1,
        new_leads=1,
        time_to_first_capture_ms=[14_400_000],
        sources={"direct": 2, "social": 4},
        source_visitors={"direct": ["v2"], "social": ["v4"]},
    )
    metric_day(
        db,
        date(2026, 1, 28),
        visitors=["v9", "v10", "v11", "v12", "v13"],
        returning=1,
        page_views=8,
        entrances=4,
        conversions=2,
        form_starts=2,
        form_submits=2,
        new_leads=1,
        time_to_first_capture_ms=[3_600_000],
        sources={"direct": 8},
    )


def values(body: dict[str, Any]) -> dict[str, Any]:
    return {name: metric["value"] for name, metric in body["metrics"].items() if name != "trafficSourceMix"}


def deltas(body: dict[str, Any]) -> dict[str, Any]:
    return {name: metric["delta"] for name, metric in body["metrics"].items() if name != "trafficSourceMix"}


def test_every_metric_of_a_window_and_its_delta_against_the_window_before(api, db, context):
    # Given two rolled-up days in the window and one in the window before
    february_traffic(db)

    # When the summary is asked with a comparison
    body = get_summary(context, f"{WINDOW}&compareTo=true")

    # Then the windows are the asked one and the 7 days before it
    assert body["window"] == {"from": "2026-02-01", "to": "2026-02-07", "period": None}
    assert body["compareTo"] == {"from": "2026-01-25", "to": "2026-01-31"}
    # And each value is the window's ratio of sums (v2 came on both days: 4 visitors)
    assert values(body) == {
        "uniqueVisitors": 4,
        "returningVisitorsPct": pytest.approx(2 / 5),
        "totalPageViews": 16,
        "leadCaptureRate": pytest.approx(2 / 4),
        "formCompletionRate": pytest.approx(3 / 5),
        "landingPageConversionRate": pytest.approx(2 / 6),
        "avgTimeToFirstCaptureHrs": pytest.approx(3.0),
    }
    # And each delta is (current - comparison) / comparison, by hand from the day before
    # the window: 5 visitors, 1/5 returning, 8 views, 1/5 capture, 2/2 forms, 2/4, 1 hour
    assert deltas(body) == {
        "uniqueVisitors": pytest.approx((4 - 5) / 5),
        "returningVisitorsPct": pytest.approx((0.4 - 0.2) / 0.2),
        "totalPageViews": pytest.approx((16 - 8) / 8),
        "leadCaptureRate": pytest.approx((0.5 - 0.2) / 0.2),
        "formCompletionRate": pytest.approx((0.6 - 1.0) / 1.0),
        "landingPageConversionRate": pytest.approx((2 / 6 - 2 / 4) / (2 / 4)),
        "avgTimeToFirstCaptureHrs": pytest.approx((3.0 - 1.0) / 1.0),
    }
    # And the traffic mix is each source's share of page views, summing to 1
    mix = body["metrics"]["trafficSourceMix"]
    assert mix == {"direct": 0.5, "organic_search": 0.25, "social": 0.25}
    assert sum(mix.values()) == pytest.approx(1)


def test_without_compare_to_every_delta_is_null(api, db, context):
    february_traffic(db)
    body = get_summary(context, WINDOW)
    assert body["compareTo"] is None
    assert set(deltas(body).values()) == {None}
    assert values(body)["uniqueVisitors"] == 4


def test_a_delta_is_null_when_the_comparison_is_zero_or_null(api, db, context):
    # Given traffic only in the window: the window before has no visitors and no forms
    metric_day(db, date(2026, 2, 3), visitors=["a"], page_views=2, form_starts=1, form_submits=1)

    body = get_summary(context, f"{WINDOW}&compareTo=true")

    assert values(body)["totalPageViews"] == 2
    assert set(deltas(body).values()) == {None}


def test_the_trend_has_every_day_of_the_window_zero_filled(api, db, context):
    february_traffic(db)
    body = get_summary(context, WINDOW)
    assert body["trend"] == [
        {"day": "2026-02-01", "uniqueVisitors": 0, "pageViews": 0, "newLeads": 0},
        {"day": "2026-02-02", "uniqueVisitors": 3, "pageViews": 10, "newLeads": 1},
        {"day": "2026-02-03", "uniqueVisitors": 0, "pageViews": 0, "newLeads": 0},
        {"day": "2026-02-04", "uniqueVisitors": 0, "pageViews": 0, "newLeads": 0},
        {"day": "2026-02-05", "uniqueVisitors": 2, "pageViews": 6, "newLeads": 1},
        {"day": "2026-02-06", "uniqueVisitors": 0, "pageViews": 0, "newLeads": 0},
        {"day": "2026-02-07", "uniqueVisitors": 0, "pageViews": 0, "newLeads": 0},
    ]


def test_a_single_day_window_and_its_comparison_day(api, db, context):
    february_traffic(db)
    body = get_summary(context, "from=2026-02-02&to=2026-02-02&compareTo=true")
    assert body["window"] == {"from": "2026-02-02", "to": "2026-02-02", "period": None}
    assert body["compareTo"] == {"from": "2026-02-01", "to": "2026-02-01"}
    assert values(body) == {
        "uniqueVisitors": 3,
        "returningVisitorsPct": pytest.approx(1 / 3),
        "totalPageViews": 10,
        "leadCaptureRate": pytest.approx(1 / 3),
        "formCompletionRate": pytest.approx(2 / 4),
        "landingPageConversionRate": pytest.approx(1 / 4),
        "avgTimeToFirstCaptureHrs": pytest.approx(2.0),
    }
    # The day before had nothing: no delta can be computed
    assert set(deltas(body).values()) == {None}
    assert body["trend"] == [{"day": "2026-02-02", "uniqueVisitors": 3, "pageViews": 10, "newLeads": 1}]


def test_a_window_across_a_month_boundary(api, db, context):
    february_traffic(db)
    body = get_summary(context, "from=2026-01-28&to=2026-02-02&compareTo=true")

    assert body["compareTo"] == {"from": "2026-01-22", "to": "2026-01-27"}
    assert [entry["day"] for entry in body["trend"]] == [
        "2026-01-28",
        "2026-01-29",
        "2026-01-30",
        "2026-01-31",
        "2026-02-01",
        "2026-02-02",
    ]
    assert [entry["pageViews"] for entry in body["trend"]] == [8, 0, 0, 0, 0, 10]
    # Both months' days are merged: 5 visitors on 01-28, 3 others on 02-02
    assert values(body)["uniqueVisitors"] == 8
    assert values(body)["totalPageViews"] == 18
    assert values(body)["formCompletionRate"] == pytest.approx(4 / 6)


def test_an_empty_window_is_zeros_and_null_rates(api, db, context):
    # Given rollups far from the window asked for
    february_traffic(db)

    body = get_summary(context, "from=2025-06-01&to=2025-06-30&compareTo=true&includeFunnel=true")

    assert values(body) == {
        "uniqueVisitors": 0,
        "returningVisitorsPct": None,
        "totalPageViews": 0,
        "leadCaptureRate": None,
        "formCompletionRate": None,
        "landingPageConversionRate": None,
        "avgTimeToFirstCaptureHrs": None,
    }
    assert set(deltas(body).values()) == {None}
    assert body["metrics"]["trafficSourceMix"] == {}
    assert body["ingest"] == {
        "successPct": None,
        "p95TtfbMs": None,
        "totalEventsAccepted": 0,
        "totalEventsRejected": 0,
        "totalEventsDuplicate": 0,
        "totalEventsBot": 0,
    }
    assert len(body["trend"]) == 30
    assert {(e["uniqueVisitors"], e["pageViews"], e["newLeads"]) for e in body["trend"]} == {(0, 0, 0)}
    assert body["funnel"] == {
        "marketingVisitors": 0,
        "leadsCaptured": 0,
        "tenantsCreated": 0,
        "tenantsWithApiKey": 0,
        "tenantsWithFirstScan": 0,
        "tenantsActive30d": 0,
        "leadToTenantConversionRate": None,
        "activationRate": None,
        "apiKeyCreationRate": None,
        "timeToFirstScanHours": {"median": None, "mean": None},
    }


def test_the_default_window_is_the_last_30_complete_utc_days(api, db, context):
    body = get_summary(context, "")
    assert body["window"] == {"from": "2026-01-10", "to": "2026-02-08", "period": None}
    assert len(body["trend"]) == 30


def test_to_may_be_today_a_partial_day(api, db, context):
    metric_day(db, date(2026, 2, 9), visitors=["early"], page_views=1)
    body = get_summary(context, "from=2026-02-09&to=2026-02-09")
    assert values(body)["totalPageViews"] == 1


def test_only_from_ends_the_window_yesterday_and_only_to_takes_30_days(api, db, context):
    assert get_summary(context, "from=2026-02-01")["window"] == {
        "from": "2026-02-01",
        "to": "2026-02-08",
        "period": None,
    }
    assert get_summary(context, "from=2026-02-09")["window"] == {
        "from": "2026-02-09",
        "to": "2026-02-09",
        "period": None,
    }
    assert get_summary(context, "to=2026-01-30")["window"] == {
        "from": "2026-01-01",
        "to": "2026-01-30",
        "period": None,
    }


def test_ingest_reliability_is_event_weighted(api, db, context):
    # Given three days: p95 40 ms over 30 samples, 100 ms over 10, and a day without TTFB
    # (and their duplicates and bots, counted beside them), and a day outside the window
    ingest_day(
        db, date(2026, 2, 2), accepted=100, rejected=2, duplicate=4, bot=7, p95_ttfb_ms=40, ttfb_samples=30
    )
    ingest_day(db, date(2026, 2, 5), accepted=50, rejected=1, duplicate=1, p95_ttfb_ms=100, ttfb_samples=10)
    ingest_day(db, date(2026, 2, 6), accepted=10, bot=2)
    ingest_day(
        db,
        date(2026, 1, 28),
        accepted=999,
        rejected=999,
        duplicate=999,
        bot=999,
        p95_ttfb_ms=999,
        ttfb_samples=999,
    )

    body = get_summary(context, WINDOW)

    assert body["ingest"] == {
        "successPct": pytest.approx(160 / 163),
        "p95TtfbMs": pytest.approx((40 * 30 + 100 * 10) / 40),
        "totalEventsAccepted": 160,
        "totalEventsRejected": 3,
        "totalEventsDuplicate": 5,
        "totalEventsBot": 9,
    }


def test_freshness_is_the_last_complete_day_a_successful_run_covered(api, db, context):
    # Given a run that finished after 02-07 ended, one covering today (so through yesterday),
    # and later a failed run and a dry run, which do not count
    rollup_run(db, to_day=date(2026, 2, 7), finished_at=at(2, 8, 4))
    rollup_run(db, from_day=date(2026, 2, 2), to_day=date(2026, 2, 9), finished_at=at(2, 9, 10))
    rollup_run(db, to_day=date(2026, 2, 9), finished_at=at(2, 9, 11), status="failed")
    rollup_run(db, to_day=date(2026, 2, 9), finished_at=at(2, 9, 12), dry_run=True)

    body = get_summary(context, WINDOW)

    assert body["freshness"] == {
        "rolledUpThrough": "2026-02-08",
        "lagDays": 1,
        "generatedAt": "2026-02-09T10:00:00Z",
    }


def test_freshness_before_any_run_is_null(api, db, context):
    assert get_summary(context, WINDOW)["freshness"] == {
        "rolledUpThrough": None,
        "lagDays": None,
        "generatedAt": None,
    }


def test_a_property_filter_reads_only_that_property(api, db, context):
    # Given the site's traffic and a second property's
    february_traffic(db)
    metric_day(
        db,
        date(2026, 2, 3),
        property_id="docs",
        visitors=["d1", "d2"],
        page_views=5,
        sources={"referral": 5},
    )
    ingest_day(db, date(2026, 2, 3), property_id="docs", accepted=7)

    docs = get_summary(context, f"{WINDOW}&propertyId=docs")
    everything = get_summary(context, WINDOW)
    site = get_summary(context, f"{WINDOW}&propertyId=default")

    assert values(docs)["uniqueVisitors"] == 2
    assert docs["metrics"]["trafficSourceMix"] == {"referral": 1.0}
    assert docs["ingest"]["totalEventsAccepted"] == 7
    assert values(site)["uniqueVisitors"] == 4
    assert values(everything)["uniqueVisitors"] == 6
    assert values(everything)["totalPageViews"] == 21
    assert everything["trend"][2] == {"day": "2026-02-03", "uniqueVisitors": 2, "pageViews": 5, "newLeads": 0}


def test_include_funnel_adds_the_cohort_of_the_window(api, db, context):
    # Given the February leads and tenants (tests/read_model.py) and the site's traffic
    february_traffic(db)
    february_cohort(db)

    body = get_summary(context, f"{WINDOW}&includeFunnel=true")

    # Then visitors are the window's, leads those first captured in it (every property),
    # tenants those created in it and the stages they reached by its end
    assert body["funnel"] == {
        "marketingVisitors": 4,
        "leadsCaptured": 4,
        "tenantsCreated": 5,
        "tenantsWithApiKey": 4,
        "tenantsWithFirstScan": 3,
        "tenantsActive30d": 3,
        "leadToTenantConversionRate": pytest.approx(3 / 4),
        "activationRate": pytest.approx(3 / 5),
        "apiKeyCreationRate": pytest.approx(4 / 5),
        "timeToFirstScanHours": {"median": pytest.approx(24.0), "mean": pytest.approx(30.0)},
    }


def test_the_funnel_of_one_property_counts_its_leads_only(api, db, context):
    february_traffic(db)
    february_cohort(db)
    docs = get_summary(context, f"{WINDOW}&includeFunnel=true&propertyId=docs")["funnel"]
    site = get_summary(context, f"{WINDOW}&includeFunnel=true&propertyId=default")["funnel"]
    # Tenants stay every property's; leads, and the tenants counted as coming from one,
    # are the property's: no docs lead became a tenant, and the site's three tenants with a
    # lead (T1, T2, T5) came from its three leads of the window's
    assert (docs["marketingVisitors"], docs["leadsCaptured"], docs["tenantsCreated"]) == (0, 1, 5)
    assert docs["leadToTenantConversionRate"] == 0.0
    assert (site["leadsCaptured"], site["tenantsCreated"]) == (3, 5)
    assert site["leadToTenantConversionRate"] == pytest.approx(1.0)


def test_without_include_funnel_there_is_no_funnel_block(api, db, context):
    assert "funnel" not in get_summary(context, WINDOW)


def test_the_window_may_be_366_days_long(api, db, context):
    body = get_summary(context, "from=2025-02-09&to=2026-02-09")
    assert len(body["trend"]) == 366
    assert (body["trend"][0]["day"], body["trend"][-1]["day"]) == ("2025-02-09", "2026-02-09")
