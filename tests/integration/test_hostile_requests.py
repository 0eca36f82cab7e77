"""Requests built to break the parsers, the checks or the database writes: each gets a 4xx
with the JSON error shape (or, when it is valid, is served), never a 500, and a refused
one writes nothing but its count."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

import collect_handler
import leads_admin_handler
import metrics_handler
import webhook_handler
from funnel.platform.runtime import reset_runtime
from tests.builders import api_event, response_json, webhook_event
from tests.conftest import ADMIN_KEY, SIGNING_SECRET

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
PAGE_VIEW = {"type": "page_view", "eventId": "evt_hostile_0001", "visitorId": "vis_hostile_1", "path": "/x"}


@pytest.fixture
def site(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    reset_runtime()
    set_clock(NOW)
    return lambda_env


def refused(response: dict[str, Any], status: int, error: str) -> None:
    assert response["statusCode"] == status, response["body"][:300]
    body = response_json(response)
    assert body["ok"] is False and body["error"] == error


def written(db: psycopg.Connection, row_counts) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Rows of every table but the ingest counters (where refusals are counted)."""
    return {table: rows for table, rows in row_counts().items() if rows and table != "ingest_counters"}


UNPARSEABLE = {
    "an integer of 5,000 digits": '{"events": [' + "1" * 5_000 + "]}",
    "a number beyond a double": json.dumps(
        {"events": [{**PAGE_VIEW, "type": "custom", "name": "x"}]}
    ).replace('"name": "x"', '"name": "x", "properties": {"p": 1e400}'),
}


@pytest.mark.parametrize("body", UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
@pytest.mark.parametrize(
    ("handler", "sample", "headers"),
    [
        (collect_handler, "collect/beacon_page_view", {"content-type": "application/json"}),
        (collect_handler, "collect/lead_capture_json", None),
        (leads_admin_handler, "leads_admin/delete_lead", {"x-admin-key": ADMIN_KEY}),
    ],
    ids=["events", "leads-capture", "leads-delete"],
)
def test_json_python_cannot_hold_is_malformed(handler, sample, headers, body, site, db, context, row_counts):
    response = handler.lambda_handler(api_event(sample, raw_body=body, headers=headers), context)
    refused(response, 400, "invalid_json")
    assert written(db, row_counts) == {}


@pytest.mark.parametrize("body", UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
def test_a_webhook_python_cannot_parse_is_malformed(body, lambda_env, db, context, row_counts):
    response = webhook_handler.lambda_handler(webhook_event(raw_body=body), context)
    refused(response, 400, "invalid_json")
    assert written(db, row_counts) == {}


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("webhook-signature", "v1,\u00e9t\u00e9", "signature_mismatch"),
        ("webhook-timestamp", "9" * 400, "invalid_timestamp"),
        ("webhook-timestamp", "\u0661\u0666\u0661\u0664", "invalid_timestamp"),  # Arabic-Indic digits
        ("webhook-id", "msg_\ud800", "signature_mismatch"),
    ],
    ids=["non-ascii-signature", "400-digit-timestamp", "non-ascii-digits", "lone-surrogate-id"],
)
def test_signature_headers_no_sender_could_make_are_refused(
    header, value, reason, lambda_env, db, context, row_counts
):
    lambda_env.setenv("WEBHOOK_SIGNING_SECRETS", SIGNING_SECRET)
    reset_runtime()
    event = webhook_event("scan_completed", sign_with=SIGNING_SECRET)
    event["headers"][header] = value
    response = webhook_handler.lambda_handler(event, context)
    refused(response, 401, "invalid_signature")
    assert response_json(response)["details"]["reason"] == reason
    assert written(db, row_counts) == {}


def test_an_admin_key_that_is_not_unicode_is_wrong_not_a_crash(site, context):
    response = metrics_handler.lambda_handler(
        api_event("metrics/summary", headers={"x-admin-key": "\ud800"}), context
    )
    refused(response, 401, "unauthorized")


def test_a_user_agent_that_is_not_unicode_is_still_a_visit(site, db, context):
    event = api_event(
        "collect/beacon_page_view", body=PAGE_VIEW, headers={"user-agent": "Mozilla/5.0 (X11) \ud800"}
    )
    assert collect_handler.lambda_handler(event, context)["statusCode"] == 202
    assert db.execute("SELECT client_event_id FROM events").fetchall() == [("evt_hostile_0001",)]


def test_a_json_type_in_capitals_is_json(site, db, context):
    event = api_event(
        "collect/beacon_page_view", body=PAGE_VIEW, headers={"content-type": "Application/JSON"}
    )
    assert collect_handler.lambda_handler(event, context)["statusCode"] == 202
    assert db.execute("SELECT count(*) FROM events").fetchone() == (1,)


def test_blank_consent_wording_is_no_wording(site, db, context, row_counts):
    # Given a consent whose wording version is only spaces (it would prove nothing)
    capture = {"email": "ada@example.org", "consent": True, "consentWordingVersion": "   "}
    response = collect_handler.lambda_handler(api_event("collect/lead_capture_json", body=capture), context)
    refused(response, 422, "validation_failed")
    assert written(db, row_counts) == {}


def test_a_blank_resolution_is_refused(lambda_env, db, context, row_counts):
    response = webhook_handler.lambda_handler(
        webhook_event("suggestion_resolved", payload={"suggestionId": "sug-1", "resolution": "   "}), context
    )
    refused(response, 422, "validation_failed")
    assert written(db, row_counts) == {}


def test_a_refusal_is_counted_under_a_property_only_if_it_names_one_exactly(site, db, context):
    # Given a refused beacon (no path) claiming a property id with a trailing newline
    event = {**PAGE_VIEW, "propertyId": "docs\n"}
    del event["path"]
    response = collect_handler.lambda_handler(api_event("collect/beacon_page_view", body=event), context)
    assert response["statusCode"] == 422
    # Then it is counted, under no property of that name
    assert db.execute("SELECT property_id, outcome FROM ingest_counters").fetchall() == [
        ("(unknown)", "rejected")
    ]
