"""GET /v1/metrics/service-usage through the Lambda handler, on rollup, milestone and lead
rows written with SQL (the February cohort of tests/read_model.py): usage and its deltas,
the funnel and its rates (docs/metrics.md#funnel-rates), the tenant filter and each groupBy,
all computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import psycopg
import pytest

import metrics_handler
from funnel.metrics.api import ReportCache
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY
from tests.read_model import at, february_cohort, metric_day, tenant, usage_day

pytestmark = pytest.mark.integration

NOW = at(2, 9, 13)
WINDOW = "from=2026-02-01&to=2026-02-07"


@pytest.fixture
def api(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    set_clock(NOW)
    lambda_env.setattr(metrics_handler, "cache", ReportCache())


@pytest.fixture
def february(db: psycopg.Connection) -> None:
    """The February cohort and the site's visitors: 5 in the window (v1..v4 on the site,
    d1 on the docs), by source: direct {v1, v2}, organic_search {v3}, social {v4},
    referral {d1}."""
    february_cohort(db)
    metric_day(
        db,
        date(2026, 2, 2),
        visitors=["v1", "v2", "v3"],
        source_visitors={"direct": ["v1", "v2"], "organic_search": ["v3"]},
    )
    metric_day(
        db, date(2026, 2, 5), visitors=["v2", "v4"], source_visitors={"direct": ["v2"], "social": ["v4"]}
    )
    metric_day(
        db, date(2026, 2, 3), property_id="docs", visitors=["d1"], source_visitors={"referral": ["d1"]}
    )


def get_usage(context: Any, query: str) -> dict[str, Any]:
    event = api_event("metrics/service_usage", query=query, headers={"x-admin-key": ADMIN_KEY})
    response = metrics_handler.lambda_handler(event, context)
    assert response["statusCode"] == 200, response["body"]
    body: dict[str, Any] = response_json(response)
    return body


def funnel(
    visitors: int | None,
    leads: int,
    created: int,
    with_lead: int,
    api_key: int,
    first_scan: int,
    active: int,
    hours: list[float],
) -> dict[str, Any]:
    """The expected funnel, its rates and time to first scan computed from its counts."""
    hours = sorted(hours)
    middle = len(hours) // 2
    median = (
        None if not hours else hours[middle] if len(hours) % 2 else (hours[middle - 1] + hours[middle]) / 2
    )
    return {
        "marketingVisitors": visitors,
        "leadsCaptured": leads,
        "tenantsCreated": created,
        "tenantsWithApiKey": api_key,
        "tenantsWithFirstScan": first_scan,
        "tenantsActive30d": active,
        "leadToTenantConversionRate": pytest.approx(with_lead / leads) if leads else None,
        "activationRate": pytest.approx(first_scan / created) if created else None,
        "apiKeyCreationRate": pytest.approx(api_key / created) if created else None,
        "timeToFirstScanHours": {
            "median": None if median is None else pytest.approx(median),
            "mean": pytest.approx(sum(hours) / len(hours)) if hours else None,
        },
    }


def test_usage_of_every_tenant_with_deltas_against_the_window_before(api, february, context):
    body = get_usage(context, f"{WINDOW}&compareTo=true")

    assert body["window"] == {"from": "2026-02-01", "to": "2026-02-07", "period": None}
    assert body["compareTo"] == {"from": "2026-01-25", "to": "2026-01-31"}
    # By hand from the rows of T1 (02-03), T2 and T3 (02-06), T6 (02-01) and T4 (02-02);
    # the window before has T4's 01-28 only
    usage = {name: (metric["value"], metric["delta"]) for name, metric in body["usage"].items()}
    assert usage == {
        "totalScansCompleted": (6, pytest.approx((6 - 3) / 3)),
        "totalScansFailed": (2, pytest.approx((2 - 1) / 1)),
        "scanSuccessRate": (pytest.approx(6 / 8), pytest.approx(0.0)),
        "totalMediaProcessed": (46, pytest.approx((46 - 20) / 20)),
        "totalIdentitiesDetected": (12, pytest.approx((12 - 8) / 8)),
        "avgScanDurationMs": (pytest.approx(13_500 / 6), pytest.approx((2250 - 3000) / 3000)),
        "totalClustersCreated": (3, pytest.approx((3 - 1) / 1)),
        "suggestionResolutionRate": (pytest.approx(8 / 10), pytest.approx((0.8 - 0.25) / 0.25)),
    }


def test_the_trend_has_every_day_of_the_window_zero_filled(api, february, context):
    body = get_usage(context, WINDOW)
    assert [
        (d["day"], d["scansCompleted"], d["mediaProcessed"], d["identitiesDetected"]) for d in body["trend"]
    ] == [
        ("2026-02-01", 2, 5, 1),
        ("2026-02-02", 1, 1, 1),
        ("2026-02-03", 1, 10, 4),
        ("2026-02-04", 0, 0, 0),
        ("2026-02-05", 0, 0, 0),
        ("2026-02-06", 2, 30, 6),
        ("2026-02-07", 0, 0, 0),
    ]


def test_the_funnel_follows_the_tenants_created_in_the_window(api, february, context):
    body = get_usage(context, WINDOW)

    # Created in the window: T1, T2, T3, T5 (23:59:59 on the last day) and T6. T2's
    # apikey.created is stamped the day after, but it scanned in the window, which takes a
    # key: it counts at both stages. T5's first scan came after the window: it counts at none.
    assert body["funnel"] == funnel(
        visitors=5, leads=4, created=5, with_lead=3, api_key=4, first_scan=3, active=3, hours=[24, 60, 6]
    )
    assert "funnelByGroup" not in body


def test_a_tenant_filter_follows_one_tenant(api, february, context):
    body = get_usage(context, f"{WINDOW}&tenantId=T2&compareTo=true")

    usage = {name: metric["value"] for name, metric in body["usage"].items()}
    assert usage == {
        "totalScansCompleted": 2,
        "totalScansFailed": 1,
        "scanSuccessRate": pytest.approx(2 / 3),
        "totalMediaProcessed": 30,
        "totalIdentitiesDetected": 6,
        "avgScanDurationMs": pytest.approx(4500),
        "totalClustersCreated": 0,
        "suggestionResolutionRate": None,
    }
    # T2 had no usage the week before: no deltas
    assert {metric["delta"] for metric in body["usage"].values()} == {None}
    assert [d["scansCompleted"] for d in body["trend"]] == [0, 0, 0, 0, 0, 2, 0]
    # Its funnel stages are its own (its scan proves a key); visitors and leads stay the site's
    assert body["funnel"] == funnel(
        visitors=5, leads=4, created=1, with_lead=1, api_key=1, first_scan=1, active=1, hours=[60]
    )


def test_a_tenant_created_before_the_window_has_usage_but_is_not_in_its_cohort(api, february, context):
    body = get_usage(context, f"{WINDOW}&tenantId=T4")
    assert body["usage"]["totalScansCompleted"]["value"] == 1
    assert body["funnel"]["tenantsCreated"] == 0
    assert body["funnel"]["activationRate"] is None


def test_an_unknown_tenant_is_an_empty_answer(api, february, context):
    body = get_usage(context, f"{WINDOW}&tenantId=nobody&compareTo=true")
    assert {name: metric["value"] for name, metric in body["usage"].items()} == {
        "totalScansCompleted": 0,
        "totalScansFailed": 0,
        "scanSuccessRate": None,
        "totalMediaProcessed": 0,
        "totalIdentitiesDetected": 0,
        "avgScanDurationMs": None,
        "totalClustersCreated": 0,
        "suggestionResolutionRate": None,
    }
    assert {metric["delta"] for metric in body["usage"].values()} == {None}


def test_group_by_channel(api, february, context):
    body = get_usage(context, f"{WINDOW}&groupBy=channel")

    assert body["funnelByGroup"]["groupBy"] == "channel"
    # Each channel's visitors came through it; its leads were first captured in the window
    # through it; its tenants came from a lead whose first touch was it (T2's lead is older)
    assert body["funnelByGroup"]["groups"] == {
        "direct": funnel(2, leads=1, created=1, with_lead=1, api_key=0, first_scan=0, active=0, hours=[]),
        "organic_search": funnel(
            1, leads=1, created=1, with_lead=1, api_key=1, first_scan=1, active=1, hours=[24]
        ),
        "paid_search": funnel(
            0, leads=0, created=1, with_lead=1, api_key=1, first_scan=1, active=1, hours=[60]
        ),
        "referral": funnel(1, leads=1, created=0, with_lead=0, api_key=0, first_scan=0, active=0, hours=[]),
        "social": funnel(1, leads=0, created=0, with_lead=0, api_key=0, first_scan=0, active=0, hours=[]),
        "(not set)": funnel(
            None, leads=1, created=0, with_lead=0, api_key=0, first_scan=0, active=0, hours=[]
        ),
        "unattributed": funnel(
            None, leads=0, created=2, with_lead=0, api_key=2, first_scan=1, active=1, hours=[6]
        ),
    }
    # The groups add up to the total, except visitors (one can arrive through several channels)
    groups = body["funnelByGroup"]["groups"].values()
    assert sum(g["leadsCaptured"] for g in groups) == body["funnel"]["leadsCaptured"] == 4
    assert sum(g["tenantsCreated"] for g in groups) == body["funnel"]["tenantsCreated"] == 5


def test_group_by_utm_source(api, february, context):
    groups = get_usage(context, f"{WINDOW}&groupBy=utm_source")["funnelByGroup"]["groups"]
    assert groups == {
        "google": funnel(
            None, leads=1, created=2, with_lead=2, api_key=2, first_scan=2, active=2, hours=[24, 60]
        ),
        "partner": funnel(None, leads=1, created=0, with_lead=0, api_key=0, first_scan=0, active=0, hours=[]),
        "(not set)": funnel(
            None, leads=2, created=1, with_lead=1, api_key=0, first_scan=0, active=0, hours=[]
        ),
        "unattributed": funnel(
            None, leads=0, created=2, with_lead=0, api_key=2, first_scan=1, active=1, hours=[6]
        ),
    }


def test_group_by_utm_campaign(api, february, context):
    groups = get_usage(context, f"{WINDOW}&groupBy=utm_campaign")["funnelByGroup"]["groups"]
    assert groups == {
        "spring": funnel(
            None, leads=1, created=1, with_lead=1, api_key=1, first_scan=1, active=1, hours=[24]
        ),
        "winter": funnel(
            None, leads=0, created=1, with_lead=1, api_key=1, first_scan=1, active=1, hours=[60]
        ),
        "(not set)": funnel(
            None, leads=3, created=1, with_lead=1, api_key=0, first_scan=0, active=0, hours=[]
        ),
        "unattributed": funnel(
            None, leads=0, created=2, with_lead=0, api_key=2, first_scan=1, active=1, hours=[6]
        ),
    }


def test_a_tenant_whose_lead_was_deleted_is_unattributed(api, february, db, context):
    # Given L1 erased by email (its tenant keeps its milestones, without the lead)
    db.execute("DELETE FROM leads WHERE email_normalized = 'l1@example.com'")

    groups = get_usage(context, f"{WINDOW}&groupBy=channel")["funnelByGroup"]["groups"]

    assert groups["unattributed"]["tenantsCreated"] == 3
    assert groups["organic_search"]["tenantsCreated"] == 0


def test_an_empty_window_is_zeros_and_null_rates(api, february, context):
    body = get_usage(context, "from=2025-06-01&to=2025-06-30&compareTo=true&groupBy=channel")
    assert {metric["value"] for name, metric in body["usage"].items() if "Rate" in name or "avg" in name} == {
        None
    }
    assert {metric["delta"] for metric in body["usage"].values()} == {None}
    assert body["funnel"] == funnel(
        0, leads=0, created=0, with_lead=0, api_key=0, first_scan=0, active=0, hours=[]
    )
    assert body["funnelByGroup"] == {"groupBy": "channel", "groups": {}}
    assert len(body["trend"]) == 30


def scanned(db: psycopg.Connection, tenant_id: str, day: date) -> None:
    """A completed scan on ``day``, as the webhook and the rollups record it: the tenant's
    last scan moves forward and the day's usage row counts it."""
    db.execute(
        "UPDATE tenant_milestones SET last_scan_at = GREATEST(last_scan_at, %s) WHERE tenant_id = %s",
        (datetime.combine(day, time(12), UTC), tenant_id),
    )
    usage_day(db, day, tenant_id, completed=1)


