"""Unsubscribe links end to end through the Lambda handlers, on real PostgreSQL: the admin
route that issues a lead's link, the confirmation page (a GET that changes nothing), the
form and RFC 8058 one-click POSTs that withdraw consent, and every way a link is refused."""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import psycopg
import pytest

import leads_admin_handler
import unsubscribe_handler
from funnel.platform.runtime import get_runtime, reset_runtime
from funnel.privacy.unsubscribe import issue_token
from tests.builders import response_json, with_changes
from tests.conftest import ADMIN_KEY, load_event

pytestmark = pytest.mark.integration

SECRET = "test-unsubscribe-secret-0123456789"
BASE_URL = "https://go.example.org"
EMAIL = "ada.lovelace@example.org"
SAMPLE_REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
HTML = "text/html; charset=utf-8"


@pytest.fixture
def unsubscribe_env(lambda_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The functions' environment with an unsubscribe key and a public base URL."""
    lambda_env.setenv("UNSUBSCRIBE_SECRET", SECRET)
    lambda_env.setenv("PUBLIC_BASE_URL", BASE_URL)
    reset_runtime()
    return lambda_env


def token_for(lead_id: uuid.UUID, *, issued: datetime | None = None) -> str:
    return issue_token(lead_id, key=SECRET.encode(), now=issued or datetime.now(UTC))


def add_lead(db: psycopg.Connection, email: str = EMAIL, consent: str = "granted") -> uuid.UUID:
    return db.execute(
        "INSERT INTO leads (email_normalized, consent_status, consent_wording_version) "
        "VALUES (%s, %s, 'v1') RETURNING id",
        (email, consent),
    ).fetchone()[0]


def consent_of(db: psycopg.Connection, lead_id: uuid.UUID) -> str:
    return db.execute("SELECT consent_status FROM leads WHERE id = %s", (lead_id,)).fetchone()[0]


def withdrawals(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT lead_id, status, source, wording_version FROM consent_records ORDER BY occurred_at"
    ).fetchall()


def page_event(token: str | None) -> dict[str, Any]:
    """``GET /v1/unsubscribe?token=...`` (no query string when ``token`` is None)."""
    event = copy.deepcopy(load_event("unsubscribe/get_page.json"))
    if token is None:
        event["rawQueryString"] = ""
        event.pop("queryStringParameters", None)
        return event
    return with_changes(event, query={"token": token})


def form_event(token: str) -> dict[str, Any]:
    """The confirmation page's form, posted by a browser."""
    return with_changes(load_event("unsubscribe/post_form.json"), body=urlencode({"token": token}))


def one_click_event(token: str, body: str = "List-Unsubscribe=One-Click") -> dict[str, Any]:
    """A mail client's RFC 8058 one-click POST to the link."""
    return with_changes(load_event("unsubscribe/one_click.json"), body=body, query={"token": token})


def link_event(
    body: Any = None, *, raw_body: str | None = None, headers: dict[str, str | None] | None = None
):  # type: ignore[no-untyped-def]
    event = copy.deepcopy(load_event("leads_admin/unsubscribe_link.json"))
    event["headers"]["x-admin-key"] = ADMIN_KEY
    return with_changes(
        event,
        body=raw_body if raw_body is not None else json.dumps(body or {"email": EMAIL}),
        headers=headers,
    )


def public(event, context):  # type: ignore[no-untyped-def]
    return unsubscribe_handler.lambda_handler(event, context)


def admin(event, context):  # type: ignore[no-untyped-def]
    return leads_admin_handler.lambda_handler(event, context)


def content_type(response: dict[str, Any]) -> str:
    return {k.lower(): v for k, v in response["headers"].items()}["content-type"]


class TestUnsubscribeLink:
    def test_an_existing_lead_gets_a_signed_link_and_the_call_is_audited(self, unsubscribe_env, db, context):
        # Given a lead
        lead_id = add_lead(db)

        # When the mailing tool asks for its link, with the address written differently
        response = admin(link_event({"email": " Ada.Lovelace@Example.ORG"}), context)

        # Then it gets a link under the public base URL, valid for 180 days
        assert response["statusCode"] == 200
        body = response_json(response)
        assert body["ok"] is True
        url = urlsplit(body["url"])
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{BASE_URL}/v1/unsubscribe"
        assert body["expiresOn"] == (datetime.now(UTC).date() + timedelta(days=180)).isoformat()
        # And its token is this lead's, and holds no address
        token = parse_qs(url.query)["token"][0]
        assert token == token_for(lead_id)
        assert "lovelace" not in body["url"].lower()
        # And the call is audited without the address
        entries = db.execute(
            "SELECT actor, action, subject_type, subject_id, request_id, details FROM audit_log"
        )
        assert entries.fetchall() == [
            ("admin", "admin.unsubscribe_link", "lead", str(lead_id), SAMPLE_REQUEST_ID, None)
        ]

    def test_without_a_public_base_url_the_link_is_on_the_apis_own_domain(self, unsubscribe_env, db, context):
        # Given the deployed default: no PublicBaseUrl (the template passes it empty)
        unsubscribe_env.setenv("PUBLIC_BASE_URL", "")
        reset_runtime()
        add_lead(db)
        event = link_event()
        event["requestContext"]["domainName"] = "a1b2c3.execute-api.ca-central-1.amazonaws.com"

        # When the mailing tool asks for a link, then it is on the domain the request came to
        url = urlsplit(response_json(admin(event, context))["url"])
        assert (url.scheme, url.netloc, url.path) == (
            "https",
            "a1b2c3.execute-api.ca-central-1.amazonaws.com",
            "/v1/unsubscribe",
        )

    def test_an_unknown_email_is_404_and_writes_nothing(self, unsubscribe_env, db, context, row_counts):
        add_lead(db)
        before = row_counts()
        response = admin(link_event({"email": "nobody@example.net"}), context)
        assert response["statusCode"] == 404
        assert response_json(response) == {"ok": False, "error": "lead_not_found", "details": None}
        assert row_counts() == before

    @pytest.mark.parametrize(
        ("change", "status", "error"),
        [
            ({"headers": {"x-admin-key": None}}, 401, "unauthorized"),
            ({"headers": {"x-admin-key": "wrong-key"}}, 401, "unauthorized"),
            ({"raw_body": "{not json"}, 400, "invalid_json"),
            ({"body": {"email": "not-an-address"}}, 422, "validation_failed"),
            ({"body": {"email": EMAIL, "leadId": "x"}}, 422, "validation_failed"),
        ],
    )
    def test_a_bad_request_is_refused_and_writes_nothing(
        self, change, status, error, unsubscribe_env, db, context, row_counts
    ):
        add_lead(db)
        before = row_counts()
        response = admin(link_event(**change), context)
        assert response["statusCode"] == status
        assert response_json(response)["error"] == error
        assert row_counts() == before

    def test_without_an_unsubscribe_key_no_link_is_made(self, lambda_env, db, context, row_counts):
        # Given no UNSUBSCRIBE_SECRET (nor its ARN)
        add_lead(db)
        before = row_counts()

        # Then links cannot be made: 503, and nothing is audited
        response = admin(link_event(), context)
        assert response["statusCode"] == 503
        assert response_json(response)["error"] == "service_misconfigured"
        assert row_counts() == before


class TestConfirmationPage:
    def test_a_valid_link_shows_a_form_and_changes_nothing(self, unsubscribe_env, db, context, row_counts):
        # Given a lead who consented
        lead_id = add_lead(db)
        token = token_for(lead_id)
        before = row_counts()

        # When the link is opened (or prefetched by a mail scanner)
        response = public(page_event(token), context)

        # Then a confirmation page with a POST form carrying the token is shown
        assert response["statusCode"] == 200
        assert content_type(response) == HTML
        page = response["body"]
        assert re.search(r'<form method="post" action="unsubscribe">', page)
        assert f'name="token" value="{token}"' in page
        assert "<button" in page
        # And nothing changed: the lead still consents, nothing was recorded
        assert consent_of(db, lead_id) == "granted"
        assert row_counts() == before

    def test_the_sample_event_gets_a_page(self, unsubscribe_env, db, context):
        # The sample's token was signed with another (local) key: an error page, still HTML
        response = public(load_event("unsubscribe/get_page.json"), context)
        assert response["statusCode"] == 400
        assert content_type(response) == HTML

    @pytest.mark.parametrize(
        ("token", "status", "says"),
        [
            (None, 400, "not valid"),
            ("", 400, "not valid"),
            ("garbage", 400, "not valid"),
            ("<script>alert(1)</script>", 400, "not valid"),
        ],
    )
    def test_a_bad_link_gets_an_error_page(
        self, token, status, says, unsubscribe_env, db, context, row_counts
    ):
        before = row_counts()
        response = public(page_event(token), context)
        assert response["statusCode"] == status
        assert content_type(response) == HTML
        assert says in response["body"]
        assert "<script>" not in response["body"]
        assert row_counts() == before

    def test_a_tampered_link_is_400(self, unsubscribe_env, db, context, row_counts):
        token = token_for(add_lead(db))
        tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
        before = row_counts()
        response = public(page_event(tampered), context)
        assert response["statusCode"] == 400
        assert row_counts() == before

    def test_an_expired_link_is_410(self, unsubscribe_env, db, context, row_counts):
        # Given a link issued 181 days ago (links live 180)
        token = token_for(add_lead(db), issued=datetime.now(UTC) - timedelta(days=181))
        before = row_counts()

        # Then its page says it expired, with 410 Gone
        response = public(page_event(token), context)
        assert response["statusCode"] == 410
        assert content_type(response) == HTML
        assert "expired" in response["body"]
        assert row_counts() == before

    def test_the_page_cannot_be_framed_cached_or_leak_its_url(self, unsubscribe_env, db, context):
        response = public(page_event(token_for(add_lead(db))), context)
        headers = {k.lower(): v for k, v in response["headers"].items()}
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["cache-control"] == "no-store"
        assert headers["referrer-policy"] == "no-referrer"


class TestWithdrawal:
    def test_the_confirmation_form_withdraws_consent_at_once(self, unsubscribe_env, db, context):
        # Given a lead who consented, and its confirmation page
        lead_id = add_lead(db)
        page = public(page_event(token_for(lead_id)), context)["body"]
        posted_token = unescape(re.search(r'name="token" value="([^"]*)"', page).group(1))

        # When the person presses the button (the form is posted)
        response = public(form_event(posted_token), context)

        # Then they see that they are unsubscribed
        assert response["statusCode"] == 200
        assert content_type(response) == HTML
        assert "You are unsubscribed" in response["body"]
        # And consent is withdrawn, recorded with its source, and audited
        assert consent_of(db, lead_id) == "withdrawn"
        assert withdrawals(db) == [(lead_id, "withdrawn", "unsubscribe_link", None)]
        audit = db.execute("SELECT actor, action, subject_id, request_id FROM audit_log").fetchall()
        assert audit == [("public", "consent.withdraw", str(lead_id), SAMPLE_REQUEST_ID)]

    def test_posting_again_shows_the_same_page_and_records_nothing_more(
        self, unsubscribe_env, db, context, row_counts
    ):
        # Given a lead already unsubscribed by its link
        lead_id = add_lead(db)
        first = public(form_event(token_for(lead_id)), context)
        before = row_counts()

        # When the form is posted again
        again = public(form_event(token_for(lead_id)), context)

        # Then the answer is the same and nothing is written
        assert (again["statusCode"], again["body"]) == (first["statusCode"], first["body"])
        assert row_counts() == before

    def test_a_lead_that_never_consented_is_recorded_as_withdrawn(self, unsubscribe_env, db, context):
        lead_id = add_lead(db, consent="none")
        assert public(form_event(token_for(lead_id)), context)["statusCode"] == 200
        assert consent_of(db, lead_id) == "withdrawn"

    def test_a_json_body_works_too(self, unsubscribe_env, db, context):
        lead_id = add_lead(db)
        event = with_changes(
            load_event("unsubscribe/post_form.json"),
            body=json.dumps({"token": token_for(lead_id)}),
            headers={"content-type": "application/json"},
        )
        assert public(event, context)["statusCode"] == 200
        assert consent_of(db, lead_id) == "withdrawn"

    def test_one_click_withdraws_and_answers_briefly(self, unsubscribe_env, db, context):
        # Given a lead who consented
        lead_id = add_lead(db)

        # When a mail client sends the RFC 8058 one-click POST to the link
        response = public(one_click_event(token_for(lead_id)), context)

        # Then it gets 200 with a short body, and consent is withdrawn as "one_click"
        assert response["statusCode"] == 200
        assert content_type(response).startswith("text/plain")
        assert len(response["body"]) < 100
        assert withdrawals(db) == [(lead_id, "withdrawn", "one_click", None)]

    def test_one_click_as_multipart_form_data_withdraws_too(self, unsubscribe_env, db, context):
        # Given a lead, and a mail provider that sends the one-click body as multipart (RFC 8058)
        lead_id = add_lead(db)
        boundary = "----funnel-test-boundary"
        body = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
            "One-Click\r\n"
            f"--{boundary}--\r\n"
        )
        event = one_click_event(token_for(lead_id), body=body)
        event["headers"]["content-type"] = f"multipart/form-data; boundary={boundary}"

        # When it posts, then consent is withdrawn as one-click
        assert public(event, context)["statusCode"] == 200
        assert withdrawals(db) == [(lead_id, "withdrawn", "one_click", None)]

    def test_one_click_is_idempotent(self, unsubscribe_env, db, context, row_counts):
        lead_id = add_lead(db)
        assert public(one_click_event(token_for(lead_id)), context)["statusCode"] == 200
        before = row_counts()
        assert public(one_click_event(token_for(lead_id)), context)["statusCode"] == 200
        assert row_counts() == before

    def test_a_link_of_a_deleted_lead_gets_the_same_success_page(
        self, unsubscribe_env, db, context, row_counts
    ):
        # Given a lead's link, and the lead since deleted
        lead_id = add_lead(db)
        token = token_for(lead_id)
        known = public(form_event(token_for(add_lead(db, "grace.hopper@example.org"))), context)
        db.execute("DELETE FROM leads WHERE id = %s", (lead_id,))
        before = row_counts()

        # When the link is used
        response = public(form_event(token), context)

        # Then the answer is the one a known lead gets (nothing reveals the address is gone)
        assert (response["statusCode"], response["body"]) == (known["statusCode"], known["body"])
        assert row_counts() == before
        # And one-click too
        assert public(one_click_event(token), context)["statusCode"] == 200
        assert row_counts() == before


