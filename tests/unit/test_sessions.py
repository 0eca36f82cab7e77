"""Sessionisation (``funnel.capture.sessions``) without a database: event times against the
limits on a client's clock, the session timeout, day boundaries, late and out-of-order
events, entrances, exits, conversions and measures, each limit on both sides of its edge,
with the request's time pinned and session ids counted."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from funnel.capture.classify import Attribution
from funnel.capture.sessions import (
    MAX_CLIENT_AHEAD,
    MAX_CLIENT_DELAY,
    SESSION_TIMEOUT,
    Session,
    VisitorSessions,
    continues,
    event_time,
    first_seen,
    in_time_order,
    merge_measure,
    unseen,
)

RECEIVED = datetime(2026, 2, 13, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DIRECT = Attribution("direct", None, None, None, None, None, None, None)
CAMPAIGN = Attribution("email", None, "newsletter", "email", "spring", None, None, None)


def counted_ids():
    counter = itertools.count(1)
    return lambda: UUID(int=next(counter))


def attributed(attribution: Attribution = DIRECT):
    return lambda: attribution


def stored_session(last_seen_at: datetime, *, page_views: int = 1) -> Session:
    return Session(
        UUID(int=999),
        last_seen_at - timedelta(minutes=10),
        last_seen_at,
        page_views,
        is_new=False,
        attribution=CAMPAIGN,
    )


# Event times


@pytest.mark.parametrize(
    ("client_time", "believed"),
    [
        (RECEIVED, True),
        (RECEIVED + MAX_CLIENT_AHEAD - SECOND, True),
        (RECEIVED + MAX_CLIENT_AHEAD, True),
        (RECEIVED + MAX_CLIENT_AHEAD + SECOND, False),
        (RECEIVED - MAX_CLIENT_DELAY + SECOND, True),
        (RECEIVED - MAX_CLIENT_DELAY, True),
        (RECEIVED - MAX_CLIENT_DELAY - SECOND, False),
    ],
)
def test_a_client_time_is_believed_within_its_limits_else_the_event_is_dated_on_arrival(
    client_time, believed
):
    assert event_time(client_time, RECEIVED) == (client_time if believed else RECEIVED)


def test_an_event_without_a_client_time_is_dated_on_arrival():
    assert event_time(None, RECEIVED) == RECEIVED


@pytest.mark.parametrize(
    ("ahead", "believed"), [(MAX_CLIENT_AHEAD, True), (MAX_CLIENT_AHEAD + SECOND, False)]
)
def test_a_client_time_in_another_zone_is_compared_as_its_instant(ahead, believed):
    in_new_york = (RECEIVED + ahead).astimezone(timezone(timedelta(hours=-5)))

    assert event_time(in_new_york, RECEIVED) == (RECEIVED + ahead if believed else RECEIVED)


# Order and duplicates


def test_out_of_order_events_are_taken_in_time_order_and_ties_in_request_order():
    timed = [
        (RECEIVED, "b"),
        (RECEIVED - timedelta(minutes=40), "a"),
        (RECEIVED, "c"),
        (RECEIVED - SECOND, "x"),
    ]

    assert [event for _, event in in_time_order(timed)] == ["a", "x", "b", "c"]


def test_an_event_stored_already_or_repeated_in_the_request_is_taken_once_at_its_earliest():
    ordered = in_time_order(
        [(RECEIVED, "pv2"), (RECEIVED - SECOND, "pv1"), (RECEIVED + SECOND, "pv1"), (RECEIVED, "stored")]
    )

    fresh = unseen(ordered, str, known=["stored"])

    assert fresh == [(RECEIVED - SECOND, "pv1"), (RECEIVED, "pv2")]


def test_a_request_of_stored_events_only_has_nothing_new():
    assert unseen([(RECEIVED, "pv1")], str, known=["pv1"]) == []


# First seen, at the day boundary

MIDNIGHT = datetime(2026, 2, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    ("earliest", "cookieless_first_seen"),
    [
        (MIDNIGHT - SECOND, MIDNIGHT),
        (MIDNIGHT, MIDNIGHT),
        (MIDNIGHT + SECOND, MIDNIGHT + SECOND),
    ],
)
def test_a_cookieless_visitor_is_first_seen_no_earlier_than_the_day_its_request_arrived(
    earliest, cookieless_first_seen
):
    received = MIDNIGHT + timedelta(seconds=5)

    assert first_seen(earliest, received, cookieless=True) == cookieless_first_seen
    assert first_seen(earliest, received, cookieless=False) == earliest


# The session timeout


@pytest.mark.parametrize(
    ("gap", "same_session"),
    [
        (SESSION_TIMEOUT - SECOND, True),
        (SESSION_TIMEOUT, True),
        (SESSION_TIMEOUT + SECOND, False),
        (timedelta(0), True),
        # A late event, before the session's last activity, joins it.
        (-timedelta(hours=5), True),
    ],
)
def test_activity_continues_a_session_up_to_the_timeout_after_its_last_activity(gap, same_session):
    last_seen = RECEIVED - timedelta(hours=1)

    assert continues(last_seen, last_seen + gap) is same_session


def test_events_within_the_timeout_of_each_other_are_one_new_session():
    visits = VisitorSessions(None, new_id=counted_ids())
    start = RECEIVED - timedelta(hours=2)

    first = visits.session_at(start, attributed(CAMPAIGN), "/landing")
    second = visits.session_at(start + SESSION_TIMEOUT, attributed(), "/other")

    assert second is first
    assert (first.id, first.started_at, first.last_seen_at) == (UUID(int=1), start, start + SESSION_TIMEOUT)
    assert (first.attribution, first.landing_path, first.is_new, first.ended_at) == (
        CAMPAIGN,
        "/landing",
        True,
        None,
    )


def test_a_gap_over_the_timeout_ends_the_session_at_its_last_activity_and_starts_another():
    visits = VisitorSessions(None, new_id=counted_ids())
    start = RECEIVED - timedelta(hours=2)

    first = visits.session_at(start, attributed(), "/a")
    second = visits.session_at(start + SESSION_TIMEOUT + SECOND, attributed(CAMPAIGN), "/b")

    assert second is not first
    assert first.ended_at == start
    assert (second.id, second.started_at, second.attribution, second.landing_path) == (
        UUID(int=2),
        start + SESSION_TIMEOUT + SECOND,
        CAMPAIGN,
        "/b",
    )
    assert visits.new_sessions == [first, second]


def test_a_new_session_is_attributed_once_and_a_continued_one_never():
    calls = []

    def attribution():
        calls.append(1)
        return DIRECT

    visits = VisitorSessions(None, new_id=counted_ids())
    visits.session_at(RECEIVED, attribution, "/a")
    visits.session_at(RECEIVED + SECOND, attribution, "/b")

    assert len(calls) == 1


def test_a_session_continues_across_midnight():
    before_midnight = MIDNIGHT - timedelta(minutes=10)
    visits = VisitorSessions(stored_session(before_midnight), new_id=counted_ids())

    session = visits.session_at(MIDNIGHT + timedelta(minutes=10), attributed(), "/a")

    assert session.id == UUID(int=999)
    assert session.last_seen_at == MIDNIGHT + timedelta(minutes=10)
    assert visits.new_sessions == []


# The stored session


@pytest.mark.parametrize(
    ("gap", "joined"),
    [(SESSION_TIMEOUT - SECOND, True), (SESSION_TIMEOUT, True), (SESSION_TIMEOUT + SECOND, False)],
)
def test_a_batch_joins_the_stored_session_within_the_timeout_else_ends_it(gap, joined):
    last_seen = RECEIVED - timedelta(hours=1)
    stored = stored_session(last_seen)
    visits = VisitorSessions(stored, new_id=counted_ids())

    session = visits.session_at(last_seen + gap, attributed(), "/next")

    assert (session is stored) is joined
    assert visits.changed_stored is stored
    assert stored.touched is joined
    assert stored.ended_at == (None if joined else last_seen)
    assert stored.last_seen_at == (last_seen + gap if joined else last_seen)


def test_an_out_of_order_event_joins_the_latest_session_and_leaves_its_last_activity():
    last_seen = RECEIVED - timedelta(minutes=5)
    stored = stored_session(last_seen)
    visits = VisitorSessions(stored, new_id=counted_ids())

    session = visits.session_at(last_seen - timedelta(hours=3), attributed(), "/old")

    assert session is stored
    assert stored.last_seen_at == last_seen
    assert stored.started_at == last_seen - timedelta(minutes=10)


def test_a_stored_session_the_batch_does_not_reach_is_not_changed():
    assert VisitorSessions(None).changed_stored is None
    stored = stored_session(RECEIVED)
    assert VisitorSessions(stored).changed_stored is None


# Entrances, exits, conversions


def test_the_first_page_view_of_a_session_is_its_entrance_and_the_last_of_the_batch_its_exit():
    visits = VisitorSessions(None, new_id=counted_ids())
    session = visits.session_at(RECEIVED, attributed(), "/a")

    first = visits.page_view(session, "pv1", RECEIVED, "/a")
    second = visits.page_view(session, "pv2", RECEIVED + SECOND, "/b")
    visits.finish()

    assert (first.is_entrance, first.is_exit) == (True, False)
    assert (second.is_entrance, second.is_exit) == (False, True)
    assert (session.added_page_views, session.exit_path) == (2, "/b")
    assert visits.page_views == [first, second]


def test_a_page_view_continuing_a_stored_session_with_page_views_is_no_entrance():
    stored = stored_session(RECEIVED - timedelta(minutes=1), page_views=3)
    visits = VisitorSessions(stored, new_id=counted_ids())
    session = visits.session_at(RECEIVED, attributed(), "/a")

    page_view = visits.page_view(session, "pv1", RECEIVED, "/a")
    visits.finish()

    assert (page_view.is_entrance, page_view.is_exit) == (False, True)


def test_a_stored_session_without_page_views_gets_its_entrance_from_the_batch():
    stored = stored_session(RECEIVED - timedelta(minutes=1), page_views=0)
    visits = VisitorSessions(stored, new_id=counted_ids())
    session = visits.session_at(RECEIVED, attributed(), "/a")

    assert visits.page_view(session, "pv1", RECEIVED, "/a").is_entrance


def test_each_session_of_a_batch_has_its_own_exit():
    visits = VisitorSessions(None, new_id=counted_ids())
    morning = visits.session_at(RECEIVED - timedelta(hours=3), attributed(), "/a")
    a = visits.page_view(morning, "pv1", RECEIVED - timedelta(hours=3), "/a")
    b = visits.page_view(morning, "pv2", RECEIVED - timedelta(hours=3) + SECOND, "/b")
    noon = visits.session_at(RECEIVED, attributed(), "/c")
    c = visits.page_view(noon, "pv3", RECEIVED, "/c")
    visits.finish()

    assert [(p.is_entrance, p.is_exit) for p in (a, b, c)] == [(True, False), (False, True), (True, True)]


def test_a_form_submitted_in_a_session_converts_its_entrance_only():
    visits = VisitorSessions(None, new_id=counted_ids())
    session = visits.session_at(RECEIVED, attributed(), "/a")
    entrance = visits.page_view(session, "pv1", RECEIVED, "/a")
    later = visits.page_view(session, "pv2", RECEIVED + SECOND, "/form")

    visits.convert(session)
    visits.finish()

    assert session.converted
    assert (entrance.is_conversion, later.is_conversion) == (True, False)


def test_a_session_without_a_form_converts_nothing():
    visits = VisitorSessions(None, new_id=counted_ids())
    session = visits.session_at(RECEIVED, attributed(), "/a")
    entrance = visits.page_view(session, "pv1", RECEIVED, "/a")
    visits.finish()

    assert not entrance.is_conversion


# Measures


def test_a_measure_naming_its_page_view_is_folded_into_it_even_in_another_session():
    visits = VisitorSessions(None, new_id=counted_ids())
    first = visits.session_at(RECEIVED - timedelta(hours=2), attributed(), "/a")
    page_view = visits.page_view(first, "pv1", RECEIVED - timedelta(hours=2), "/a")
    later = visits.session_at(RECEIVED, attributed(), "/b")

    assert visits.measure(later, "pv1", "/b", {"lcp_ms": 1800})
    assert page_view.measures == {"lcp_ms": 1800}


def test_a_measure_without_a_page_view_id_goes_to_the_sessions_latest_page_view_of_its_path():
    visits = VisitorSessions(None, new_id=counted_ids())
    session = visits.session_at(RECEIVED, attributed(), "/a")
    older = visits.page_view(session, "pv1", RECEIVED, "/a")
    visits.page_view(session, "pv2", RECEIVED + SECOND, "/b")
    newer = visits.page_view(session, "pv3", RECEIVED + 2 * SECOND, "/a")

    assert visits.measure(session, None, "/a", {"engaged_time_ms": 4000})
    assert (older.measures, newer.measures) == ({}, {"engaged_time_ms": 4000})


@pytest.mark.parametrize(("page_view_id", "path"), [("pv-earlier-request", "/a"), (None, "/unseen")])
def test_a_measure_of_a_page_view_not_in_the_batch_is_left_to_the_caller(page_view_id, path):
    visits = VisitorSessions(None, new_id=counted_ids())
    session = visits.session_at(RECEIVED, attributed(), "/a")
    page_view = visits.page_view(session, "pv1", RECEIVED, "/a")

    assert not visits.measure(session, page_view_id, path, {"cls_score": 0.1})
    assert page_view.measures == {}


@pytest.mark.parametrize(
    ("column", "old", "new", "merged"),
    [
        ("engaged_time_ms", 5000, 3000, 5000),
        ("engaged_time_ms", 3000, 5000, 5000),
        ("scroll_depth_percent", 80, 40, 80),
        ("engaged_time_ms", None, 3000, 3000),
        ("lcp_ms", 2500, 1200, 1200),
        ("lcp_ms", 1200, 2500, 2500),
        ("lcp_ms", 1200, None, 1200),
        ("cls_score", None, 0.1, 0.1),
    ],
)
def test_engagement_keeps_its_largest_report_and_a_vital_its_latest(column, old, new, merged):
    assert merge_measure(column, old, new) == merged
