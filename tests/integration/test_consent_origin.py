"""Consent is written only from the site's own pages, and a grant after a withdrawal only
when the person asks for it again, with its evidence recorded (issue 11, item 2)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest

import collect_handler
import unsubscribe_handler
from funnel.capture.identity import DailySalts
from funnel.platform.runtime import reset_runtime
from funnel.privacy.unsubscribe import issue_token
from tests.builders import api_event, response_json, sample_body, with_changes
from tests.conftest import load_event

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
SITE = "https://www.example.com"
EVIL = "https://evil.example"
UNSUBSCRIBE_SECRET = "test-unsubscribe-secret-0123456789"
EMAIL = "v@example.com"
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
WRITTEN_BY_A_CAPTURE = (
    "visitors",
    "leads",
    "lead_identities",
    "consent_records",
    "form_submissions",
    "audit_log",
)


@pytest.fixture
def site(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    # The handler's salts are cached per day: a fresh cache, so none of this test's days
    # stays cached for a later test (whose emptied tables would lack that day's salt).
    lambda_env.setattr(collect_handler, "salts", DailySalts())
    lambda_env.setenv("ALLOWED_ORIGINS", f"{SITE},https://blog.example.com")
    lambda_env.setenv("UNSUBSCRIBE_SECRET", UNSUBSCRIBE_SECRET)
    reset_runtime()
    set_clock(NOW)
    return set_clock


def form_capture(context: Any, fields: dict[str, str], **headers: str | None) -> dict[str, Any]:
    """What `curl -H 'content-type: application/x-www-form-urlencoded' -d ...` sends,
    with the sample form's headers changed (a None removes one)."""
    event = with_changes(load_event("collect/lead_capture_form.json"), headers=headers)
    event["body"] = base64.b64encode(urlencode(fields).encode()).decode()
    event["isBase64Encoded"] = True
    return collect_handler.lambda_handler(event, context)


def json_capture(
    context: Any, headers: dict[str, str | None] | None = None, **changes: Any
) -> dict[str, Any]:
    body = {**sample_body("collect/lead_capture_json"), "email": EMAIL, **changes}
    return collect_handler.lambda_handler(
        api_event("collect/lead_capture_json", body=body, headers=headers), context
    )


def unsubscribe(db: psycopg.Connection, context: Any) -> None:
    (lead_id,) = db.execute("SELECT id FROM leads WHERE email_normalized = %s", (EMAIL,)).fetchone()
    token = issue_token(lead_id, key=UNSUBSCRIBE_SECRET.encode(), now=NOW)
    event = with_changes(load_event("unsubscribe/post_form.json"), body=urlencode({"token": token}))
    assert unsubscribe_handler.lambda_handler(event, context)["statusCode"] == 200


def history(db: psycopg.Connection) -> list[str]:
    return [row[0] for row in db.execute("SELECT status FROM consent_records ORDER BY occurred_at, status")]


def counts(db: psycopg.Connection) -> dict[str, int]:
    return {
        table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in WRITTEN_BY_A_CAPTURE
    }


FORGED = {"email": EMAIL, "consent": "true", "consentWordingVersion": "v1"}


