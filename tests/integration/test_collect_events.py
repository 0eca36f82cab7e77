"""POST /v1/events through the Lambda handler, on real PostgreSQL."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

import collect_handler
from funnel.http import RawRequest
from funnel.identity import DailySalts
from funnel.runtime import build_runtime, reset_runtime
from funnel.schemas.capture import EventsBody
from funnel.settings import get_settings
from tests.builders import api_event, response_json, sample_body

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
SITE = "https://www.example.com"


@pytest.fixture
def collect(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    """The collect function with the site's origin allowed and the clock at NOW."""
    lambda_env.setenv("ALLOWED_ORIGINS", f"{SITE},https://blog.example.com")
    reset_runtime()
    set_clock(NOW)
    return set_clock


def post(event, context):  # type: ignore[no-untyped-def]
    return collect_handler.lambda_handler(event, context)


def beacon(*events: dict, **headers: str | None) -> dict:
    return api_event("collect/beacon_batch", body={"events": list(events)}, headers=headers or None)


def page_view(event_id: str, at: datetime, path: str = "/", **extra: object) -> dict:
    return {
        "type": "page_view",
        "eventId": event_id,
        "visitorId": "vis_test_visitor_1",
        "occurredAt": at.isoformat(),
        "path": path,
        **extra,
    }


def rows(db: psycopg.Connection, sql: str) -> list[tuple]:
    return db.execute(sql).fetchall()


def counters(db: psycopg.Connection) -> dict[tuple[str, str, str], int]:
    return {
        (kind, outcome, code): count
        for kind, outcome, code, count in rows(db, "SELECT kind, outcome, code, count FROM ingest_counters")
    }


def test_a_sendbeacon_page_view_is_stored_with_its_session_and_traffic_log(collect, db, context):
    # Given the site's script sending one page view as text/plain
    response = post(api_event("collect/beacon_page_view"), context)

    # Then it is accepted, and the visit is recorded
    assert response["statusCode"] == 202
    assert response_json(response) == {"ok": True, "accepted": 1, "duplicates": 0, "ignored": 0}
    (event,) = rows(db, "SELECT event_type, path, client_event_id, occurred_at FROM events")
    assert event == (
        "page_view",
        "/pricing",
        "evt_01HZX3K9PAGEVIEW01",
        datetime(2026, 11, 21, 14, tzinfo=UTC),
    )
    (session,) = rows(
        db,
        "SELECT traffic_source, utm_source, utm_campaign, landing_path, page_views, device_type, "
        "country, ended_at FROM sessions",
    )
    assert session == ("email", "newsletter", "launch", "/pricing", 1, "desktop", "CA", None)
    (log,) = rows(
        db, "SELECT path, traffic_source, is_entrance, is_exit, is_conversion FROM web_traffic_logs"
    )
    assert log == ("/pricing", "email", True, True, False)
    assert counters(db) == {("event", "accepted", ""): 1}


def test_a_batch_builds_one_session_with_entrance_exit_conversion_and_measures(collect, db, context):
    # Given a visit from Google Ads: landing, vitals, signup page, form, engagement, custom
    response = post(api_event("collect/beacon_batch"), context)

    assert response_json(response)["accepted"] == 7
    assert rows(db, "SELECT count(*) FROM sessions") == [(1,)]
    (session,) = rows(
        db, "SELECT traffic_source, click_id_type, page_views, is_conversion, exit_path FROM sessions"
    )
    assert session == ("paid_search", "gclid", 2, True, "/signup")
    logs = rows(
        db,
        "SELECT path, is_entrance, is_exit, is_conversion, lcp_ms, cls_score, engaged_time_ms, "
        "scroll_depth_percent FROM web_traffic_logs ORDER BY occurred_at",
    )
    # Then the landing page is the converted entrance with its vitals, the signup page the exit
    assert logs == [
        ("/", True, False, True, 1400, pytest.approx(0.02), None, None),
        ("/signup", False, True, False, None, None, 64000, 80),
    ]
    custom = rows(db, "SELECT event_name, properties FROM events WHERE event_type = 'custom'")
    assert custom == [("demo_video_played", {"properties": {"seconds": 42, "autoplay": False}})]


