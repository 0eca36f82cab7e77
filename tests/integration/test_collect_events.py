"""POST /v1/events through the Lambda handler, on real PostgreSQL."""

from __future__ import annotations

import copy
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

import collect_handler
from funnel.capture.identity import DailySalts
from funnel.capture.schemas import EventsBody
from funnel.platform.runtime import build_runtime, reset_runtime
from funnel.platform.settings import get_settings
from funnel.platform.sql import query
from tests.builders import api_event, beacon_sent, response_json, sample_body

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
SITE = "https://www.example.com"


@pytest.fixture
def collect(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    """The collect function with the site's origin allowed, two properties configured and
    the clock at NOW."""
    lambda_env.setenv("ALLOWED_ORIGINS", f"{SITE},https://blog.example.com")
    lambda_env.setenv("PROPERTY_IDS", "default,docs-site")
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

    # Then there are two sessions, and the first ended at its last activity
    sessions = rows(
        db, "SELECT started_at, last_seen_at, ended_at, page_views FROM sessions ORDER BY started_at"
    )
    assert sessions == [
        (start, start + timedelta(minutes=10), start + timedelta(minutes=10), 2),
        (back, back, None, 1),
    ]
    entrances = rows(db, "SELECT path, is_entrance, is_exit FROM web_traffic_logs ORDER BY occurred_at")
    assert entrances == [("/", True, False), ("/", False, True), ("/docs", True, True)]


def test_a_gap_of_exactly_thirty_minutes_continues_the_session_and_a_second_more_does_not(
    collect, db, context
):
    # Given page views 30 minutes apart, then one 30 minutes and 1 second after the last
    start = NOW - timedelta(hours=2)
    edge = start + timedelta(minutes=30)
    over = edge + timedelta(minutes=30, seconds=1)
    post(beacon(page_view("evt_gap_00001", start), page_view("evt_gap_00002", edge, "/docs")), context)
    post(beacon(page_view("evt_gap_00003", over, "/pricing")), context)

    # Then the first two are one session, ended at its last activity, and the third starts another
    assert rows(
        db, "SELECT started_at, last_seen_at, ended_at, page_views FROM sessions ORDER BY started_at"
    ) == [
        (start, edge, edge, 2),
        (over, over, None, 1),
    ]


def test_a_session_continues_across_requests_and_moves_its_exit(collect, db, context):
    start = NOW - timedelta(minutes=20)
    post(beacon(page_view("evt_cont_0001", start)), context)
    post(beacon(page_view("evt_cont_0002", start + timedelta(minutes=29), "/pricing")), context)
    assert rows(db, "SELECT page_views, exit_path FROM sessions") == [(2, "/pricing")]
    assert rows(db, "SELECT path, is_exit FROM web_traffic_logs ORDER BY occurred_at") == [
        ("/", False),
        ("/pricing", True),
    ]


def test_a_page_view_continuing_a_stored_session_carries_that_sessions_attribution(collect, db, context):
    # Given a session started from a campaign link
    start = NOW - timedelta(minutes=20)
    post(
        beacon(
            page_view("evt_attr_0001", start, "/?utm_source=newsletter&utm_medium=email&utm_campaign=fall")
        ),
        context,
    )

    # When its next page view arrives in a later request, without the campaign parameters
    post(beacon(page_view("evt_attr_0002", start + timedelta(minutes=5), "/pricing")), context)

    # Then both page views count for the session's source and campaign
    assert rows(
        db, "SELECT count(*), traffic_source, utm_source, utm_campaign FROM sessions GROUP BY 2, 3, 4"
    ) == [(1, "email", "newsletter", "fall")]
    logs = "SELECT path, traffic_source, utm_source, utm_medium, utm_campaign FROM web_traffic_logs"
    assert rows(db, f"{logs} ORDER BY occurred_at") == [
        ("/", "email", "newsletter", "email", "fall"),
        ("/pricing", "email", "newsletter", "email", "fall"),
    ]


def test_utm_values_sent_in_the_body_win_over_the_paths(collect, db, context):
    # Given a single-page site that reports the campaign in the event, not in the path
    landing = page_view(
        "evt_utm_0001",
        NOW - timedelta(minutes=5),
        "/?utm_source=ignored&utm_campaign=from-path",
        utm={"source": "newsletter", "medium": "email", "term": "crm", "content": "hero"},
    )

    # When it is accepted
    assert post(beacon(landing), context)["statusCode"] == 202

    # Then the session is attributed to the body's values, and the path fills the gap
    assert rows(
        db, "SELECT traffic_source, utm_source, utm_medium, utm_campaign, utm_term, utm_content FROM sessions"
    ) == [("email", "newsletter", "email", "from-path", "crm", "hero")]


def test_an_address_the_site_puts_in_a_path_campaign_title_or_property_is_not_stored(collect, db, context):
    # Given a site that puts the visitor's address wherever it can
    at = NOW - timedelta(minutes=5)
    landing = page_view(
        "evt_mail_0001",
        at,
        "/welcome/ada%40example.org?utm_source=mail&utm_campaign=drip+ada@example.org",
        title="Welcome back, ada@example.org",
        utm={"content": "ada@example.org"},
    )
    custom = {
        **page_view("evt_mail_0002", at + timedelta(seconds=5), "/welcome/ada@example.org"),
        "type": "custom",
        "name": "newsletter_signup",
        "properties": {"address": "ada@example.org", "count": 1},
    }

    # When its beacon is accepted
    assert post(beacon(landing, custom), context)["statusCode"] == 202

    # Then every place keeps the rest of the text and none keeps the address
    assert rows(db, "SELECT path, title, properties->'properties' FROM events ORDER BY occurred_at") == [
        ("/welcome/[email]", "Welcome back, [email]", None),
        ("/welcome/[email]", None, {"address": "[email]", "count": 1}),
    ]
    assert rows(db, "SELECT utm_campaign, utm_content, landing_path FROM sessions") == [
        ("[email]", "[email]", "/welcome/[email]")
    ]
    assert rows(db, "SELECT DISTINCT path, utm_campaign FROM web_traffic_logs") == [
        ("/welcome/[email]", "[email]")
    ]
    for table, column in [
        ("events", "properties::text"),
        ("events", "title"),
        ("sessions", "concat_ws(' ', utm_source, utm_medium, utm_campaign, utm_term, utm_content)"),
        ("web_traffic_logs", "path"),
    ]:
        assert rows(db, f"SELECT count(*) FROM {table} WHERE {column} LIKE '%ada%'") == [(0,)]


def test_a_full_length_title_stays_within_its_column_after_its_address_is_replaced(collect, db, context):
    # Given a title of the longest length allowed that ends in an address shorter than
    # the placeholder
    title = "a" * 505 + " x@y.io"
    assert len(title) == 512

    # When it is accepted, then it is stored, replaced and cut to the column
    assert post(beacon(page_view("evt_title_01", NOW, "/", title=title)), context)["statusCode"] == 202
    assert rows(db, "SELECT title FROM events") == [(("a" * 505 + " [email]")[:512],)]


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


def measure(event_id: str, kind: str, path: str, page_view_id: str | None = None, **values: object) -> dict:
    event: dict = {"type": kind, "eventId": event_id, "visitorId": "vis_test_visitor_1", "path": path}
    if page_view_id is not None:
        event["pageViewId"] = page_view_id
    return {**event, **({"vitals": values} if kind == "web_vitals" else {"engagement": values})}


def test_late_measures_of_one_request_fold_into_their_page_views_in_order(collect, db, context):
    # Given two page views stored with their first measures
    at = NOW - timedelta(minutes=5)
    post(
        beacon(
            page_view("evt_late_pv_a1", at, "/a"),
            page_view("evt_late_pv_b1", at + timedelta(seconds=10), "/b"),
            measure("evt_late_m_000", "web_vitals", "/a", "evt_late_pv_a1", lcp=1000, ttfb=300),
        ),
        context,
    )

    # When one later request reports more of them: by page-view id, by path only, and
    # for a page view that was never stored
    response = post(
        beacon(
            measure("evt_late_m_001", "web_vitals", "/a", "evt_late_pv_a1", lcp=2000),
            measure("evt_late_m_002", "engagement", "/a", "evt_late_pv_a1", engagedTimeMs=5000),
            measure("evt_late_m_003", "web_vitals", "/a", "evt_late_pv_a1", lcp=2500, cls=0.1),
            measure("evt_late_m_004", "engagement", "/a", "evt_late_pv_a1", engagedTimeMs=3000),
            measure("evt_late_m_005", "engagement", "/b", engagedTimeMs=700, scrollDepthPercent=40),
            measure("evt_late_m_006", "web_vitals", "/c", "evt_never_stored", lcp=9999),
        ),
        context,
    )

    # Then a vital's latest report wins, engagement only grows, an unreported value stays,
    # and the measure of an unknown page view is stored as an event and applied nowhere
    assert response_json(response)["accepted"] == 6
    assert rows(
        db,
        "SELECT path, lcp_ms, ttfb_ms, cls_score, engaged_time_ms, scroll_depth_percent "
        "FROM web_traffic_logs ORDER BY path",
    ) == [("/a", 2500, 300, pytest.approx(0.1), 5000, None), ("/b", None, None, None, 700, 40)]
    assert rows(db, "SELECT count(*) FROM events") == [(9,)]


def test_a_later_request_converts_the_stored_landing_page_and_moves_the_exit(collect, db, context):
    start = NOW - timedelta(minutes=20)
    post(beacon(page_view("evt_conv_pv_01", start, "/", referrer="https://www.google.com/")), context)
    submit = {
        "type": "form_submit",
        "eventId": "evt_conv_sub_01",
        "visitorId": "vis_test_visitor_1",
        "occurredAt": (start + timedelta(minutes=11)).isoformat(),
        "path": "/signup",
        "formId": "signup",
    }
    post(beacon(page_view("evt_conv_pv_02", start + timedelta(minutes=10), "/signup"), submit), context)

    assert rows(db, "SELECT page_views, exit_path, is_conversion, last_seen_at FROM sessions") == [
        (2, "/signup", True, start + timedelta(minutes=11))
    ]
    assert rows(
        db, "SELECT path, is_entrance, is_exit, is_conversion FROM web_traffic_logs ORDER BY occurred_at"
    ) == [("/", True, False, True), ("/signup", False, True, False)]


def test_a_batch_can_continue_the_stored_session_and_then_start_the_next(collect, db, context):
    start = NOW - timedelta(hours=3)
    post(beacon(page_view("evt_cont_end_01", start)), context)
    post(
        beacon(
            page_view("evt_cont_end_02", start + timedelta(minutes=10), "/more"),
            page_view("evt_cont_end_03", start + timedelta(minutes=50), "/again"),
        ),
        context,
    )
    assert rows(
        db,
        "SELECT started_at, last_seen_at, ended_at, page_views, exit_path FROM sessions ORDER BY started_at",
    ) == [
        (start, start + timedelta(minutes=10), start + timedelta(minutes=10), 2, "/more"),
        (start + timedelta(minutes=50), start + timedelta(minutes=50), None, 1, "/again"),
    ]
    assert rows(db, "SELECT path, is_entrance, is_exit FROM web_traffic_logs ORDER BY occurred_at") == [
        ("/", True, False),
        ("/more", False, True),
        ("/again", True, True),
    ]


def test_counters_of_a_batch_are_per_property_and_outcome(collect, db, context):
    docs = page_view("evt_docs_pv_001", NOW, "/docs")
    docs["propertyId"] = "docs-site"
    repeated = page_view("evt_main_pv_001", NOW)
    response = response_json(post(beacon(repeated, repeated, docs), context))
    assert (response["accepted"], response["duplicates"]) == (2, 1)
    assert sorted(rows(db, "SELECT property_id, outcome, count FROM ingest_counters")) == [
        ("default", "accepted", 1),
        ("default", "duplicate", 1),
        ("docs-site", "accepted", 1),
    ]


def test_the_same_event_id_in_another_property_is_not_a_duplicate(collect, db, context):
    first = page_view("evt_shared_id_01", NOW)
    other = {**first, "propertyId": "docs-site"}
    post(beacon(first), context)
    response = response_json(post(beacon(other), context))
    assert (response["accepted"], response["duplicates"]) == (1, 0)
    assert rows(db, "SELECT property_id FROM events ORDER BY property_id") == [("default",), ("docs-site",)]


def _generic_plan(db: psycopg.Connection, name: str, values: dict[str, object]) -> str:
    """The plan a prepared statement of ``queries/<name>.sql`` runs once it goes generic
    (a warm function's connection prepares its statements), for these parameters."""
    order: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match[1] not in order:
            order.append(match[1])
        return f"${order.index(match[1]) + 1}"

    text = re.sub(r"%\((\w+)\)[sb]", placeholder, query(name))
    db.execute("SET plan_cache_mode = force_generic_plan")
    db.execute(sql.SQL("PREPARE generic AS {}").format(sql.SQL(text)))  # type: ignore[arg-type]
    arguments = sql.SQL(", ").join(sql.Literal(values[parameter]) for parameter in order)
    explained = db.execute(sql.SQL("EXPLAIN EXECUTE generic({})").format(arguments))
    return "\n".join(line for (line,) in explained)


def test_the_duplicate_check_probes_the_unique_key_of_a_table_never_analyzed(db):
    # Given an events table as a new database has it: some rows and no statistics yet (a
    # temporary copy, with the same indexes, that the query's "events" resolves to)
    db.execute("CREATE TEMPORARY TABLE events (LIKE public.events INCLUDING ALL)")
    db.execute(
        "INSERT INTO events (id, property_id, visitor_id, session_id, event_type, client_event_id, "
        "occurred_at) SELECT gen_random_uuid(), 'default', gen_random_uuid(), gen_random_uuid(), "
        "'page_view', 'evt_fresh_' || n, now() FROM generate_series(1, 500) AS n"
    )
    indexes = dict(
        db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events' "
            "AND schemaname = pg_my_temp_schema()::regnamespace::text"
        ).fetchall()
    )
    (unique_key,) = [
        name for name, definition in indexes.items() if "(client_event_id, property_id)" in definition
    ]

    # When a warm function looks a batch's ids up (its prepared statement's generic plan)
    plan = _generic_plan(
        db,
        "sessions/find_visit_state",
        {
            "client_ids": [f"evt_fresh_{n}" for n in range(1, 101)],
            "property_id": "default",
            "visitor_id": uuid.uuid4(),
        },
    )

    # Then each id is one probe of the unique key, never a read of all the property's events
    assert unique_key in plan
    assert not [name for name in indexes if name != unique_key and name in plan]
    assert "Seq Scan on events" not in plan