class TestOrigin:
    def test_the_issues_forged_form_from_another_site_is_403_and_writes_nothing(self, site, db, context):
        # Given an address that consented, then unsubscribed
        json_capture(context)
        unsubscribe(db, context)
        before = counts(db)

        # When another site posts the issue's form (curl -H 'Origin: https://evil.example' ...)
        response = form_capture(context, FORGED, origin=EVIL)

        # Then it is refused with a JSON error, and nothing is written: no grant, no submission
        assert response["statusCode"] == 403
        assert response_json(response)["error"] == "origin_not_allowed"
        assert counts(db) == before
        assert history(db) == ["granted", "withdrawn"]
        # And the refusal is counted, as a rejected lead
        assert db.execute(
            "SELECT kind, outcome, code, sum(count)::int FROM ingest_counters "
            "WHERE outcome = 'rejected' GROUP BY 1, 2, 3"
        ).fetchall() == [("lead", "rejected", "origin_not_allowed", 1)]

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({"origin": EVIL}, id="foreign-origin"),
            pytest.param({"origin": "https://www.example.com.evil.example"}, id="suffix-origin"),
            pytest.param({"origin": "http://www.example.com"}, id="other-scheme"),
            pytest.param({"origin": "https://www.example.com:8443"}, id="other-port"),
            pytest.param({"origin": "null"}, id="opaque-origin"),
            pytest.param({"origin": "null", "referer": f"{SITE}/blog"}, id="opaque-origin-with-referer"),
            pytest.param({"origin": None}, id="neither"),
            pytest.param({"origin": None, "referer": f"{EVIL}/page"}, id="foreign-referer"),
            pytest.param({"origin": None, "referer": "not a url"}, id="unreadable-referer"),
            pytest.param({"origin": EVIL, "referer": f"{SITE}/blog"}, id="origin-wins-over-referer"),
        ],
    )
    @pytest.mark.parametrize("flow", ["json", "form"])
    def test_a_capture_not_from_an_allowed_origin_is_refused(self, flow, headers, site, db, context):
        response = (
            json_capture(context, headers=headers)
            if flow == "json"
            else form_capture(context, FORGED, **headers)
        )
        assert response["statusCode"] == 403
        assert response_json(response)["error"] == "origin_not_allowed"
        assert counts(db) == dict.fromkeys(WRITTEN_BY_A_CAPTURE, 0)

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param({"origin": SITE}, id="origin"),
            pytest.param({"origin": "HTTPS://WWW.EXAMPLE.COM"}, id="origin-any-case"),
            pytest.param({"origin": "https://blog.example.com"}, id="another-allowed-origin"),
            pytest.param({"origin": None, "referer": f"{SITE}/blog/launch?x=1"}, id="referer"),
            pytest.param({"origin": None, "referer": f"{SITE}/"}, id="referer-origin-only"),
        ],
    )
    @pytest.mark.parametrize("flow", ["json", "form"])
    def test_a_capture_from_an_allowed_origin_is_stored(self, flow, headers, site, db, context):
        response = (
            json_capture(context, headers=headers)
            if flow == "json"
            else form_capture(context, FORGED, **headers)
        )
        assert response["statusCode"] in (200, 201, 303)
        assert history(db) == ["granted"]

    def test_a_browser_posting_the_form_sees_a_page_not_json(self, site, db, context):
        # When a browser (it accepts HTML) posts the form from a page of another site
        response = form_capture(
            context, FORGED, origin=EVIL, accept="text/html,application/xhtml+xml,*/*;q=0.8"
        )

        # Then it shows a page that says nothing was recorded, with the same status
        assert response["statusCode"] == 403
        assert response["headers"]["Content-Type"].startswith("text/html")
        assert "not recorded" in response["body"]
        assert "origin_not_allowed" in response["body"]
        assert counts(db) == dict.fromkeys(WRITTEN_BY_A_CAPTURE, 0)

    def test_a_browser_posting_an_invalid_form_sees_a_page_too(self, site, db, context):
        response = form_capture(context, {"email": "nope"}, accept="text/html")
        assert response["statusCode"] == 422
        assert response["headers"]["Content-Type"].startswith("text/html")
        assert "validation_failed" in response["body"]

    def test_beacons_are_not_held_to_the_origin(self, site, db, context):
        # (Beacons write no consent; a site may relay them from its own server.)
        event = api_event("collect/beacon_page_view", headers={"origin": None})
        assert collect_handler.lambda_handler(event, context)["statusCode"] == 202