def test_active_means_a_completed_scan_in_the_30_days_ending_with_the_window(api, february, db, context):
    # Given a tenant of the cohort whose only scan came the day before those 30 days
    tenant(db, "T7", at(1, 2, 0), first_scan_at=at(1, 8, 12))
    usage_day(db, date(2026, 1, 8), "T7", completed=1)
    window = "from=2026-01-01&to=2026-02-07"
    # Then it is not active (T1, T2, T6 and T4 are)
    assert get_usage(context, window)["funnel"]["tenantsActive30d"] == 4

    # And a scan after the window does not make it active
    scanned(db, "T7", date(2026, 2, 20))
    assert get_usage(context, window)["funnel"]["tenantsActive30d"] == 4

    # But a scan on the first of those days, 01-09, does
    scanned(db, "T7", date(2026, 1, 9))
    assert get_usage(context, window)["funnel"]["tenantsActive30d"] == 5


def test_a_first_scan_in_the_30_days_is_active_before_the_rollups_count_it(api, february, db, context):
    # Given a tenant of the cohort that scanned first on the window's last day and again
    # after it, neither scan rolled up yet (no usage rows)
    tenant(db, "T7", at(1, 2, 0), first_scan_at=at(2, 7, 5), last_scan_at=at(2, 9, 5))

    # Then its first scan makes it active (with T1, T2, T6 and T4), as it makes it count as
    # scanned
    funnel = get_usage(context, "from=2026-01-01&to=2026-02-07")["funnel"]
    assert funnel["tenantsActive30d"] == 5
    assert funnel["tenantsActive30d"] <= funnel["tenantsWithFirstScan"] <= funnel["tenantsWithApiKey"]


def test_a_tenant_whose_last_scan_is_in_the_30_days_is_active(api, february, db, context):
    ending_07, ending_06 = "from=2026-01-01&to=2026-02-07", "from=2026-01-01&to=2026-02-06"
    before = {w: get_usage(context, w)["funnel"]["tenantsActive30d"] for w in (ending_07, ending_06)}
    # Given a tenant of the cohort that scanned on 01-05 and on 02-07, and not since
    tenant(db, "T7", at(1, 2, 0), first_scan_at=at(1, 5, 12))
    usage_day(db, date(2026, 1, 5), "T7", completed=1)
    scanned(db, "T7", date(2026, 2, 7))
    # Then it is active in the window that ends with that last scan
    assert get_usage(context, ending_07)["funnel"]["tenantsActive30d"] == before[ending_07] + 1
    # And not in the one that ends the day before (its 30 days, 01-08..02-06, have no scan)
    assert get_usage(context, ending_06)["funnel"]["tenantsActive30d"] == before[ending_06]