def test_thirty_minutes_of_inactivity_start_a_new_session_and_end_the_last(collect, db, context):
    # Given a visit, and the same visitor back 31 minutes after their last event
    start = NOW - timedelta(hours=2)
    post(
        beacon(
            page_view("evt_first_0001", start), page_view("evt_first_0002", start + timedelta(minutes=10))
        ),
        context,
    )
    back = start + timedelta(minutes=41)
    post(beacon(page_view("evt_second_001", back, "/docs")), context)

    # Then there are two sessions, and the first ended at its last activity (G3)
    sessions = rows(
        db, "SELECT started_at, last_seen_at, ended_at, page_views FROM sessions ORDER BY started_at"
    )
    assert sessions == [
        (start, start + timedelta(minutes=10), start + timedelta(minutes=10), 2),
        (back, back, None, 1),
    ]
    entrances = rows(db, "SELECT path, is_entrance, is_exit FROM web_traffic_logs ORDER BY occurred_at")
    assert entrances == [("/", True, False), ("/", False, True), ("/docs", True, True)]


def test_a_session_continues_across_requests_and_moves_its_exit(collect, db, context):
    start = NOW - timedelta(minutes=20)
    post(beacon(page_view("evt_cont_0001", start)), context)
    post(beacon(page_view("evt_cont_0002", start + timedelta(minutes=29), "/pricing")), context)
    assert rows(db, "SELECT page_views, exit_path FROM sessions") == [(2, "/pricing")]
    assert rows(db, "SELECT path, is_exit FROM web_traffic_logs ORDER BY occurred_at") == [
        ("/", False),
        ("/pricing", True),
    ]


def test_vitals_arriving_in_a_later_request_reach_their_page_view(collect, db, context):
    post(beacon(page_view("evt_pv_late_01", NOW - timedelta(minutes=1), "/a")), context)
    vitals = {
        "type": "web_vitals",
        "eventId": "evt_vitals_late",
        "visitorId": "vis_test_visitor_1",
        "path": "/a",
        "pageViewId": "evt_pv_late_01",
        "vitals": {"lcp": 2100, "ttfb": 300},
    }
    engagement = {
        "type": "engagement",
        "eventId": "evt_engage_late",
        "visitorId": "vis_test_visitor_1",
        "path": "/a",
        "engagement": {"engagedTimeMs": 5000, "scrollDepthPercent": 30},
    }
    post(beacon(vitals, engagement), context)
    assert rows(
        db, "SELECT lcp_ms, ttfb_ms, engaged_time_ms, scroll_depth_percent FROM web_traffic_logs"
    ) == [(2100, 300, 5000, 30)]


def test_a_repeated_event_id_is_stored_once(collect, db, context):
    # Given a batch holding the same event twice, then a retry of the whole batch
    pv = page_view("evt_dup_000001", NOW)
    first = response_json(post(beacon(pv, pv), context))
    retry = response_json(post(beacon(pv, pv), context))

    # Then one event is stored and the rest are counted as duplicates
    assert (first["accepted"], first["duplicates"]) == (1, 1)
    assert (retry["accepted"], retry["duplicates"]) == (0, 2)
    assert rows(db, "SELECT count(*) FROM events") == [(1,)]
    assert rows(db, "SELECT page_views FROM sessions") == [(1,)]
    assert counters(db) == {("event", "accepted", ""): 1, ("event", "duplicate", ""): 3}


def test_concurrent_retries_of_one_batch_store_it_once(collect, db):
    # Given eight containers receiving the same batch at once
    body = sample_body("collect/beacon_batch")
    events = EventsBody.model_validate(body).events()
    request = RawRequest.from_event(api_event("collect/beacon_batch"))
    settings = get_settings()
    from funnel.collect import receive_events

    def deliver(_: int) -> object:
        runtime = build_runtime(settings)
        runtime.clock = lambda: NOW
        try:
            return receive_events(runtime, events, request, DailySalts())
        finally:
            runtime.database.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(deliver, range(8)))

    # Then every event is stored exactly once, in one session
    assert sum(r.accepted for r in results) == 7
    assert rows(db, "SELECT count(*) FROM events") == [(7,)]
    assert rows(db, "SELECT count(*) FROM sessions") == [(1,)]
    assert rows(db, "SELECT count(*) FROM web_traffic_logs") == [(2,)]