class TestRegrant:
    def test_a_grant_after_a_withdrawal_without_reconsent_changes_nothing(self, site, db, context):
        # Given an address that consented, then unsubscribed
        json_capture(context)
        site(NOW + timedelta(days=1))
        unsubscribe(db, context)

        # When the site's own form is filled in again with the box ticked, without reconsent
        site(NOW + timedelta(days=2))
        response = json_capture(context, consentWordingVersion="newsletter-2026-12")

        # Then the capture is answered as any other (nothing tells whether the address
        # unsubscribed), but consent stays withdrawn, and the refused grant is audited
        assert response["statusCode"] == 201
        assert response_json(response) == {"ok": True}
        assert history(db) == ["granted", "withdrawn"]
        assert db.execute("SELECT consent_status FROM leads").fetchall() == [("withdrawn",)]
        assert [row[0] for row in db.execute("SELECT action FROM audit_log ORDER BY id")] == [
            "consent.grant",
            "consent.withdraw",
            "consent.regrant_refused",
        ]

    @pytest.mark.parametrize("flow", ["json", "form"])
    def test_a_deliberate_reconsent_grants_again_with_its_evidence(self, flow, site, db, context):
        # Given an address that consented, then unsubscribed
        json_capture(context)
        site(NOW + timedelta(days=1))
        unsubscribe(db, context)

        # When the person asks again, from the site's page, ticking the re-subscribe box
        site(NOW + timedelta(days=2))
        fields = {
            "email": EMAIL,
            "formId": "newsletter",
            "path": "/blog/launch?utm_source=x",
            "consent": "true",
            "reconsent": "true",
            "consentWordingVersion": "resubscribe-2026-12",
        }
        response = (
            json_capture(context, **{**fields, "consent": True, "reconsent": True})
            if flow == "json"
            else form_capture(context, fields, origin="https://blog.example.com")
        )

        # Then consent is granted again, and the record shows it was asked for deliberately:
        # after a withdrawal, with the re-consent, its wording, origin, page, request and time
        assert response["statusCode"] in (201, 200)
        assert db.execute("SELECT consent_status, consent_wording_version FROM leads").fetchall() == [
            ("granted", "resubscribe-2026-12")
        ]
        records = db.execute(
            "SELECT status, previous_status, reconsent, source, wording_version, origin, page, "
            "request_id, occurred_at FROM consent_records ORDER BY occurred_at"
        ).fetchall()
        origin = SITE if flow == "json" else "https://blog.example.com"
        assert records == [
            (
                "granted",
                "none",
                False,
                "form:newsletter",
                "newsletter-2026-10",
                SITE,
                "/blog/launch",
                REQUEST_ID,
                NOW,
            ),
            (
                "withdrawn",
                "granted",
                False,
                "unsubscribe_link",
                None,
                None,
                None,
                REQUEST_ID,
                NOW + timedelta(days=1),
            ),
            (
                "granted",
                "withdrawn",
                True,
                "form:newsletter",
                "resubscribe-2026-12",
                origin,
                "/blog/launch",
                REQUEST_ID,
                NOW + timedelta(days=2),
            ),
        ]
        assert db.execute(
            "SELECT details FROM audit_log WHERE action = 'consent.grant' ORDER BY id DESC LIMIT 1"
        ).fetchone()[0] == {
            "source": "form:newsletter",
            "wordingVersion": "resubscribe-2026-12",
            "previousStatus": "withdrawn",
            "reconsent": True,
            "origin": origin,
            "page": "/blog/launch",
        }

    def test_reconsent_without_consent_is_422(self, site, db, context):
        response = json_capture(context, consent=False, consentWordingVersion=None, reconsent=True)
        assert response["statusCode"] == 422
        assert counts(db) == dict.fromkeys(WRITTEN_BY_A_CAPTURE, 0)

    def test_reconsent_of_an_address_that_never_withdrew_is_an_ordinary_grant(self, site, db, context):
        json_capture(context, reconsent=True)
        assert db.execute("SELECT status, previous_status, reconsent FROM consent_records").fetchall() == [
            ("granted", "none", True)
        ]

    def test_the_database_refuses_a_recorded_regrant_that_was_not_asked_for(self, site, db, context):
        lead = db.execute(
            "INSERT INTO leads (email_normalized) VALUES ('x@example.com') RETURNING id"
        ).fetchone()[0]
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute(
                "INSERT INTO consent_records (lead_id, status, source, previous_status, reconsent) "
                "VALUES (%s, 'granted', 'form:x', 'withdrawn', false)",
                (lead,),
            )
        assert uuid.UUID(str(lead))
