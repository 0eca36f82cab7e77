"""The public contract (docs/metrics.md#response-contract): both metrics answers against the
example documents of the specification Funnel was built from, field by field (every key, its
nesting and its JSON type), and against the OpenAPI schemas of the models the document is
generated from."""

from __future__ import annotations

from datetime import date
from typing import Any

import jsonschema
import psycopg
import pytest

import metrics_handler
from funnel.metrics.api import ReportCache
from funnel.metrics.schemas import ServiceUsageResponse, SummaryResponse
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY
from tests.read_model import at, february_cohort, ingest_day, metric_day, rollup_run

pytestmark = pytest.mark.integration

NOW = at(2, 9, 13)

# The original specification's example summary, as JSON (its comments and trailing commas
# removed).
SEED_SUMMARY: dict[str, Any] = {
    "ok": True,
    "window": {"from": "2026-01-14", "to": "2026-02-13"},
    "compareTo": {"from": "2025-12-15", "to": "2026-01-13"},
    "freshness": {"rolledUpThrough": "2026-02-12", "lagDays": 1, "generatedAt": "2026-02-13T04:00:00Z"},
    "metrics": {
        "uniqueVisitors": {"value": 1420, "delta": 0.12},
        "returningVisitorsPct": {"value": 0.34, "delta": -0.02},
        "totalPageViews": {"value": 5800, "delta": 0.08},
        "leadCaptureRate": {"value": 0.023, "delta": 0.005},
        "formCompletionRate": {"value": 0.41, "delta": 0.03},
        "landingPageConversionRate": {"value": 0.06, "delta": 0.01},
        "avgTimeToFirstCaptureHrs": {"value": 18.5, "delta": -2.1},
        "trafficSourceMix": {
            "direct": 0.45,
            "organic_search": 0.25,
            "social": 0.15,
            "referral": 0.1,
            "paid_search": 0.03,
            "email": 0.02,
        },
    },
    "ingest": {"successPct": 0.997, "p95TtfbMs": 42, "totalEventsAccepted": 5800, "totalEventsRejected": 18},
    "trend": [{"day": "2026-02-07", "uniqueVisitors": 190, "pageViews": 780, "newLeads": 4}],
}

# The original specification's example of GET /v1/metrics/service-usage, with its
# "leadsCapured" under the correct name (docs/metrics.md#where-this-differs-from-the-original-specification).
SEED_SERVICE_USAGE: dict[str, Any] = {
    "ok": True,
    "window": {"from": "2026-01-14", "to": "2026-02-13"},
    "compareTo": None,
    "usage": {
        "totalScansCompleted": {"value": 142, "delta": None},
        "totalScansFailed": {"value": 3, "delta": None},
        "scanSuccessRate": {"value": 0.979, "delta": None},
        "totalMediaProcessed": {"value": 2840, "delta": None},
        "totalIdentitiesDetected": {"value": 8920, "delta": None},
        "avgScanDurationMs": {"value": 3200, "delta": None},
        "totalClustersCreated": {"value": 45, "delta": None},
        "suggestionResolutionRate": {"value": 0.82, "delta": None},
    },
    "funnel": {
        "marketingVisitors": 1420,
        "leadsCaptured": 34,
        "tenantsCreated": 8,
        "tenantsWithApiKey": 6,
        "tenantsWithFirstScan": 5,
        "tenantsActive30d": 4,
    },
    "trend": [{"day": "2026-02-07", "scansCompleted": 18, "mediaProcessed": 360, "identitiesDetected": 1120}],
}

# What the summary adds to the original example: the period the window was resolved from,
# the known properties, the duplicate and bot counts beside accepted and rejected (the dashboard's
# ingest health) and, with compareTo, the comparison window's trend.
SUMMARY_ADDITIONS = {
    "window.period",
    "properties",
    "ingest.totalEventsDuplicate",
    "ingest.totalEventsBot",
    "compareTrend",
    "compareTrend[].day",
    "compareTrend[].uniqueVisitors",
    "compareTrend[].pageViews",
    "compareTrend[].newLeads",
}

# What the service-usage answer adds to the original example: freshness (as the summary has
# it) and the funnel's rates beside its counts (docs/metrics.md#funnel-rates).
SERVICE_USAGE_ADDITIONS = {
    "window.period",
    "freshness",
    "funnel.leadToTenantConversionRate",
    "funnel.activationRate",
    "funnel.apiKeyCreationRate",
    "funnel.timeToFirstScanHours",
}


