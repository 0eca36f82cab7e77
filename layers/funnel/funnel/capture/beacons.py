"""Ingesting page and form beacons: identify the visitor, sessionise, store each event
once, keep one traffic-log row per page view with its vitals and engagement, and mark
entrances, exits and conversions.

A request is handled in one transaction. Each visitor's row is locked first (the upsert
does it), so two requests of one visitor are sessionised one after the other, and the
duplicate check under that lock is race-free; the unique key on (eventId, property)
backs it up. A visitor's events are sessionised in memory and written set-wise: per
visitor, one statement locks, one reads what is stored, one writes sessions, events and
traffic logs (and one more folds measures into page views of earlier requests); the
request's ingest counters are one statement at the end, into rows of its own database
backend, so requests of one property never wait for each other's counters. A request
that changes a day older than yesterday (a buffered request written late, a measure of
an old page view, a session of several days) marks it dirty, one statement more
(``funnel.platform.dirty_days``).
"""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from types import MappingProxyType
from typing import Any
from uuid import UUID

import psycopg
from aws_lambda_powertools import Logger

from funnel.capture import accounting, classify, sessions
from funnel.capture.accounting import Kind, Outcome
from funnel.capture.identity import Client, DailySalts, is_cookieless, record_visitor, visitor_key
from funnel.capture.schemas import MAX_TITLE_LENGTH, BeaconEvent, EventsAccepted
from funnel.capture.sessions import PageView, Session, VisitorSessions
from funnel.platform import dirty_days
from funnel.platform.emails import redact_emails
from funnel.platform.rows import column_arrays, fetch_column, fetch_one, fetch_value, parameters
from funnel.platform.sql import query

logger = Logger(child=True)

# A batch's events mostly share a few page paths (a page view and its vitals and
# engagement), and a site has a bounded set of pages: split each raw path once.
PATH_CACHE_SIZE = 1024


@dataclass(frozen=True)
class BeaconRequest:
    """What the HTTP request adds to its events."""

    received_at: datetime
    client: Client
    headers: Mapping[str, str]
    site_hosts: frozenset[str]

    @property
    def device_type(self) -> str:
        return classify.device_type(self.client.user_agent)

    @property
    def country(self) -> str | None:
        return classify.country(self.headers)


@dataclass(frozen=True, slots=True)
class VisitState:
    """A row of ``sessions/find_visit_state``: which of the batch's client ids are stored,
    and the visitor's latest session (its columns None when there is none)."""

    known_client_ids: list[str]
    session_id: UUID | None
    started_at: datetime | None
    last_seen_at: datetime | None
    page_views: int | None
    traffic_source: classify.TrafficSource | None
    referrer_host: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    click_id_type: str | None

    def latest_session(self) -> Session | None:
        if self.session_id is None:
            return None
        assert self.started_at is not None
        assert self.last_seen_at is not None
        assert self.page_views is not None
        assert self.traffic_source is not None
        attribution = classify.Attribution(
            traffic_source=self.traffic_source,
            referrer_host=self.referrer_host,
            utm_source=self.utm_source,
            utm_medium=self.utm_medium,
            utm_campaign=self.utm_campaign,
            utm_term=self.utm_term,
            utm_content=self.utm_content,
            click_id_type=self.click_id_type,
        )
        return Session(
            self.session_id,
            self.started_at,
            self.last_seen_at,
            self.page_views,
            is_new=False,
            attribution=attribution,
        )


# The rows ``events/store_batch`` writes: each kind's fields, in order, are the columns of
# its ``unnest`` (placeholders ``<prefix><field>``), checked by tests/unit/test_rows.py.


@dataclass(slots=True)
class SessionRow:
    """A new session (placeholders ``session_<field>``)."""

    id: UUID
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    landing_path: str | None
    exit_path: str | None
    traffic_source: str
    referrer_host: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    click_id_type: str | None
    page_views: int
    is_conversion: bool


@dataclass(slots=True)
class EventRow:
    """An event (placeholders ``event_<field>``)."""

    session_id: UUID
    type: str
    name: str | None
    client_id: str
    path: str
    title: str | None
    occurred_at: datetime
    properties: str | None


