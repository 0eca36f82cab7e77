"""POST /v1/leads/capture through the Lambda handler, on real PostgreSQL."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import psycopg
import pytest

import collect_handler
from funnel.capture.identity import DailySalts
from funnel.capture.schemas import LeadCapture
from funnel.platform.runtime import build_runtime, reset_runtime
from funnel.platform.settings import get_settings
from tests.builders import api_event, lead_sent, response_json, sample_body

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
SITE = "https://www.example.com"
LEAD_TABLES = ("leads", "lead_identities", "consent_records", "form_submissions")


@pytest.fixture
def collect(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    lambda_env.setenv("ALLOWED_ORIGINS", SITE)
    reset_runtime()
    set_clock(NOW)
    return set_clock


def post(event, context):  # type: ignore[no-untyped-def]
    return collect_handler.lambda_handler(event, context)


def capture(context, **changes):  # type: ignore[no-untyped-def]
    return post(
        api_event("collect/lead_capture_json", body={**sample_body("collect/lead_capture_json"), **changes}),
        context,
    )


def form_post(context, fields: dict[str, str], **headers: str):  # type: ignore[no-untyped-def]
    event = api_event("collect/lead_capture_form", headers=headers or None)
    event["body"] = base64.b64encode(urlencode(fields).encode()).decode()
    event["isBase64Encoded"] = True
    return post(event, context)


def rows(db: psycopg.Connection, sql: str) -> list[tuple]:
    return db.execute(sql).fetchall()


def test_a_json_capture_stores_the_lead_its_identity_submission_and_consent(collect, db, context):
    # When the newsletter form posts a lead who ticked the consent box
    response = capture(context)

    # Then the lead exists under its normalised email, linked to its visitor
    assert response["statusCode"] == 201
    assert response_json(response) == {"ok": True}
    (lead,) = rows(
        db,
        "SELECT id, email_normalized, consent_status, consent_wording_version, first_captured_at FROM leads",
    )
    lead_id, email, consent, wording, captured = lead
    assert (email, consent, wording, captured) == (
        "ada.lovelace@example.org",
        "granted",
        "newsletter-2026-10",
        NOW,
    )
    assert rows(db, "SELECT count(*) FROM lead_identities") == [(1,)]
    # And the form's other fields, not the email, form the submission record
    assert rows(db, "SELECT form_id, path, payload FROM form_submissions") == [
        ("newsletter", "/blog/launch", {"company": "Analytical Engines Ltd", "role": "Founder"})
    ]
    # And the grant is provable: when, where and which wording
    assert rows(db, "SELECT lead_id, status, source, wording_version, occurred_at FROM consent_records") == [
        (lead_id, "granted", "form:newsletter", "newsletter-2026-10", NOW)
    ]
    assert rows(db, "SELECT actor, action, subject_id FROM audit_log") == [
        ("public", "consent.grant", str(lead_id))
    ]
    assert rows(db, "SELECT kind, outcome, count FROM ingest_counters") == [("lead", "accepted", 1)]


def test_consent_is_never_assumed(collect, db, context):
    capture(context, consent=False, consentWordingVersion=None)
    assert rows(db, "SELECT consent_status FROM leads") == [("none",)]
    assert rows(db, "SELECT count(*) FROM consent_records") == [(0,)]


def test_one_lead_per_email_and_one_record_per_change(collect, db, context):
    # Given the same person captured three times, twice with the same wording
    capture(context)
    capture(context, email="ADA.LOVELACE@example.org ")
    capture(context, consentWordingVersion="newsletter-2026-11")

    # Then there is one lead, and a record only when the wording changed
    assert rows(db, "SELECT count(*) FROM leads") == [(1,)]
    assert rows(db, "SELECT wording_version FROM consent_records ORDER BY wording_version") == [
        ("newsletter-2026-10",),
        ("newsletter-2026-11",),
    ]
    assert rows(db, "SELECT count(*) FROM form_submissions") == [(3,)]


def test_a_later_capture_without_the_box_ticked_withdraws_nothing(collect, db, context):
    capture(context)
    capture(context, consent=False, consentWordingVersion=None)
    assert rows(db, "SELECT consent_status FROM leads") == [("granted",)]


def test_concurrent_captures_of_one_email_make_one_lead_and_one_consent_record(collect, db):
    # Given 12 simultaneous submissions of one address with consent (a race on the consent record)
    body = LeadCapture.model_validate(sample_body("collect/lead_capture_json"))
    sent = lead_sent(api_event("collect/lead_capture_json"))
    settings = get_settings()
    from funnel.capture.collect import receive_lead

    def submit(_: int) -> None:
        runtime = build_runtime(settings)
        runtime.clock = lambda: NOW
        try:
            receive_lead(runtime, body, DailySalts(), **sent)
        finally:
            runtime.database.close()

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(submit, range(12)))

    assert rows(db, "SELECT count(*) FROM leads") == [(1,)]
    assert rows(db, "SELECT count(*) FROM consent_records") == [(1,)]
    assert rows(db, "SELECT count(*) FROM lead_identities") == [(1,)]


def test_the_lead_carries_its_visitors_first_touch(collect, db, context):
    # Given a visitor who first came from a LinkedIn campaign two days ago
    collect(NOW - timedelta(days=2))
    first = {
        "type": "page_view",
        "eventId": "evt_first_touch1",
        "visitorId": "vis_6f1c2a9e8b7d4c3a",
        "path": "/?utm_source=linkedin&utm_medium=social&utm_campaign=q4-launch",
        "referrer": "https://www.linkedin.com/",
    }
    post(api_event("collect/beacon_batch", body={"events": [first]}), context)

    # When they leave their email today, from a direct visit
    collect(NOW)
    later = {
        "type": "page_view",
        "eventId": "evt_later_visit1",
        "visitorId": "vis_6f1c2a9e8b7d4c3a",
        "path": "/",
    }
    post(api_event("collect/beacon_batch", body={"events": [later]}), context)
    capture(context)

    # Then the lead remembers the first touch and when the visitor was first seen
    assert rows(
        db,
        "SELECT first_touch_source, first_touch_utm_source, first_touch_utm_campaign, "
        "visitor_first_seen_at FROM leads",
    ) == [("social", "linkedin", "q4-launch", NOW - timedelta(days=2))]
    # And today's session converted on its landing page
    assert rows(db, "SELECT is_conversion FROM sessions ORDER BY started_at") == [(False,), (True,)]
    assert rows(db, "SELECT path, is_conversion FROM web_traffic_logs ORDER BY occurred_at") == [
        ("/", False),
        ("/", True),
    ]


@pytest.mark.parametrize(
    ("after", "converted"),
    [(timedelta(minutes=30), True), (timedelta(minutes=30, seconds=1), False)],
    ids=["30-minutes", "30-minutes-and-a-second"],
)
def test_a_capture_converts_the_session_it_comes_within_30_minutes_of(after, converted, collect, db, context):
    # Given a visitor's page view
    view = {
        "type": "page_view",
        "eventId": "evt_converting1",
        "visitorId": "vis_6f1c2a9e8b7d4c3a",
        "path": "/",
    }
    post(api_event("collect/beacon_batch", body={"events": [view]}), context)

    # When they leave their email `after` their last activity
    collect(NOW + after)
    capture(context)

    # Then the session and its landing page converted only within the session's timeout
    assert rows(db, "SELECT is_conversion FROM sessions") == [(converted,)]
    assert rows(db, "SELECT is_conversion FROM web_traffic_logs") == [(converted,)]


def test_a_later_capture_from_a_campaign_does_not_complete_an_earlier_first_touch(collect, db, context):
    # Given an address first captured from a direct visit on one device
    direct = {"type": "page_view", "eventId": "evt_direct_0001", "visitorId": "vis_device_one", "path": "/"}
    post(api_event("collect/beacon_batch", body={"events": [direct]}), context)
    capture(context, visitorId="vis_device_one", path="/")

    # When the same address is captured later on another device, from a paid campaign
    collect(NOW + timedelta(days=1))
    paid = {
        "type": "page_view",
        "eventId": "evt_paid_00001",
        "visitorId": "vis_device_two",
        "path": "/?utm_source=google&utm_medium=cpc&utm_campaign=brand",
    }
    post(api_event("collect/beacon_batch", body={"events": [paid]}), context)
    capture(context, visitorId="vis_device_two", path="/")

    # Then the lead's first touch is still the direct visit, whole
    assert rows(
        db,
        "SELECT first_touch_source, first_touch_utm_source, first_touch_utm_medium, "
        "first_touch_utm_campaign, visitor_first_seen_at FROM leads",
    ) == [("direct", None, None, None, NOW)]


def test_a_plain_html_form_is_captured_and_redirected(collect, db, context):
    # When a no-JS form posts urlencoded fields with an allowed redirect
    response = post(api_event("collect/lead_capture_form"), context)

    # Then the browser is sent on, and the lead and its grouped fields are stored
    assert response["statusCode"] == 303
    assert response["headers"]["Location"] == f"{SITE}/thanks"
    assert rows(db, "SELECT email_normalized, consent_status FROM leads") == [
        ("grace@example.com", "granted")
    ]
    assert rows(db, "SELECT form_id, payload FROM form_submissions") == [
        ("contact", {"company": "Navy", "message": "Hello"})
    ]


def test_a_form_without_redirect_gets_a_thank_you_page(collect, db, context):
    response = form_post(context, {"email": "grace@example.com", "formId": "contact"})
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert "Thank you" in response["body"]


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/phish",
        "https://www.example.com.evil.example/",
        "http://www.example.com/thanks",
        "https://www.example.com:8443/thanks",
    ],
)
def test_a_foreign_redirect_is_refused_and_nothing_written(target, collect, db, context):
    response = form_post(context, {"email": "grace@example.com", "redirect": target})
    assert response["statusCode"] == 422
    assert response_json(response)["error"] == "invalid_redirect"
    for table in LEAD_TABLES:
        assert rows(db, f"SELECT count(*) FROM {table}") == [(0,)], table


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        pytest.param({"email": "not-an-email"}, 422, "validation_failed", id="invalid-email"),
        pytest.param({"email": None}, 422, "validation_failed", id="no-email"),
        pytest.param({"consentWordingVersion": None}, 422, "validation_failed", id="consent-without-wording"),
        pytest.param({"fields": {"bad name!": "x"}}, 422, "validation_failed", id="bad-field-name"),
        pytest.param({"favourite": "blue"}, 422, "validation_failed", id="unknown-field"),
        pytest.param({"redirect": "javascript:alert(1)"}, 422, "validation_failed", id="script-redirect"),
    ],
)
def test_bad_captures_get_a_4xx_write_nothing_and_are_counted(changes, status, error, collect, db, context):
    body = {
        key: value
        for key, value in {**sample_body("collect/lead_capture_json"), **changes}.items()
        if value is not None
    }
    response = post(api_event("collect/lead_capture_json", body=body), context)
    assert response["statusCode"] == status
    assert response_json(response)["error"] == error
    for table in (*LEAD_TABLES, "visitors", "audit_log"):
        assert rows(db, f"SELECT count(*) FROM {table}") == [(0,)], table
    assert rows(db, "SELECT kind, outcome, code, count FROM ingest_counters") == [
        ("lead", "rejected", error, 1)
    ]


def test_an_empty_or_malformed_form_body_is_400(collect, db, context):
    response = form_post(context, {}, **{"content-type": "application/x-www-form-urlencoded"})
    assert response["statusCode"] == 400
    assert response_json(response)["error"] == "empty_body"
    event = api_event("collect/lead_capture_form")
    event["body"] = base64.b64encode(b"fields=1&fields[a]=2").decode()
    response = post(event, context)
    assert response["statusCode"] == 400
    assert response_json(response)["error"] == "invalid_form"