def test_late_measures_find_their_page_view_by_the_unique_key_of_a_table_never_analyzed(db):
    db.execute("CREATE TEMPORARY TABLE events (LIKE public.events INCLUDING ALL)")
    db.execute(
        "INSERT INTO events (id, property_id, visitor_id, session_id, event_type, client_event_id, "
        "occurred_at) SELECT gen_random_uuid(), 'default', gen_random_uuid(), gen_random_uuid(), "
        "'page_view', 'evt_fresh_' || n, now() FROM generate_series(1, 500) AS n"
    )
    indexes = [
        name
        for (name,) in db.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'events' "
            "AND schemaname = pg_my_temp_schema()::regnamespace::text"
        )
    ]
    measures = 2
    plan = _generic_plan(
        db,
        "traffic_logs/apply_late_measures",
        {
            "property_id": "default",
            "page_view_client_id": ["evt_fresh_1", "evt_fresh_2"],
            "session_id": [uuid.uuid4()] * measures,
            "path": ["/"] * measures,
            **{
                column: [1] * measures
                for column in (
                    "fcp_ms",
                    "lcp_ms",
                    "inp_ms",
                    "cls_score",
                    "ttfb_ms",
                    "engaged_time_ms",
                    "scroll_depth_percent",
                )
            },
        },
    )
    used = [name for name in indexes if name in plan]
    assert len(used) == 1 and "client_event_id" in used[0], plan
    assert "Seq Scan on events" not in plan


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
    sent = beacon_sent(api_event("collect/beacon_batch"))
    settings = get_settings()
    from funnel.capture.collect import receive_events

    def deliver(_: int) -> object:
        runtime = build_runtime(settings)
        runtime.clock = lambda: NOW
        try:
            return receive_events(runtime, events, DailySalts(), **sent)
        finally:
            runtime.database.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(deliver, range(8)))

    # Then every event is stored exactly once, in one session
    assert sum(r.accepted for r in results) == 7
    assert rows(db, "SELECT count(*) FROM events") == [(7,)]
    assert rows(db, "SELECT count(*) FROM sessions") == [(1,)]
    assert rows(db, "SELECT count(*) FROM web_traffic_logs") == [(2,)]