@dataclass(slots=True, kw_only=True)
class TrafficLogRow:
    """A page view's traffic-log row (placeholders ``log_<field>``); a measure not
    reported is None."""

    client_id: str
    session_id: UUID
    occurred_at: datetime
    path: str
    referrer_host: str | None
    traffic_source: str
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    click_id_type: str | None
    fcp_ms: int | None = None
    lcp_ms: int | None = None
    inp_ms: int | None = None
    cls_score: float | None = None
    ttfb_ms: int | None = None
    engaged_time_ms: int | None = None
    scroll_depth_percent: int | None = None
    is_entrance: bool
    is_exit: bool
    is_conversion: bool


@dataclass(slots=True)
class ContinuedSession:
    """The stored session's changes (placeholders ``continued_<field>``); all None, 0 or
    False when the batch neither joined nor ended it (the statements then change nothing)."""

    id: UUID | None = None
    last_seen_at: datetime | None = None
    added_page_views: int = 0
    exit_path: str | None = None
    converted: bool = False
    ended_at: datetime | None = None
    new_exit: bool = False


@dataclass(slots=True, kw_only=True)
class LateMeasureRow:
    """Measures of a page view stored by an earlier request, for
    ``traffic_logs/apply_late_measures`` (placeholders ``<field>``)."""

    page_view_client_id: str | None
    session_id: UUID
    path: str
    fcp_ms: int | None = None
    lcp_ms: int | None = None
    inp_ms: int | None = None
    cls_score: float | None = None
    ttfb_ms: int | None = None
    engaged_time_ms: int | None = None
    scroll_depth_percent: int | None = None


def ingest_beacons(
    conn: psycopg.Connection,
    events: list[BeaconEvent],
    request: BeaconRequest,
    salts: DailySalts,
    *,
    written_at: datetime,
) -> EventsAccepted:
    """Store a request's events; call inside a transaction.

    Bots and crawlers are counted, not stored. Returns how many events were stored,
    were duplicates of stored ones, and were ignored. ``written_at`` is the clock now,
    which tells the days changed that are old enough to be marked dirty.
    """
    day = request.received_at.date()
    changed = dirty_days.Changed({day})
    if classify.is_bot(request.client.user_agent):
        bots = Counter(e.propertyId for e in events)
        accounting.add_many(
            conn, day=day, kind=Kind.EVENT, counts={(p, Outcome.BOT): n for p, n in bots.items()}
        )
        dirty_days.mark(conn, changed, written_at=written_at)
        return EventsAccepted(accepted=0, duplicates=0, ignored=len(events))

    salt = salts.salt(conn, day) if any(e.visitorId is None for e in events) else b""
    groups: dict[tuple[str, str], list[BeaconEvent]] = defaultdict(list)
    for event in events:
        key = visitor_key(event.visitorId, salt=salt, property_id=event.propertyId, client=request.client)
        groups[(event.propertyId, key)].append(event)

    counts: Counter[tuple[str, Outcome]] = Counter()
    # A fixed order of visitor locks, so two requests can never wait on each other in a
    # cycle. The counters are the backend's own rows (funnel.capture.accounting): no lock to order.
    for (property_id, key), group in sorted(groups.items()):
        added, repeated = _ingest_visitor(conn, property_id, key, group, request, changed)
        counts[(property_id, Outcome.ACCEPTED)] += added
        counts[(property_id, Outcome.DUPLICATE)] += repeated
    accounting.add_many(conn, day=day, kind=Kind.EVENT, counts=counts)
    dirty_days.mark(conn, changed, written_at=written_at)
    return EventsAccepted(
        accepted=sum(n for (_, outcome), n in counts.items() if outcome is Outcome.ACCEPTED),
        duplicates=sum(n for (_, outcome), n in counts.items() if outcome is Outcome.DUPLICATE),
        ignored=0,
    )


