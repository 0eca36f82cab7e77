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
(``funnel.readmodel.dirty_days``).
"""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from uuid import UUID, uuid4

import psycopg
from aws_lambda_powertools import Logger

from funnel.capture import accounting, classify
from funnel.capture.accounting import Kind, Outcome
from funnel.capture.identity import Client, DailySalts, is_cookieless, visitor_key
from funnel.capture.schemas import MAX_TITLE_LENGTH, BeaconEvent, EventsAccepted
from funnel.platform.emails import redact_emails
from funnel.platform.sql import query
from funnel.readmodel import dirty_days

logger = Logger(child=True)

SESSION_TIMEOUT = timedelta(minutes=30)
# A client clock further ahead than this, or a beacon older than this, is not believed:
# such an event is dated when it was received.
MAX_CLIENT_AHEAD = timedelta(minutes=5)
MAX_CLIENT_DELAY = timedelta(hours=24)
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


@dataclass(slots=True)
class _Session:
    id: UUID
    started_at: datetime
    last_seen_at: datetime
    page_views: int
    is_new: bool
    attribution: classify.Attribution | None = None
    landing_path: str | None = None
    exit_path: str | None = None
    ended_at: datetime | None = None
    converted: bool = False
    touched: bool = False
    added_page_views: int = 0
    logs: list[_PageView] = field(default_factory=list)


@dataclass(slots=True)
class _PageView:
    """A page view's traffic-log row, completed in memory before it is written."""

    client_id: str
    session: _Session
    occurred_at: datetime
    path: str
    is_entrance: bool
    measures: dict[str, Any] = field(default_factory=dict)
    is_exit: bool = False
    is_conversion: bool = False


def occurred_at(event: BeaconEvent, received_at: datetime) -> datetime:
    """The event's time: the client's, unless it is implausible."""
    stamp = event.occurredAt
    if stamp is None or not received_at - MAX_CLIENT_DELAY <= stamp <= received_at + MAX_CLIENT_AHEAD:
        return received_at
    return stamp


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
    timed = sorted(
        (occurred_at(event, request.received_at), index, event) for index, event in enumerate(events)
    )
    first_seen = timed[0][0]
    if is_cookieless(key):
        # Its key is made with the salt of the day the request arrives: the visitor did not
        # exist before that day, even if an event in the batch did (a beacon sent just
        # before midnight), so it is never counted as returning.
        first_seen = max(first_seen, datetime.combine(request.received_at.date(), time(), UTC))
    # A first visit moved earlier makes the visitor returning on the day it was first seen.
    changed.add_from(dirty_days.utc_day(first_seen))
    visitor = conn.execute(
        query("visitors/upsert_visitor"),
        {
            "property_id": property_id,
            "visitor_key": key,
            "first_seen": first_seen,
            "last_seen": timed[-1][0],
        },
    ).fetchone()
    assert visitor is not None
    visitor_id: UUID = visitor[0]

    state = conn.execute(
        query("sessions/find_visit_state"),
        {
            "client_ids": [event.eventId for _, _, event in timed],
            "property_id": property_id,
            "visitor_id": visitor_id,
        },
    ).fetchone()
    assert state is not None
    known = set(state[0])
    fresh: list[tuple[datetime, BeaconEvent]] = []
    for at, _, event in timed:
        if event.eventId not in known:
            known.add(event.eventId)
            fresh.append((at, event))
    if not fresh:
        return 0, len(events)

    latest = (
        None
        if state[1] is None
        else _Session(
            state[1],
            state[2],
            state[3],
            state[4],
            is_new=False,
            attribution=classify.Attribution(*state[5:13]),
        )
    )
    batch = _Batch(property_id, visitor_id, request, latest, changed)
    for at, event in fresh:
        batch.add(at, event)
    stored = batch.write(conn)
    return stored, len(events) - stored