def test_concurrent_batches_of_one_visitor_share_one_session(collect, db):
    # Given eight containers each receiving a different page view of the same visit
    sent = beacon_sent(api_event("collect/beacon_batch"))
    settings = get_settings()
    from funnel.capture.collect import receive_events

    def deliver(n: int) -> object:
        body = {"events": [page_view(f"evt_race_pv_{n:03d}", NOW - timedelta(minutes=10 - n), f"/p{n}")]}
        runtime = build_runtime(settings)
        runtime.clock = lambda: NOW
        try:
            return receive_events(runtime, EventsBody.model_validate(body).events(), DailySalts(), **sent)
        finally:
            runtime.database.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(deliver, range(8)))

    # Then they were sessionised one after the other: one session, one entrance, one exit
    assert sum(r.accepted for r in results) == 8
    assert rows(db, "SELECT count(*), sum(page_views) FROM sessions") == [(1, 8)]
    assert rows(
        db,
        "SELECT count(*), count(*) FILTER (WHERE is_entrance), count(*) FILTER (WHERE is_exit) "
        "FROM web_traffic_logs",
    ) == [(8, 1, 1)]


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


def test_a_cookieless_visitor_is_never_seen_before_the_day_its_key_was_made(collect, db, context):
    # Given an anonymous batch that arrives just after midnight, with a page view from
    # just before it
    midnight = datetime(2026, 11, 22, tzinfo=UTC)
    collect(midnight + timedelta(seconds=30))
    late, early = (
        page_view("evt_midnight_1", midnight - timedelta(seconds=10)),
        page_view("evt_midnight_2", midnight + timedelta(seconds=20)),
    )
    for event in (late, early):
        del event["visitorId"]
    post(beacon(late, early), context)

    # Then the visitor (keyed with the new day's salt) is first seen that day, so its page
    # views are never a returning visitor's; the events keep their own times
    assert rows(db, "SELECT first_seen_at FROM visitors") == [(midnight,)]
    assert rows(db, "SELECT occurred_at FROM events ORDER BY occurred_at") == [
        (midnight - timedelta(seconds=10),),
        (midnight + timedelta(seconds=20),),
    ]


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