def test_without_a_site_id_visitors_are_cookieless_and_daily(collect, db, context):
    # Given beacons without visitorId from one browser, on two days
    def anonymous(event_id: str, at: datetime) -> dict:
        event = page_view(event_id, at)
        del event["visitorId"]
        return event

    post(beacon(anonymous("evt_anon_00001", NOW)), context)
    post(beacon(anonymous("evt_anon_00002", NOW + timedelta(minutes=1))), context)
    collect(NOW + timedelta(days=1))
    post(beacon(anonymous("evt_anon_00003", NOW + timedelta(days=1))), context)

    # Then it is one visitor within a day and another the next day
    keys = [key for (key,) in rows(db, "SELECT visitor_key FROM visitors ORDER BY first_seen_at")]
    assert len(keys) == 2 and all(key.startswith("c:") for key in keys)
    assert rows(db, "SELECT count(*) FROM visitor_salts") == [(2,)]


def test_a_different_browser_is_a_different_cookieless_visitor(collect, db, context):
    def anonymous(event_id: str) -> dict:
        event = page_view(event_id, NOW)
        del event["visitorId"]
        return event

    post(beacon(anonymous("evt_browser_01")), context)
    post(
        beacon(
            anonymous("evt_browser_02"),
            **{"user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
        ),
        context,
    )
    assert rows(db, "SELECT count(*) FROM visitors") == [(2,)]


def test_bots_are_counted_and_not_stored(collect, db, context):
    bot = {"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}
    response = post(api_event("collect/beacon_batch", headers=bot), context)
    assert response["statusCode"] == 202
    assert response_json(response) == {"ok": True, "accepted": 0, "duplicates": 0, "ignored": 7}
    assert rows(db, "SELECT count(*) FROM events") == [(0,)]
    assert rows(db, "SELECT count(*) FROM visitors") == [(0,)]
    assert counters(db) == {("event", "bot", ""): 7}


def test_an_implausible_client_time_is_replaced_by_the_receive_time(collect, db, context):
    post(
        beacon(
            page_view("evt_clock_0001", NOW + timedelta(days=3)),
            page_view("evt_clock_0002", NOW - timedelta(days=30)),
        ),
        context,
    )
    assert rows(db, "SELECT DISTINCT occurred_at FROM events") == [(NOW,)]


def _too_many() -> dict:
    return {"events": [page_view(f"evt_many_{i:05d}", NOW) for i in range(101)]}


@pytest.mark.parametrize(
    ("change", "status", "error", "rejected"),
    [
        pytest.param({"raw_body": "{nope"}, 400, "invalid_json", 1, id="malformed-json"),
        pytest.param(
            {"raw_body": json.dumps({"pad": "x" * 300_000})}, 413, "payload_too_large", 1, id="oversize"
        ),
        pytest.param({"body": _too_many()}, 422, "validation_failed", 100, id="over-100-events"),
        pytest.param({"body": {"events": []}}, 422, "validation_failed", 1, id="empty-batch"),
        pytest.param(
            {"body": page_view("evt_unknown_01", NOW, colour="red")},
            422,
            "validation_failed",
            1,
            id="unknown-field",
        ),
        pytest.param(
            {"body": {**page_view("evt_custom_001", NOW), "type": "custom"}},
            422,
            "validation_failed",
            1,
            id="custom-without-name",
        ),
        pytest.param({"body": page_view("short", NOW)}, 422, "validation_failed", 1, id="bad-event-id"),
        pytest.param(
            {"body": page_view("evt_path_0001", NOW, "pricing")},
            422,
            "validation_failed",
            1,
            id="relative-path",
        ),
        pytest.param(
            {"body": {**page_view("evt_type_0001", NOW), "type": "purchase"}},
            422,
            "validation_failed",
            1,
            id="unknown-type",
        ),
        pytest.param(
            {"body": {**page_view("evt_vital_001", NOW), "type": "web_vitals", "vitals": {"lcp": -5}}},
            422,
            "validation_failed",
            1,
            id="negative-vital",
        ),
        pytest.param(
            {"body": {**page_view("evt_prop_0001", NOW), "propertyId": "has space"}},
            422,
            "validation_failed",
            1,
            id="bad-property",
        ),
        pytest.param({"headers": {"content-type": "text/xml"}}, 415, "unsupported_media_type", 1, id="xml"),
    ],
)
def test_bad_beacons_get_a_4xx_write_nothing_and_are_counted(
    change, status, error, rejected, collect, db, context
):
    # When a bad beacon arrives
    response = post(api_event("collect/beacon_page_view", **change), context)

    # Then it is refused clearly, no data is written, and the refusal is counted
    assert response["statusCode"] == status
    assert response_json(response)["error"] == error
    for table in ("events", "visitors", "sessions", "web_traffic_logs"):
        assert rows(db, f"SELECT count(*) FROM {table}") == [(0,)], table
    assert counters(db) == {("event", "rejected", error): rejected}


def test_a_refusal_is_counted_for_the_property_it_names(collect, db, context):
    body = {**page_view("evt_named_0001", NOW, "nope"), "propertyId": "docs-site"}
    post(api_event("collect/beacon_page_view", body=body), context)
    assert rows(db, "SELECT property_id, outcome FROM ingest_counters") == [("docs-site", "rejected")]


class TestCors:
    def test_a_preflight_from_the_site_is_allowed(self, collect, context):
        response = post(api_event("collect/preflight_events"), context)
        assert response["statusCode"] == 204
        assert response["headers"]["Access-Control-Allow-Origin"] == SITE
        assert "POST" in response["headers"]["Access-Control-Allow-Methods"]

    def test_a_preflight_from_elsewhere_is_refused(self, collect, context):
        response = post(
            api_event("collect/preflight_events", headers={"origin": "https://evil.example"}), context
        )
        assert response["statusCode"] == 403
        assert "Access-Control-Allow-Origin" not in response["headers"]

    def test_answers_carry_cors_only_for_allowed_origins(self, collect, context):
        ok = post(api_event("collect/beacon_page_view"), context)
        other = post(
            api_event("collect/beacon_page_view", headers={"origin": "https://evil.example"}), context
        )
        assert ok["headers"]["Access-Control-Allow-Origin"] == SITE
        assert "Access-Control-Allow-Origin" not in other["headers"]

    def test_errors_carry_cors_so_the_site_can_read_them(self, collect, context):
        response = post(api_event("collect/beacon_page_view", raw_body="{nope"), context)
        assert response["headers"]["Access-Control-Allow-Origin"] == SITE

    def test_admin_and_webhook_routes_never_answer_with_cors(self, collect, context):
        import webhook_handler
        from tests.builders import webhook_event

        event = webhook_event(headers={"origin": SITE})
        response = webhook_handler.lambda_handler(event, context)
        assert not any(name.lower().startswith("access-control") for name in response["headers"])


def test_beacon_batches_share_nothing_between_visitors(collect, db, context):
    # Given one batch carrying two visitors' events
    other = page_view("evt_other_0001", NOW, "/other")
    other["visitorId"] = "vis_test_visitor_2"
    post(beacon(page_view("evt_mine_00001", NOW), other), context)
    assert rows(db, "SELECT count(*) FROM visitors") == [(2,)]
    assert rows(db, "SELECT count(*), bool_and(page_views = 1) FROM sessions") == [(2, True)]


def test_the_sample_batch_is_a_valid_model():
    assert len(EventsBody.model_validate(sample_body("collect/beacon_batch")).events()) == 7
    assert copy.deepcopy(sample_body("collect/beacon_page_view"))["type"] == "page_view"