class TestRefusedWithdrawals:
    """A refused POST withdraws nothing and writes nothing."""

    @pytest.fixture
    def lead_id(self, db: psycopg.Connection) -> uuid.UUID:
        return add_lead(db)

    def test_an_expired_token_is_410(self, lead_id, unsubscribe_env, db, context, row_counts):
        before = row_counts()
        token = token_for(lead_id, issued=datetime.now(UTC) - timedelta(days=181))
        response = public(form_event(token), context)
        assert response["statusCode"] == 410
        assert content_type(response) == HTML
        assert consent_of(db, lead_id) == "granted"
        assert row_counts() == before

    def test_a_token_signed_with_another_key_is_400(self, lead_id, unsubscribe_env, db, context, row_counts):
        before = row_counts()
        forged = issue_token(lead_id, key=b"guessed-key-guessed-key", now=datetime.now(UTC))
        for event in (form_event(forged), one_click_event(forged)):
            assert public(event, context)["statusCode"] == 400
        assert consent_of(db, lead_id) == "granted"
        assert row_counts() == before

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ("token=", 400),
            ("token=garbage", 400),
            ("other=field", 400),
            ("", 400),
            ("{not json", 400),
        ],
    )
    def test_a_bad_form_is_4xx(self, body, status, lead_id, unsubscribe_env, db, context, row_counts):
        before = row_counts()
        event = with_changes(load_event("unsubscribe/post_form.json"), body=body)
        if body.startswith("{"):
            event["headers"]["content-type"] = "application/json"
        response = public(event, context)
        assert response["statusCode"] == status
        assert row_counts() == before

    def test_one_click_with_another_value_is_400(self, lead_id, unsubscribe_env, db, context, row_counts):
        before = row_counts()
        response = public(one_click_event(token_for(lead_id), body="List-Unsubscribe=Yes"), context)
        assert response["statusCode"] == 400
        assert consent_of(db, lead_id) == "granted"
        assert row_counts() == before

    def test_one_click_without_a_token_is_400(self, lead_id, unsubscribe_env, db, context, row_counts):
        event = copy.deepcopy(load_event("unsubscribe/one_click.json"))
        event["rawQueryString"] = ""
        event.pop("queryStringParameters")
        before = row_counts()
        assert public(event, context)["statusCode"] == 400
        assert row_counts() == before

    def test_without_a_configured_key_the_page_says_try_later(
        self, lead_id, lambda_env, db, context, row_counts
    ):
        before = row_counts()
        response = public(form_event("AQt-TCqT1U8eimssnR5fejAAAFAR.zWFfJdyjMhRtjkHrHjwfYw"), context)
        assert response["statusCode"] == 503
        assert content_type(response) == HTML
        assert row_counts() == before

    def test_an_unsupported_body_type_is_415(self, lead_id, unsubscribe_env, db, context, row_counts):
        before = row_counts()
        event = with_changes(
            form_event(token_for(lead_id)), headers={"content-type": "application/octet-stream"}
        )
        assert public(event, context)["statusCode"] == 415
        assert row_counts() == before


def test_the_clock_decides_expiry(unsubscribe_env, db, context):
    # Given a link issued today, and the function's clock moved 200 days ahead
    lead_id = add_lead(db)
    token = token_for(lead_id)
    later = datetime.now(UTC) + timedelta(days=200)
    get_runtime().clock = lambda: later

    # Then the link has expired for both the page and the form
    assert public(page_event(token), context)["statusCode"] == 410
    assert public(form_event(token), context)["statusCode"] == 410
    assert consent_of(db, lead_id) == "granted"
