"""Ingesting page and form beacons: identify the visitor, sessionise, store each event
once, keep one traffic-log row per page view with its vitals and engagement, and mark
entrances, exits and conversions.

A request is handled in one transaction. Each visitor's row is locked first (the upsert
does it), so two requests of one visitor are sessionised one after the other, and the
duplicate check under that lock is race-free; the unique key on (property, eventId)
backs it up. Sessions are computed in memory for the batch and written set-wise.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, LiteralString
from uuid import UUID, uuid4

import psycopg
from aws_lambda_powertools import Logger

from funnel import accounting, classify
from funnel.accounting import Kind, Outcome
from funnel.identity import Client, DailySalts, visitor_key
from funnel.schemas.capture import BeaconEvent, EventsAccepted
from funnel.sql import query

logger = Logger(child=True)

SESSION_TIMEOUT = timedelta(minutes=30)
# A client clock further ahead than this, or a beacon older than this, is not believed:
# such an event is dated when it was received.
MAX_CLIENT_AHEAD = timedelta(minutes=5)
MAX_CLIENT_DELAY = timedelta(hours=24)


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


@dataclass
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
    logs: list[dict[str, Any]] = field(default_factory=list)


def occurred_at(event: BeaconEvent, received_at: datetime) -> datetime:
    """The event's time: the client's, unless it is implausible."""
    stamp = event.occurredAt
    if stamp is None or not received_at - MAX_CLIENT_DELAY <= stamp <= received_at + MAX_CLIENT_AHEAD:
        return received_at
    return stamp


def ingest_beacons(
    conn: psycopg.Connection, events: list[BeaconEvent], request: BeaconRequest, salts: DailySalts
) -> EventsAccepted:
    """Store a request's events; call inside a transaction.

    Bots and crawlers are counted, not stored. Returns how many events were stored,
    were duplicates of stored ones, and were ignored.
    """
    day = request.received_at.date()
    if classify.is_bot(request.client.user_agent):
        for property_id, count in Counter(e.propertyId for e in events).items():
            accounting.add(
                conn, property_id=property_id, day=day, kind=Kind.EVENT, outcome=Outcome.BOT, count=count
            )
        return EventsAccepted(accepted=0, duplicates=0, ignored=len(events))

    salt = salts.salt(conn, day) if any(e.visitorId is None for e in events) else b""
    groups: dict[tuple[str, str], list[BeaconEvent]] = defaultdict(list)
    for event in events:
        key = visitor_key(event.visitorId, salt=salt, property_id=event.propertyId, client=request.client)
        groups[(event.propertyId, key)].append(event)

    stored: Counter[str] = Counter()
    duplicates: Counter[str] = Counter()
    # A fixed order of visitor locks, so two requests can never wait on each other.
    for (property_id, key), group in sorted(groups.items()):
        added, repeated = _ingest_visitor(conn, property_id, key, group, request)
        stored[property_id] += added
        duplicates[property_id] += repeated
    for property_id in sorted(set(stored) | set(duplicates)):
        for outcome, counts in ((Outcome.ACCEPTED, stored), (Outcome.DUPLICATE, duplicates)):
            accounting.add(
                conn,
                property_id=property_id,
                day=day,
                kind=Kind.EVENT,
                outcome=outcome,
                count=counts[property_id],
            )
    return EventsAccepted(accepted=sum(stored.values()), duplicates=sum(duplicates.values()), ignored=0)


def _ingest_visitor(
    conn: psycopg.Connection, property_id: str, key: str, events: list[BeaconEvent], request: BeaconRequest
) -> tuple[int, int]:
    timed = sorted(
        ((occurred_at(event, request.received_at), index, event) for index, event in enumerate(events)),
        key=lambda item: (item[0], item[1]),
    )
    visitor = conn.execute(
        query("visitors/upsert_visitor"),
        {
            "property_id": property_id,
            "visitor_key": key,
            "first_seen": timed[0][0],
            "last_seen": timed[-1][0],
        },
    ).fetchone()
    assert visitor is not None
    visitor_id: UUID = visitor[0]

    client_ids = [event.eventId for _, _, event in timed]
    known = {
        client_id
        for client_id, stored_property in conn.execute(
            query("events/find_stored_client_ids"), {"client_ids": client_ids}
        )
        if stored_property == property_id
    }
    fresh: list[tuple[datetime, BeaconEvent]] = []
    for at, _, event in timed:
        if event.eventId not in known:
            known.add(event.eventId)
            fresh.append((at, event))
    if not fresh:
        return 0, len(events)

    latest = conn.execute(query("sessions/find_latest_session"), {"visitor_id": visitor_id}).fetchone()
    batch = _Batch(property_id, visitor_id, request, latest)
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
        latest: tuple[UUID, datetime, datetime, int] | None,
    ) -> None:
        self.property_id = property_id
        self.visitor_id = visitor_id
        self.request = request
        self.device_type = request.device_type
        self.country = request.country
        self.sessions: list[_Session] = []
        self.current: _Session | None = None
        self.closed_existing: tuple[UUID, datetime] | None = None
        if latest is not None:
            session_id, started_at, last_seen_at, page_views = latest
            self.current = _Session(session_id, started_at, last_seen_at, page_views, is_new=False)
            self.sessions.append(self.current)
        self.events: list[dict[str, Any]] = []
        self.page_views: dict[str, dict[str, Any]] = {}
        self.late_measures: list[dict[str, Any]] = []

    def _session_for(self, at: datetime, event: BeaconEvent) -> _Session:
        current = self.current
        # Sessions only move forward: a late event within the timeout of the current
        # session's last activity (or before it) joins it.
        if current is not None and at - current.last_seen_at <= SESSION_TIMEOUT:
            current.last_seen_at = max(current.last_seen_at, at)
            current.touched = True
            return current
        if current is not None:
            current.ended_at = current.last_seen_at
            if not current.is_new:
                self.closed_existing = (current.id, current.last_seen_at)
        path, params = classify.split_path(event.path)
        attribution = classify.attribute(
            path_params=params,
            explicit_utm=event.utm.model_dump() if event.utm else {},
            explicit_click_ids=event.clickIds or (),
            referrer=event.referrer,
            site_hosts=self.request.site_hosts,
        )
        session = _Session(uuid4(), at, at, 0, is_new=True, attribution=attribution, landing_path=path)
        self.sessions.append(session)
        self.current = session
        return session

    def add(self, at: datetime, event: BeaconEvent) -> None:
        session = self._session_for(at, event)
        path, _ = classify.split_path(event.path)
        event_id = uuid4()
        self.events.append(
            {
                "id": event_id,
                "property_id": self.property_id,
                "visitor_id": self.visitor_id,
                "session_id": session.id,
                "event_type": event.type,
                "event_name": event.name,
                "client_event_id": event.eventId,
                "path": path[:2048],
                "title": event.title,
                "occurred_at": at,
                "received_at": self.request.received_at,
                "properties": json.dumps(kept) if (kept := _properties(event)) else None,
            }
        )
        if event.type == "page_view":
            self._page_view(session, event_id, at, event, path)
        elif event.type in ("web_vitals", "engagement"):
            self._measure(session, event, path)
        elif event.type == "form_submit":
            session.converted = True

    def _page_view(
        self, session: _Session, event_id: UUID, at: datetime, event: BeaconEvent, path: str
    ) -> None:
        attribution = session.attribution
        entrance = session.page_views + session.added_page_views == 0
        row = {
            "id": uuid4(),
            "event_id": event_id,
            "property_id": self.property_id,
            "visitor_id": self.visitor_id,
            "session_id": session.id,
            "occurred_at": at,
            "path": path[:2048],
            "referrer_host": attribution.referrer_host if attribution else None,
            "traffic_source": attribution.traffic_source if attribution else "direct",
            "utm_source": attribution.utm_source if attribution else None,
            "utm_medium": attribution.utm_medium if attribution else None,
            "utm_campaign": attribution.utm_campaign if attribution else None,
            "utm_term": attribution.utm_term if attribution else None,
            "utm_content": attribution.utm_content if attribution else None,
            "click_id_type": attribution.click_id_type if attribution else None,
            "device_type": self.device_type,
            "country": self.country,
            "fcp_ms": None,
            "lcp_ms": None,
            "inp_ms": None,
            "cls_score": None,
            "ttfb_ms": None,
            "engaged_time_ms": None,
            "scroll_depth_percent": None,
            "is_entrance": entrance,
            "is_exit": False,
            "is_conversion": False,
        }
        session.added_page_views += 1
        session.exit_path = path[:2048]
        session.logs.append(row)
        self.page_views[event.eventId] = row

    def _measure(self, session: _Session, event: BeaconEvent, path: str) -> None:
        measures = _measures(event)
        target = self.page_views.get(event.pageViewId) if event.pageViewId else None
        if target is None and event.pageViewId is None:
            target = next((row for row in reversed(session.logs) if row["path"] == path[:2048]), None)
        if target is not None:
            for column, value in measures.items():
                target[column] = _merge_measure(column, target[column], value)
            return
        # The page view was stored by an earlier request.
        self.late_measures.append(
            {
                **{column: measures.get(column) for column in _MEASURE_COLUMNS},
                "property_id": self.property_id,
                "page_view_client_id": event.pageViewId,
                "session_id": session.id,
                "path": path[:2048],
            }
        )

    def write(self, conn: psycopg.Connection) -> int:
        """Write the batch; returns how many events were stored."""
        if self.closed_existing is not None:
            session_id, ended_at = self.closed_existing
            conn.execute(query("sessions/end_session"), {"id": session_id, "ended_at": ended_at})
        new_sessions = [s for s in self.sessions if s.is_new]
        if new_sessions:
            _executemany(conn, query("sessions/insert_session"), (self._session_row(s) for s in new_sessions))
        for session in self.sessions:
            if session.logs:
                session.logs[-1]["is_exit"] = True
            if session.converted:
                for row in session.logs:
                    if row["is_entrance"]:
                        row["is_conversion"] = True
            if not session.is_new and session.touched:
                conn.execute(
                    query("sessions/extend_session"),
                    {
                        "id": session.id,
                        "last_seen_at": session.last_seen_at,
                        "added_page_views": session.added_page_views,
                        "exit_path": session.exit_path,
                        "converted": session.converted,
                    },
                )
                if session.logs:
                    conn.execute(query("traffic_logs/clear_exit"), {"session_id": session.id})
                if session.converted and session.page_views:
                    conn.execute(query("traffic_logs/mark_entrance_converted"), {"session_ids": [session.id]})

        inserted = _insert_events(conn, self.events)
        logs = [row for s in self.sessions for row in s.logs if row["event_id"] in inserted]
        if logs:
            conn.execute(query("traffic_logs/insert_logs"), _columns(logs))
        for measure in self.late_measures:
            _apply_late_measure(conn, measure)
        return len(inserted)

    def _session_row(self, session: _Session) -> dict[str, Any]:
        attribution = session.attribution
        assert attribution is not None
        return {
            "id": session.id,
            "property_id": self.property_id,
            "visitor_id": self.visitor_id,
            "started_at": session.started_at,
            "last_seen_at": session.last_seen_at,
            "ended_at": session.ended_at,
            "landing_path": session.landing_path,
            "exit_path": session.exit_path,
            "traffic_source": attribution.traffic_source,
            "referrer_host": attribution.referrer_host,
            "utm_source": attribution.utm_source,
            "utm_medium": attribution.utm_medium,
            "utm_campaign": attribution.utm_campaign,
            "utm_term": attribution.utm_term,
            "utm_content": attribution.utm_content,
            "click_id_type": attribution.click_id_type,
            "device_type": self.device_type,
            "country": self.country,
            "page_views": session.added_page_views,
            "is_conversion": session.converted,
        }


_MEASURE_COLUMNS = (
    "fcp_ms",
    "lcp_ms",
    "inp_ms",
    "cls_score",
    "ttfb_ms",
    "engaged_time_ms",
    "scroll_depth_percent",
)
# Engagement grows while the page is open, so the largest report wins; a vital's latest
# report is its final value.
_CUMULATIVE = frozenset({"engaged_time_ms", "scroll_depth_percent"})


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
    """What is kept of an event beyond its columns."""
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
        kept["properties"] = event.properties
    return kept


def _apply_late_measure(conn: psycopg.Connection, measure: dict[str, Any]) -> None:
    if measure["page_view_client_id"] is not None:
        target = conn.execute(query("traffic_logs/find_log_by_page_view"), measure).fetchone()
    else:
        target = conn.execute(query("traffic_logs/find_latest_log_for_path"), measure).fetchone()
    if target is not None:
        conn.execute(query("traffic_logs/apply_measures"), {**measure, "id": target[0]})


def _insert_events(conn: psycopg.Connection, rows: list[dict[str, Any]]) -> set[UUID]:
    """Insert events, returning the ids stored (a foreign visitor's use of the same eventId
    loses to the unique key and is skipped, with everything derived from it)."""
    return {row[0] for row in conn.execute(query("events/insert_events"), _columns(rows))}


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as one list per column, for the ``unnest`` inserts."""
    return {column: [row[column] for row in rows] for column in rows[0]}


def _executemany(conn: psycopg.Connection, statement: LiteralString, rows: Iterable[dict[str, Any]]) -> None:
    with conn.cursor() as cursor:
        cursor.executemany(statement, list(rows))


def site_hosts(allowed_origins: Collection[str], origin: str | None) -> frozenset[str]:
    """The site's own hosts (referrals from them are self-referrals)."""
    hosts = {classify.referrer_host(candidate) for candidate in (*allowed_origins, origin or "")}
    return frozenset(host for host in hosts if host)
