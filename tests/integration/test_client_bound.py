"""The bound per client on the public routes (issue 11, item 7): each client, by hashed
address, gets its burst and then its rate; beyond it a 429 with ``Retry-After`` and a JSON
body (a page for a browser's form post), before anything is read, counted or stored.
Every limit on both sides of its edge, on a pinned clock."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest

import collect_handler
import health_handler
import unsubscribe_handler
from funnel.capture.identity import DailySalts
from funnel.platform.runtime import reset_runtime
from funnel.privacy.unsubscribe import issue_token
from tests.builders import api_event, response_json, with_changes
from tests.conftest import load_event

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
SITE = "https://www.example.com"
UNSUBSCRIBE_SECRET = "test-unsubscribe-secret-0123456789"
JUST_BEFORE = timedelta(microseconds=999_999)


@pytest.fixture
def bounded(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    """Small bounds: beacons 60 a minute after 3 at once, leads 6 a minute after 2, the
    health check 60 a minute after 2."""
    # The handler's salts are cached per day: a fresh cache, so none of this test's days
    # stays cached for a later test (whose emptied tables would lack that day's salt).
    lambda_env.setattr(collect_handler, "salts", DailySalts())
    for name, value in {
        "ALLOWED_ORIGINS": SITE,
        "UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET,
        "CLIENT_EVENTS_PER_MINUTE": "60",
        "CLIENT_EVENTS_BURST": "3",
        "CLIENT_LEADS_PER_MINUTE": "6",
        "CLIENT_LEADS_BURST": "2",
        "CLIENT_HEALTH_PER_MINUTE": "60",
        "CLIENT_HEALTH_BURST": "2",
    }.items():
        lambda_env.setenv(name, value)
    reset_runtime()
    set_clock(NOW)
    return set_clock


def from_client(event: dict[str, Any], ip: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["requestContext"]["http"]["sourceIp"] = ip
    return event


def beacon(n: int, ip: str = "198.51.100.23") -> dict[str, Any]:
    body = {"type": "page_view", "eventId": f"evt_bound_{n:06d}", "visitorId": "vis_bounded_1", "path": "/"}
    return from_client(api_event("collect/beacon_page_view", body=body), ip)


def lead(n: int, ip: str = "198.51.100.23", **headers: str) -> dict[str, Any]:
    event = api_event("collect/lead_capture_form", headers=headers or None)
    fields = {"email": f"person{n}@example.com", "formId": "contact"}
    event["body"] = base64.b64encode(urlencode(fields).encode()).decode()
    return from_client(event, ip)


def collect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return collect_handler.lambda_handler(event, context)


def statuses(events: list[dict[str, Any]], context: Any) -> list[int]:
    return [collect(event, context)["statusCode"] for event in events]


def limited(response: dict[str, Any], retry_after: int) -> None:
    assert response["statusCode"] == 429, response["body"][:300]
    assert response["headers"]["Retry-After"] == str(retry_after)
    assert response_json(response) == {
        "ok": False,
        "error": "rate_limited",
        "details": {"retryAfterSeconds": retry_after},
    }


class TestBeacons:
    def test_a_client_gets_its_burst_then_429_with_retry_after(self, bounded, db, context, row_counts):
        # Given a client that sent its burst of 3 at one instant
        assert statuses([beacon(n) for n in range(3)], context) == [202, 202, 202]
        before = row_counts()

        # When it sends a fourth
        response = collect(beacon(3), context)

        # Then it is told to come back in a second, the site can read why (CORS), and
        # nothing at all is written, not even a counter of the refusal
        limited(response, 1)
        assert response["headers"]["Access-Control-Allow-Origin"] == SITE
        assert row_counts() == before

    @pytest.mark.parametrize(("after", "status"), [(JUST_BEFORE, 429), (timedelta(seconds=1), 202)])
    def test_the_rate_refills_a_request_a_second(self, after, status, bounded, db, context):
        statuses([beacon(n) for n in range(3)], context)
        bounded(NOW + after)
        assert collect(beacon(3), context)["statusCode"] == status

    def test_other_clients_are_not_held_back(self, bounded, db, context):
        statuses([beacon(n) for n in range(4)], context)
        assert collect(beacon(10, ip="198.51.100.24"), context)["statusCode"] == 202
        assert collect(beacon(11, ip="2001:db8::1"), context)["statusCode"] == 202

    def test_preflights_count_too(self, bounded, db, context):
        preflight = load_event("collect/preflight_events.json")
        answers = [collect(preflight, context)["statusCode"] for _ in range(4)]
        assert answers == [204, 204, 204, 429]


class TestLeads:
    def test_a_client_gets_two_leads_then_429_for_ten_seconds(self, bounded, db, context, row_counts):
        assert statuses([lead(n) for n in range(2)], context) == [200, 200]
        before = row_counts()

        limited(collect(lead(2), context), 10)
        assert row_counts() == before

    @pytest.mark.parametrize(
        ("after", "status"), [(timedelta(seconds=9) + JUST_BEFORE, 429), (timedelta(seconds=10), 200)]
    )
    def test_a_lead_comes_back_ten_seconds_later(self, after, status, bounded, db, context):
        statuses([lead(n) for n in range(2)], context)
        bounded(NOW + after)
        assert collect(lead(2), context)["statusCode"] == status

    def test_leads_and_beacons_are_bounded_apart(self, bounded, db, context):
        statuses([lead(n) for n in range(3)], context)
        assert collect(beacon(0), context)["statusCode"] == 202

    def test_a_browser_over_the_bound_sees_a_page(self, bounded, db, context):
        statuses([lead(n) for n in range(2)], context)
        response = collect(lead(2, accept="text/html"), context)
        assert response["statusCode"] == 429
        assert response["headers"]["Retry-After"] == "10"
        assert response["headers"]["Content-Type"].startswith("text/html")
        assert "not recorded" in response["body"]


def test_the_health_check_is_bounded(bounded, db, context):
    event = load_event("health/get_health.json")
    answers = [health_handler.lambda_handler(event, context)["statusCode"] for _ in range(3)]
    assert answers == [200, 200, 429]
    bounded(NOW + timedelta(seconds=1))
    assert health_handler.lambda_handler(event, context)["statusCode"] == 200


def test_unsubscribing_is_never_refused(bounded, db: psycopg.Connection, context):
    # Given many leads, unsubscribed one after the other from one address (a mailbox
    # provider's one-click server)
    ids = [
        db.execute(
            "INSERT INTO leads (email_normalized) VALUES (%s) RETURNING id", (f"u{n}@example.com",)
        ).fetchone()[0]
        for n in range(40)
    ]
    for lead_id in ids:
        token = issue_token(lead_id, key=UNSUBSCRIBE_SECRET.encode(), now=NOW)
        event = with_changes(load_event("unsubscribe/post_form.json"), body=urlencode({"token": token}))
        assert unsubscribe_handler.lambda_handler(event, context)["statusCode"] == 200
    assert db.execute("SELECT count(*) FROM consent_records").fetchone() == (40,)