def shape(value: Any) -> Any:
    """A JSON document's structure: its keys and nesting, and each leaf's JSON type."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    assert value is None
    return "null"


def paths(structure: Any, prefix: str = "") -> dict[str, Any]:
    """Every key path of a structure and its leaf type (or "object"/"array")."""
    found: dict[str, Any] = {}
    if isinstance(structure, dict):
        for key, item in structure.items():
            path = f"{prefix}.{key}" if prefix else key
            found[path] = "object" if isinstance(item, dict) else "array" if isinstance(item, list) else item
            found.update(paths(item, path))
    elif isinstance(structure, list):
        for item in structure:
            found.update(paths(item, f"{prefix}[]"))
    return found


@pytest.fixture
def api(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    set_clock(NOW)
    lambda_env.setattr(metrics_handler, "cache", ReportCache())


def call(context: Any, sample: str, query: str) -> dict[str, Any]:
    event = api_event(f"metrics/{sample}", query=query, headers={"x-admin-key": ADMIN_KEY})
    response = metrics_handler.lambda_handler(event, context)
    assert response["statusCode"] == 200, response["body"]
    assert response["headers"]["Content-Type"] == "application/json"
    body: dict[str, Any] = response_json(response)
    return body


def every_value_present(db: psycopg.Connection) -> None:
    """Rollups that give every metric of both answers a value and a delta: six traffic
    sources, forms, captures, TTFB, scans, durations and suggestions in both weeks."""
    sources = {"direct": 9, "organic_search": 5, "social": 3, "referral": 2, "paid_search": 1, "email": 1}
    for day, visitors in ((date(2026, 2, 3), ["a", "b", "c"]), (date(2026, 1, 27), ["d", "e"])):
        metric_day(
            db,
            day,
            visitors=visitors,
            returning=1,
            page_views=21,
            entrances=6,
            conversions=2,
            form_starts=4,
            form_submits=3,
            new_leads=1,
            time_to_first_capture_ms=[5_400_000],
            sources=sources,
        )
        ingest_day(db, day, accepted=40, rejected=1, p95_ttfb_ms=42, ttfb_samples=20)
    rollup_run(db, to_day=date(2026, 2, 8), finished_at=at(2, 9, 4))
    february_cohort(db)


def test_the_summary_has_exactly_the_seed_contract_shape(api, db, context):
    # Given data for every metric in the window and the one before
    every_value_present(db)

    # When the summary is asked with a comparison (the original example has one)
    body = call(context, "summary", "from=2026-02-01&to=2026-02-07&compareTo=true")

    # Then every key, its nesting and the type of every value are the example's, and the only
    # additions are the documented ones
    ours, seed = paths(shape(body)), paths(shape(SEED_SUMMARY))
    assert {path: ours.get(path) for path in seed} == seed
    assert {path for path in ours if path not in seed} == SUMMARY_ADDITIONS
    assert body["trend"] and all(shape(day) == shape(SEED_SUMMARY["trend"][0]) for day in body["trend"])


def test_the_summary_funnel_is_the_service_usage_funnel(api, db, context):
    every_value_present(db)
    summary = call(context, "summary", "from=2026-02-01&to=2026-02-07&includeFunnel=true")
    usage = call(context, "service_usage", "from=2026-02-01&to=2026-02-07")
    assert set(summary) == set(SEED_SUMMARY) | {"funnel", "properties"}
    assert shape(summary["funnel"]) == shape(usage["funnel"])
    assert summary["funnel"] == usage["funnel"]


def test_the_service_usage_answer_has_the_seed_contract_shape_plus_the_funnel_metrics(api, db, context):
    every_value_present(db)

    # When asked without a comparison, as the original example is
    body = call(context, "service_usage", "from=2026-02-01&to=2026-02-07")

    # Then every key of the example is there with the example's type...
    ours, seed = paths(shape(body)), paths(shape(SEED_SERVICE_USAGE))
    assert {path: ours.get(path) for path in seed} == seed
    # ...and the only additions are the documented ones
    added = {path for path in ours if path not in seed}
    assert {path for path in added if not any(path.startswith(f"{a}.") for a in SERVICE_USAGE_ADDITIONS)} == (
        SERVICE_USAGE_ADDITIONS
    )
    assert "leadsCapured" not in body["funnel"]


def test_answers_match_the_schemas_the_openapi_document_publishes(api, db, context):
    every_value_present(db)
    queries = [
        (
            "summary",
            "from=2026-02-01&to=2026-02-07&compareTo=true&includeFunnel=true&includeBreakdowns=true",
            SummaryResponse,
        ),
        ("summary", "from=2025-06-01&to=2025-06-02", SummaryResponse),
        (
            "service_usage",
            "from=2026-02-01&to=2026-02-07&compareTo=true&groupBy=channel",
            ServiceUsageResponse,
        ),
        ("service_usage", "from=2025-06-01&to=2025-06-02&tenantId=T1", ServiceUsageResponse),
    ]
    for sample, query, model in queries:
        schema = model.model_json_schema(by_alias=True, mode="serialization")
        jsonschema.validate(call(context, sample, query), schema)