def test_a_client_time_is_believed_from_24_hours_before_to_5_minutes_after_receipt(collect, db, context):
    # Given events stamped at the edges of what is believed, and a second beyond each
    post(
        beacon(
            page_view("evt_edge_ahead", NOW + timedelta(minutes=5)),
            page_view("evt_over_ahead", NOW + timedelta(minutes=5, seconds=1)),
            page_view("evt_edge_behind", NOW - timedelta(hours=24)),
            page_view("evt_over_behind", NOW - timedelta(hours=24, seconds=1)),
        ),
        context,
    )

    # Then the edges keep their time, and the others are dated when they were received
    assert dict(rows(db, "SELECT client_event_id, occurred_at FROM events")) == {
        "evt_edge_ahead": NOW + timedelta(minutes=5),
        "evt_over_ahead": NOW,
        "evt_edge_behind": NOW - timedelta(hours=24),
        "evt_over_behind": NOW,
    }


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
        *(
            pytest.param(
                {
                    "raw_body": json.dumps(
                        {
                            **page_view("evt_nonfinite1", NOW),
                            "type": "custom",
                            "name": "x",
                            "properties": {"v": v},
                        }
                    )
                },
                400,
                "invalid_json",
                1,
                id=f"{v}-property",
            )
            for v in (float("nan"), float("inf"), float("-inf"))
        ),
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
