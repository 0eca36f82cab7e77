"""Capture end to end over real HTTP through the local gateway: a browser's preflight and
beacons, a plain HTML form post, and the unsubscribe link of the lead it created."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest

from funnel_local.gateway import RunningGateway, start_gateway
from tests.builders import sample_body
from tests.conftest import ADMIN_KEY, REPO

pytestmark = pytest.mark.e2e

SITE = "https://www.example.com"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


@pytest.fixture(scope="module")
def gateway(database_url: str) -> Iterator[RunningGateway]:
    env = {
        "DATABASE_URL": database_url,
        "ADMIN_API_KEY": ADMIN_KEY,
        "ALLOWED_ORIGINS": SITE,
        "UNSUBSCRIBE_SECRET": "e2e-unsubscribe-secret-0123456789",
    }
    with start_gateway(REPO / "template.yaml", env_overrides=env) as running:
        yield running


def call(url: str, *, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_a_visit_a_form_and_an_unsubscribe(gateway, db: psycopg.Connection):
    # Given the site's script asking permission, then sending beacons with sendBeacon
    status, headers, _ = call(
        f"{gateway.url}/v1/events",
        method="OPTIONS",
        headers={"Origin": SITE, "Access-Control-Request-Method": "POST"},
    )
    assert status == 204 and headers["Access-Control-Allow-Origin"] == SITE
    beacons = json.dumps(sample_body("collect/beacon_batch")).encode()
    status, headers, body = call(
        f"{gateway.url}/v1/events",
        method="POST",
        body=beacons,
        headers={
            "Origin": SITE,
            "Content-Type": "text/plain;charset=UTF-8",
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
        },
    )
    assert status == 202 and json.loads(body)["accepted"] == 7
    assert headers["Access-Control-Allow-Origin"] == SITE

    # When the visitor posts the plain HTML form
    form = urllib.parse.urlencode(
        {
            "email": "Grace@Example.com",
            "visitorId": "vis_6f1c2a9e8b7d4c3a",
            "formId": "contact",
            "consent": "on",
            "consentWordingVersion": "contact-2026-09",
            "fields[company]": "Navy",
            "redirect": f"{SITE}/thanks",
        }
    ).encode()
    status, headers, _ = call(
        f"{gateway.url}/v1/leads/capture",
        method="POST",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": SITE},
    )

    # Then the browser is sent to the thank-you page and the lead converts its session
    assert status == 303 and headers["Location"] == f"{SITE}/thanks"
    assert db.execute("SELECT email_normalized, consent_status FROM leads").fetchall() == [
        ("grace@example.com", "granted")
    ]
    assert db.execute("SELECT bool_or(is_conversion) FROM sessions").fetchone() == (True,)

    # And the mailing tool's unsubscribe link works: GET confirms, POST withdraws
    status, _, body = call(
        f"{gateway.url}/v1/leads/unsubscribe-link",
        method="POST",
        body=json.dumps({"email": "grace@example.com"}).encode(),
        headers={"Content-Type": "application/json", "x-admin-key": ADMIN_KEY},
    )
    assert status == 200
    link = json.loads(body)["url"]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["token"][0]
    status, headers, page = call(f"{gateway.url}/v1/unsubscribe?token={urllib.parse.quote(token)}")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert re.search(r"<form[^>]+method=\"post\"", page, re.IGNORECASE)
    assert db.execute("SELECT consent_status FROM leads").fetchone() == ("granted",)
    status, _, _ = call(
        f"{gateway.url}/v1/unsubscribe",
        method="POST",
        body=urllib.parse.urlencode({"token": token}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200
    assert db.execute("SELECT consent_status FROM leads").fetchone() == ("withdrawn",)
    assert db.execute("SELECT status, source FROM consent_records ORDER BY occurred_at").fetchall() == [
        ("granted", "form:contact"),
        ("withdrawn", "unsubscribe_link"),
    ]

    # And issue 11's forged form, posted from another site, re-grants nothing:
    # curl -H 'Origin: https://evil.example' -H 'content-type: application/x-www-form-urlencoded'
    #      -d 'email=grace@example.com&consent=true&consentWordingVersion=v1' .../v1/leads/capture
    status, _, body = call(
        f"{gateway.url}/v1/leads/capture",
        method="POST",
        body=b"email=grace@example.com&consent=true&consentWordingVersion=v1",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"},
    )
    assert status == 403 and json.loads(body)["error"] == "origin_not_allowed"
    assert db.execute("SELECT consent_status FROM leads").fetchone() == ("withdrawn",)
    assert db.execute("SELECT count(*) FROM consent_records").fetchone() == (2,)


def test_a_foreign_origin_gets_no_cors_and_a_bot_is_not_stored(gateway, db):
    status, headers, _ = call(
        f"{gateway.url}/v1/events",
        method="OPTIONS",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, _, body = call(
        f"{gateway.url}/v1/events",
        method="POST",
        body=json.dumps(sample_body("collect/beacon_page_view")).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "curl/8.5.0"},
    )
    assert status == 202 and json.loads(body)["ignored"] == 1
    assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)