class _Batch:
    """One visitor's new events: sessionised in memory, then written set-wise."""

    def __init__(
        self,
        property_id: str,
        visitor_id: UUID,
        request: BeaconRequest,
        latest: _Session | None,
        changed: dirty_days.Changed,
    ) -> None:
        self.property_id = property_id
        self.visitor_id = visitor_id
        self.request = request
        self.changed = changed
        self.sessions: list[_Session] = []
        self.current = latest
        # The stored session this batch continues or ends (at most one: sessions only
        # move forward).
        self.continued = latest
        if latest is not None:
            self.sessions.append(latest)
        # One tuple per event, in the column order of events/store_batch.
        self.events: list[tuple[Any, ...]] = []
        self.page_views: dict[str, _PageView] = {}
        self.late_measures: list[tuple[Any, ...]] = []

    def _session_for(
        self, at: datetime, event: BeaconEvent, params: Mapping[str, str], path: str
    ) -> _Session:
        current = self.current
        # Sessions only move forward: a late event within the timeout of the current
        # session's last activity (or before it) joins it.
        if current is not None and at - current.last_seen_at <= SESSION_TIMEOUT:
            if at > current.last_seen_at:
                current.last_seen_at = at
            current.touched = True
            return current
        if current is not None:
            current.ended_at = current.last_seen_at
        attribution = classify.attribute(
            path_params=params,
            explicit_utm={f"utm_{name}": value for name, value in event.utm} if event.utm else {},
            explicit_click_ids=event.clickIds or (),
            referrer=event.referrer,
            site_hosts=self.request.site_hosts,
        )
        session = _Session(uuid4(), at, at, 0, is_new=True, attribution=attribution, landing_path=path)
        self.sessions.append(session)
        self.current = session
        return session

    def add(self, at: datetime, event: BeaconEvent) -> None:
        path, params = _split_path(event.path)
        session = self._session_for(at, event, params, path)
        self.changed.add(dirty_days.utc_day(at))
        kept = _properties(event)
        self.events.append(
            (
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
            page_view = _PageView(
                event.eventId,
                session,
                at,
                path,
                is_entrance=session.page_views + session.added_page_views == 0,
            )
            session.added_page_views += 1
            session.exit_path = path
            session.logs.append(page_view)
            self.page_views[event.eventId] = page_view
        elif event.type in ("web_vitals", "engagement"):
            self._measure(session, event, path)
        elif event.type == "form_submit":
            session.converted = True

    def _measure(self, session: _Session, event: BeaconEvent, path: str) -> None:
        measures = _measures(event)
        target = self.page_views.get(event.pageViewId) if event.pageViewId else None
        if target is None and event.pageViewId is None:
            target = next((log for log in reversed(session.logs) if log.path == path), None)
        if target is not None:
            for column, value in measures.items():
                target.measures[column] = _merge_measure(column, target.measures.get(column), value)
            return
        # The page view was stored by an earlier request.
        self.late_measures.append(
            (event.pageViewId, session.id, path, *(measures.get(column) for column in _MEASURE_COLUMNS))
        )

    def write(self, conn: psycopg.Connection) -> int:
        """Write the batch; returns how many events were stored."""
        for session in self.sessions:
            if session.logs:
                session.logs[-1].is_exit = True
            if session.converted:
                for log in session.logs:
                    if log.is_entrance:
                        log.is_conversion = True
        params: dict[str, Any] = {
            "property_id": self.property_id,
            "visitor_id": self.visitor_id,
            "received_at": self.request.received_at,
            "device_type": self.request.device_type,
            "country": self.request.country,
            **self._continued_params(),
            **_columns(_SESSION_COLUMNS, [_session_row(s) for s in self.sessions if s.is_new]),
            **_columns(_EVENT_COLUMNS, self.events),
            **_columns(_LOG_COLUMNS, [_log_row(log) for s in self.sessions for log in s.logs]),
        }
        row = conn.execute(query("events/store_batch"), params).fetchone()
        assert row is not None
        stored: int = row[0]
        continued = self.continued
        if continued is not None and (continued.logs or continued.converted):
            # Its stored exit page view lost the flag, or its entrance converted.
            self.changed.add(
                *dirty_days.days_between(
                    dirty_days.utc_day(continued.started_at), dirty_days.utc_day(continued.last_seen_at)
                )
            )
        if self.late_measures:
            measured = conn.execute(
                query("traffic_logs/apply_late_measures"),
                {"property_id": self.property_id, **_columns(_LATE_MEASURE_COLUMNS, self.late_measures)},
            ).fetchall()
            self.changed.add(*(day for (day,) in measured))
        return stored

    def _continued_params(self) -> dict[str, Any]:
        """The stored session's changes: none unless the batch joined or ended it."""
        session = self.continued
        if session is None or not (session.touched or session.ended_at is not None):
            return {
                "continued_id": None,
                "continued_last_seen_at": None,
                "continued_added_page_views": 0,
                "continued_exit_path": None,
                "continued_converted": False,
                "continued_ended_at": None,
                "continued_new_exit": False,
            }
        # A session that was only ended keeps its last activity, counts and exit: nothing
        # joined it, so these are its stored values or nothing.
        return {
            "continued_id": session.id,
            "continued_last_seen_at": session.last_seen_at,
            "continued_added_page_views": session.added_page_views,
            "continued_exit_path": session.exit_path,
            "continued_converted": session.converted,
            "continued_ended_at": session.ended_at,
            "continued_new_exit": bool(session.logs),
        }


_SESSION_COLUMNS = (
    "session_id",
    "session_started_at",
    "session_last_seen_at",
    "session_ended_at",
    "session_landing_path",
    "session_exit_path",
    "session_traffic_source",
    "session_referrer_host",
    "session_utm_source",
    "session_utm_medium",
    "session_utm_campaign",
    "session_utm_term",
    "session_utm_content",
    "session_click_id_type",
    "session_page_views",
    "session_is_conversion",
)
_EVENT_COLUMNS = (
    "event_session_id",
    "event_type",
    "event_name",
    "event_client_id",
    "event_path",
    "event_title",
    "event_occurred_at",
    "event_properties",
)
_MEASURE_COLUMNS = (
    "fcp_ms",
    "lcp_ms",
    "inp_ms",
    "cls_score",
    "ttfb_ms",
    "engaged_time_ms",
    "scroll_depth_percent",
)
_LOG_COLUMNS = (
    "log_client_id",
    "log_session_id",
    "log_occurred_at",
    "log_path",
    "log_referrer_host",
    "log_traffic_source",
    "log_utm_source",
    "log_utm_medium",
    "log_utm_campaign",
    "log_utm_term",
    "log_utm_content",
    "log_click_id_type",
    *(f"log_{column}" for column in _MEASURE_COLUMNS),
    "log_is_entrance",
    "log_is_exit",
    "log_is_conversion",
)
_LATE_MEASURE_COLUMNS = ("page_view_client_id", "session_id", "path", *_MEASURE_COLUMNS)
# Engagement grows while the page is open, so the largest report wins; a vital's latest
# report is its final value.
_CUMULATIVE = frozenset({"engaged_time_ms", "scroll_depth_percent"})


def _session_row(session: _Session) -> tuple[Any, ...]:
    a = session.attribution
    assert a is not None
    return (
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


def _log_row(log: _PageView) -> tuple[Any, ...]:
    # A page view carries its session's attribution (a stored session's, as read).
    a = log.session.attribution
    assert a is not None
    measures = log.measures
    return (
        log.client_id,
        log.session.id,
        log.occurred_at,
        log.path,
        a.referrer_host,
        a.traffic_source,
        a.utm_source,
        a.utm_medium,
        a.utm_campaign,
        a.utm_term,
        a.utm_content,
        a.click_id_type,
        *(measures.get(column) for column in _MEASURE_COLUMNS),
        log.is_entrance,
        log.is_exit,
        log.is_conversion,
    )


def _merge_measure(column: str, old: Any, new: Any) -> Any:
    if new is None:
        return old
    if column in _CUMULATIVE and old is not None:
        return max(old, new)
    return new


def _measures(event: BeaconEvent) -> dict[str, Any]:
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


def _columns(names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    """Rows as one list per column, named for the ``unnest`` statements."""
    if not rows:
        return {name: [] for name in names}
    return {name: list(column) for name, column in zip(names, zip(*rows, strict=True), strict=True)}


def site_hosts(allowed_origins: Collection[str], origin: str | None) -> frozenset[str]:
    """The site's own hosts (referrals from them are self-referrals)."""
    hosts = {classify.referrer_host(candidate) for candidate in (*allowed_origins, origin or "")}
    return frozenset(host for host in hosts if host)