def _ingest_visitor(
    conn: psycopg.Connection,
    property_id: str,
    key: str,
    events: list[BeaconEvent],
    request: BeaconRequest,
    changed: dirty_days.Changed,
) -> tuple[int, int]:
    timed = sessions.in_time_order(
        (sessions.event_time(event.occurredAt, request.received_at), event) for event in events
    )
    first_seen = sessions.first_seen(timed[0][0], request.received_at, cookieless=is_cookieless(key))
    # A first visit moved earlier makes the visitor returning on the day it was first seen.
    changed.add_from(dirty_days.utc_day(first_seen))
    visitor = record_visitor(
        conn, property_id=property_id, key=key, first_seen=first_seen, last_seen=timed[-1][0]
    )

    state = fetch_one(
        conn,
        VisitState,
        query("sessions/find_visit_state"),
        {
            "client_ids": [event.eventId for _, event in timed],
            "property_id": property_id,
            "visitor_id": visitor.id,
        },
    )
    assert state is not None
    fresh = sessions.unseen(timed, attrgetter("eventId"), state.known_client_ids)
    if not fresh:
        return 0, len(events)

    batch = _Batch(property_id, visitor.id, request, state.latest_session(), changed)
    for at, event in fresh:
        batch.add(at, event)
    stored = batch.write(conn)
    return stored, len(events) - stored


class _Batch:
    """One visitor's new events: sessionised in memory (``funnel.capture.sessions``), then
    written set-wise."""

    def __init__(
        self,
        property_id: str,
        visitor_id: UUID,
        request: BeaconRequest,
        latest: Session | None,
        changed: dirty_days.Changed,
    ) -> None:
        self.property_id = property_id
        self.visitor_id = visitor_id
        self.request = request
        self.changed = changed
        self.sessions = VisitorSessions(latest)
        self.events: list[EventRow] = []
        self.late_measures: list[LateMeasureRow] = []

    def _attribute(self, event: BeaconEvent, params: Mapping[str, str]) -> classify.Attribution:
        return classify.attribute(
            path_params=params,
            explicit_utm={f"utm_{name}": value for name, value in event.utm} if event.utm else {},
            explicit_click_ids=event.clickIds or (),
            referrer=event.referrer,
            site_hosts=self.request.site_hosts,
        )

    def add(self, at: datetime, event: BeaconEvent) -> None:
        path, params = _split_path(event.path)
        session = self.sessions.session_at(at, lambda: self._attribute(event, params), path)
        self.changed.add(dirty_days.utc_day(at))
        kept = _properties(event)
        self.events.append(
            EventRow(
                session.id,
                event.type,
                event.name,
                event.eventId,
                path,
                # Cut again: the placeholder is longer than the shortest addresses.
                event.title and redact_emails(event.title)[:MAX_TITLE_LENGTH],
                at,
                json.dumps(kept) if kept else None,
            )
        )
        if event.type == "page_view":
            self.sessions.page_view(session, event.eventId, at, path)
        elif event.type in ("web_vitals", "engagement"):
            measures = _measures(event)
            if not self.sessions.measure(session, event.pageViewId, path, measures):
                # The page view was stored by an earlier request.
                self.late_measures.append(
                    LateMeasureRow(
                        page_view_client_id=event.pageViewId, session_id=session.id, path=path, **measures
                    )
                )
        elif event.type == "form_submit":
            self.sessions.convert(session)

    def write(self, conn: psycopg.Connection) -> int:
        """Write the batch; returns how many events were stored."""
        self.sessions.finish()
        params: dict[str, Any] = {
            "property_id": self.property_id,
            "visitor_id": self.visitor_id,
            "received_at": self.request.received_at,
            "device_type": self.request.device_type,
            "country": self.request.country,
            **parameters(_continued(self.sessions.changed_stored), "continued_"),
            **column_arrays(SessionRow, [_session_row(s) for s in self.sessions.new_sessions], "session_"),
            **column_arrays(EventRow, self.events, "event_"),
            **column_arrays(TrafficLogRow, [_log_row(log) for log in self.sessions.page_views], "log_"),
        }
        stored: int = fetch_value(conn, query("events/store_batch"), params)
        continued = self.sessions.stored
        if continued is not None and (continued.logs or continued.converted):
            # Its stored exit page view lost the flag, or its entrance converted.
            self.changed.add(
                *dirty_days.days_between(
                    dirty_days.utc_day(continued.started_at), dirty_days.utc_day(continued.last_seen_at)
                )
            )
        if self.late_measures:
            measured = fetch_column(
                conn,
                query("traffic_logs/apply_late_measures"),
                {"property_id": self.property_id, **column_arrays(LateMeasureRow, self.late_measures)},
            )
            self.changed.add(*measured)
        return stored


