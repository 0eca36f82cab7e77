"""The metrics API end to end: a visit, a lead and a description-service journey go in over
real HTTP through the local gateway, the rollups run, and every number of both metrics
answers is checked against values computed here from what was sent."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from statistics import mean, median
from typing import Any

import psycopg
import pytest

from funnel.platform.runtime import get_runtime
from funnel_emitter import WebhookEmitter
from funnel_local.gateway import RunningGateway, start_gateway
from tests.conftest import ADMIN_KEY, REPO, SIGNING_SECRET

pytestmark = pytest.mark.e2e

SITE = "https://www.example.com"

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
LEAD_EMAIL = "alpha@example.com"


@pytest.fixture(scope="module")
def gateway(database_url: str) -> Iterator[RunningGateway]:
    env = {
        "DATABASE_URL": database_url,
        "ADMIN_API_KEY": ADMIN_KEY,
        "WEBHOOK_SIGNING_SECRETS": SIGNING_SECRET,
        "ALLOWED_ORIGINS": SITE,
    }
    with start_gateway(
        REPO / "template.yaml", env_overrides=env, parameter_overrides={"WebhookRateLimit": "6000"}
    ) as running:
        yield running


def call(gateway: RunningGateway, path: str, *, body: Any = None, headers: dict[str, str] | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{gateway.url}{path}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"user-agent": BROWSER, "content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def run_rollups(from_day: date, to_day: date) -> None:
    """The rollup engine, when it exists (it is built beside this API)."""
    rollups = pytest.importorskip("funnel.readmodel.rollups")
    if not hasattr(rollups, "run_rollups"):
        pytest.skip("funnel.readmodel.rollups.run_rollups is not built yet")
    rollups.run_rollups(get_runtime(), from_day=from_day, to_day=to_day, trigger=rollups.Trigger.CLI)


def page_view(event_id: str, visitor: str, at: datetime, path: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "page_view",
        "eventId": event_id,
        "visitorId": visitor,
        "occurredAt": at.isoformat(),
        "path": path,
        **extra,
    }


def ttfb(event_id: str, visitor: str, at: datetime, path: str, of: str, ms: int) -> dict[str, Any]:
    return {
        "type": "web_vitals",
        "eventId": event_id,
        "visitorId": visitor,
        "occurredAt": at.isoformat(),
        "path": path,
        "pageViewId": of,
        "vitals": {"ttfb": ms},
    }


def form(kind: str, event_id: str, visitor: str, at: datetime) -> dict[str, Any]:
    return {
        "type": kind,
        "eventId": event_id,
        "visitorId": visitor,
        "occurredAt": at.isoformat(),
        "path": "/",
        "formId": "contact",
    }


def test_every_number_of_both_answers_follows_from_what_was_sent(gateway, db: psycopg.Connection, lambda_env):
    # Given a visit, seconds ago: alpha from the newsletter fills in the contact form; beta
    # finds the pricing page on Google and reads the docs; gamma types the address
    visit = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    alpha, beta, gamma = "vis_e2e_alpha_0001", "vis_e2e_beta_00001", "vis_e2e_gamma_0001"
    beacons = [
        page_view(
            "evt_e2e_a_view_01", alpha, visit, "/?utm_source=newsletter&utm_medium=email&utm_campaign=launch"
        ),
        ttfb("evt_e2e_a_ttfb_01", alpha, visit + timedelta(seconds=1), "/", of="evt_e2e_a_view_01", ms=120),
        form("form_start", "evt_e2e_a_start_1", alpha, visit + timedelta(seconds=2)),
        form("form_submit", "evt_e2e_a_submit1", alpha, visit + timedelta(seconds=3)),
        page_view("evt_e2e_b_view_01", beta, visit, "/pricing", referrer="https://www.google.com/"),
        ttfb(
            "evt_e2e_b_ttfb_01",
            beta,
            visit + timedelta(seconds=1),
            "/pricing",
            of="evt_e2e_b_view_01",
            ms=300,
        ),
        page_view("evt_e2e_b_view_02", beta, visit + timedelta(seconds=20), "/docs"),
        page_view("evt_e2e_c_view_01", gamma, visit, "/"),
    ]
    assert call(gateway, "/v1/events", body={"events": beacons}) == (
        202,
        {"ok": True, "accepted": 8, "duplicates": 0, "ignored": 0},
    )
    # And one beacon the site got wrong (refused, counted as rejected)
    status, _ = call(gateway, "/v1/events", body={"type": "page_view", "eventId": "evt_e2e_bad_0001"})
    assert status == 422
    # And alpha leaves their address, on the site
    status, _ = call(
        gateway,
        "/v1/leads/capture",
        headers={"origin": SITE},
        body={
            "email": "Alpha@Example.com",
            "visitorId": alpha,
            "consent": True,
            "consentWordingVersion": "v1",
        },
    )
    assert status == 201

    # And the description service reports two tenants: alpha's (from their lead) and one
    # nobody referred, with their keys, scans, a cluster and a resolved suggestion
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=40)
    emitter = WebhookEmitter(
        f"{gateway.url}/v1/webhooks/description-service",
        signing_secret=SIGNING_SECRET,
        admin_key=ADMIN_KEY,
        timeout=15,
        sleep=lambda seconds: None,
    )
    scans = [  # tenant, minutes after `started`, media, identities, duration, suggestions
        ("tenant-alpha", 30, 3, 2, 900, 4),
        ("tenant-alpha", 35, 5, 1, 1100, None),
        ("tenant-beta", 11, 1, 0, 500, None),
    ]
    journey = [
        ("tenant.created", "tenant-alpha", 0, {"email": "ALPHA@example.com"}),
        ("apikey.created", "tenant-alpha", 5, {"keyPrefix": "ak_alpha"}),
        ("tenant.created", "tenant-beta", 1, {}),
        ("scan.failed", "tenant-alpha", 20, {"jobId": "job-a0", "mediaCount": 2, "errorMessage": "timeout"}),
        ("cluster.created", "tenant-alpha", 31, {"clusterId": "cl-1", "identityCount": 2}),
        ("suggestion.resolved", "tenant-alpha", 32, {"suggestionId": "sg-1", "resolution": "accepted"}),
    ]
    for number, (tenant, minutes, media, identities, duration, suggestions) in enumerate(scans):
        payload: dict[str, Any] = {
            "jobId": f"job-{number}",
            "mediaCount": media,
            "identitiesDetected": identities,
            "durationMs": duration,
        }
        if suggestions is not None:
            payload["suggestionsGenerated"] = suggestions
        journey.append(("scan.completed", tenant, minutes, payload))
    for event_type, tenant, minutes, payload in journey:
        result = emitter.send(event_type, tenant, payload, occurred_at=started + timedelta(minutes=minutes))
        assert result.ok, result.body

    # When the rollups run over yesterday and today
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    before_run = datetime.now(UTC)
    run_rollups(yesterday, today)
    after_run = datetime.now(UTC)

    # Then the expected values, from what was sent (the lead's capture time is the server's)
    (captured_at,) = db.execute("SELECT first_captured_at FROM leads").fetchone()
    days = [yesterday, today]
    # whole milliseconds from alpha's first page view to the capture
    hours_to_capture = math.floor((captured_at - visit) / timedelta(milliseconds=1)) / 3_600_000
    first_scan_hours = [30 / 60, 10 / 60]  # alpha 30 min after creation, beta 10 min

    summary_status, summary = call(
        gateway,
        f"/v1/metrics/summary?from={yesterday}&to={today}&compareTo=true&includeFunnel=true",
        headers={"x-admin-key": ADMIN_KEY},
    )
    assert summary_status == 200, summary
    funnel = {
        "marketingVisitors": 3,
        "leadsCaptured": 1,
        "tenantsCreated": 2,
        # tenant-beta's apikey.created never came, but its scan proves the key
        "tenantsWithApiKey": 2,
        "tenantsWithFirstScan": 2,
        "tenantsActive30d": 2,
        "leadToTenantConversionRate": 1.0,
        "activationRate": 1.0,
        "apiKeyCreationRate": 1.0,
        "timeToFirstScanHours": {
            "median": pytest.approx(median(first_scan_hours)),
            "mean": pytest.approx(mean(first_scan_hours)),
        },
    }
    assert summary == {
        "ok": True,
        "window": {"from": str(yesterday), "to": str(today), "period": None},
        "compareTo": {"from": str(yesterday - timedelta(days=2)), "to": str(yesterday - timedelta(days=1))},
        "freshness": {
            "rolledUpThrough": str(yesterday),
            "lagDays": 1,
            "generatedAt": summary["freshness"]["generatedAt"],
        },
        "metrics": {
            # Nothing was rolled up for the window before: every delta is null
            "uniqueVisitors": {"value": 3, "delta": None},
            "returningVisitorsPct": {"value": 0.0, "delta": None},
            "totalPageViews": {"value": 4, "delta": None},
            "leadCaptureRate": {"value": pytest.approx(1 / 3), "delta": None},
            "formCompletionRate": {"value": 1.0, "delta": None},
            # three entrances; alpha's landing converted (the form, then the lead)
            "landingPageConversionRate": {"value": pytest.approx(1 / 3), "delta": None},
            "avgTimeToFirstCaptureHrs": {"value": pytest.approx(hours_to_capture, abs=1e-6), "delta": None},
            "trafficSourceMix": {"organic_search": 0.5, "direct": 0.25, "email": 0.25},
        },
        "ingest": {
            "successPct": pytest.approx(8 / 9),
            # the day's p95 of [120, 300] is 300, over 2 samples
            "p95TtfbMs": 300.0,
            "totalEventsAccepted": 8,
            "totalEventsRejected": 1,
            "totalEventsDuplicate": 0,
            "totalEventsBot": 0,
        },
        "trend": [
            {
                "day": str(day),
                "uniqueVisitors": 3 if day == visit.date() else 0,
                "pageViews": 4 if day == visit.date() else 0,
                "newLeads": 1 if day == captured_at.date() else 0,
            }
            for day in days
        ],
        # nothing was sent in the two days before
        "compareTrend": [
            {"day": str(yesterday - timedelta(days=n)), "uniqueVisitors": 0, "pageViews": 0, "newLeads": 0}
            for n in (2, 1)
        ],
        "funnel": funnel,
        "properties": ["default"],
    }
    generated_at = datetime.fromisoformat(summary["freshness"]["generatedAt"])
    assert before_run <= generated_at <= after_run

    usage_status, usage = call(
        gateway,
        f"/v1/metrics/service-usage?from={yesterday}&to={today}&groupBy=channel",
        headers={"x-admin-key": ADMIN_KEY},
    )
    assert usage_status == 200, usage
    durations = [duration for *_, duration, _ in scans]
    scan_day = {
        day: [scan for scan in scans if (started + timedelta(minutes=scan[1])).date() == day] for day in days
    }
    no_funnel = {"marketingVisitors": None, "leadsCaptured": 0, "tenantsCreated": 0}
    assert usage == {
        "ok": True,
        "window": {"from": str(yesterday), "to": str(today), "period": None},
        "compareTo": None,
        "freshness": summary["freshness"],
        "usage": {
            "totalScansCompleted": {"value": 3, "delta": None},
            "totalScansFailed": {"value": 1, "delta": None},
            "scanSuccessRate": {"value": 0.75, "delta": None},
            "totalMediaProcessed": {"value": 9, "delta": None},
            "totalIdentitiesDetected": {"value": 3, "delta": None},
            "avgScanDurationMs": {"value": pytest.approx(mean(durations)), "delta": None},
            "totalClustersCreated": {"value": 1, "delta": None},
            "suggestionResolutionRate": {"value": 0.25, "delta": None},
        },
        "funnel": funnel,
        "funnelByGroup": {
            "groupBy": "channel",
            "groups": {
                "direct": {
                    **funnel,
                    **no_funnel,
                    "marketingVisitors": 1,
                    "tenantsWithApiKey": 0,
                    "tenantsWithFirstScan": 0,
                    "tenantsActive30d": 0,
                    "leadToTenantConversionRate": None,
                    "activationRate": None,
                    "apiKeyCreationRate": None,
                    "timeToFirstScanHours": {"median": None, "mean": None},
                },
                "email": {
                    **funnel,
                    "marketingVisitors": 1,
                    "tenantsCreated": 1,
                    "tenantsWithApiKey": 1,
                    "tenantsWithFirstScan": 1,
                    "tenantsActive30d": 1,
                    "apiKeyCreationRate": 1.0,
                    "timeToFirstScanHours": {"median": 0.5, "mean": 0.5},
                },
                "organic_search": {
                    **funnel,
                    **no_funnel,
                    "marketingVisitors": 1,
                    "tenantsWithApiKey": 0,
                    "tenantsWithFirstScan": 0,
                    "tenantsActive30d": 0,
                    "leadToTenantConversionRate": None,
                    "activationRate": None,
                    "apiKeyCreationRate": None,
                    "timeToFirstScanHours": {"median": None, "mean": None},
                },
                "unattributed": {
                    **funnel,
                    **no_funnel,
                    "tenantsCreated": 1,
                    "tenantsWithApiKey": 1,
                    "tenantsWithFirstScan": 1,
                    "tenantsActive30d": 1,
                    "leadToTenantConversionRate": None,
                    "apiKeyCreationRate": 1.0,
                    "timeToFirstScanHours": {"median": pytest.approx(1 / 6), "mean": pytest.approx(1 / 6)},
                },
            },
        },
        "trend": [
            {
                "day": str(day),
                "scansCompleted": len(scan_day[day]),
                "mediaProcessed": sum(scan[2] for scan in scan_day[day]),
                "identitiesDetected": sum(scan[3] for scan in scan_day[day]),
            }
            for day in days
        ],
    }