def _continued(session: Session | None) -> ContinuedSession:
    """The stored session's changes: none unless the batch joined or ended it."""
    if session is None:
        return ContinuedSession()
    # A session that was only ended keeps its last activity, counts and exit: nothing
    # joined it, so these are its stored values or nothing.
    return ContinuedSession(
        id=session.id,
        last_seen_at=session.last_seen_at,
        added_page_views=session.added_page_views,
        exit_path=session.exit_path,
        converted=session.converted,
        ended_at=session.ended_at,
        new_exit=bool(session.logs),
    )


def _session_row(session: Session) -> SessionRow:
    a = session.attribution
    return SessionRow(
        session.id,
        session.started_at,
        session.last_seen_at,
        session.ended_at,
        session.landing_path,
        session.exit_path,
        a.traffic_source,
        a.referrer_host,
        a.utm_source,
        a.utm_medium,
        a.utm_campaign,
        a.utm_term,
        a.utm_content,
        a.click_id_type,
        session.added_page_views,
        session.converted,
    )


def _log_row(log: PageView) -> TrafficLogRow:
    # A page view carries its session's attribution (a stored session's, as read).
    a = log.session.attribution
    return TrafficLogRow(
        client_id=log.client_id,
        session_id=log.session.id,
        occurred_at=log.occurred_at,
        path=log.path,
        referrer_host=a.referrer_host,
        traffic_source=a.traffic_source,
        utm_source=a.utm_source,
        utm_medium=a.utm_medium,
        utm_campaign=a.utm_campaign,
        utm_term=a.utm_term,
        utm_content=a.utm_content,
        click_id_type=a.click_id_type,
        is_entrance=log.is_entrance,
        is_exit=log.is_exit,
        is_conversion=log.is_conversion,
        **log.measures,
    )


def _measures(event: BeaconEvent) -> dict[str, Any]:
    """The measures an event reports, by their column names (what it does not report is
    left out)."""
    found: dict[str, Any] = {}
    if event.vitals is not None:
        vitals = event.vitals
        found.update(
            fcp_ms=vitals.fcp, lcp_ms=vitals.lcp, inp_ms=vitals.inp, cls_score=vitals.cls, ttfb_ms=vitals.ttfb
        )
    if event.engagement is not None:
        found.update(
            engaged_time_ms=event.engagement.engagedTimeMs,
            scroll_depth_percent=event.engagement.scrollDepthPercent,
        )
    return {column: value for column, value in found.items() if value is not None}


def _properties(event: BeaconEvent) -> dict[str, Any]:
    """What is kept of an event beyond its columns (email addresses in custom text
    replaced, as in its title and path)."""
    kept: dict[str, Any] = {}
    if event.formId is not None:
        kept["formId"] = event.formId
    if event.pageViewId is not None:
        kept["pageViewId"] = event.pageViewId
    if event.vitals is not None:
        kept["vitals"] = event.vitals.model_dump(exclude_none=True)
    if event.engagement is not None:
        kept["engagement"] = event.engagement.model_dump(exclude_none=True)
    if event.properties:
        kept["properties"] = {
            name: redact_emails(value) if isinstance(value, str) else value
            for name, value in event.properties.items()
        }
    return kept


@functools.lru_cache(maxsize=PATH_CACHE_SIZE)
def _split_path(raw: str) -> tuple[str, Mapping[str, str]]:
    path, params = classify.split_path(raw)
    return path, MappingProxyType(params)


def site_hosts(allowed_origins: Collection[str], origin: str | None) -> frozenset[str]:
    """The site's own hosts (referrals from them are self-referrals)."""
    hosts = {classify.referrer_host(candidate) for candidate in (*allowed_origins, origin or "")}
    return frozenset(host for host in hosts if host)
