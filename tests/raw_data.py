"""Raw rows written straight with SQL, for the rollup tests: visitors, sessions, page views
(an event and its traffic-log row), form events, leads, ingest counters and tenant
events. The rollups only read these tables, so their tests need no capture path."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

_serial = itertools.count()


def visitor(db: psycopg.Connection, first_seen: datetime, *, property_id: str = "default") -> uuid.UUID:
    return db.execute(
        "INSERT INTO visitors (property_id, visitor_key, first_seen_at, last_seen_at) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        (property_id, f"v:{uuid.uuid4().hex}", first_seen, first_seen),
    ).fetchone()[0]


def session(
    db: psycopg.Connection, visitor_id: uuid.UUID, started_at: datetime, *, source: str = "direct"
) -> uuid.UUID:
    """A session of ``visitor_id`` (and its property)."""
    session_id = uuid.uuid4()
    db.execute(
        "INSERT INTO sessions (id, property_id, visitor_id, started_at, last_seen_at, traffic_source, "
        "device_type) SELECT %s, property_id, id, %s, %s, %s, 'desktop' FROM visitors WHERE id = %s",
        (session_id, started_at, started_at, source, visitor_id),
    )
    return session_id


def event(
    db: psycopg.Connection, session_id: uuid.UUID, at: datetime, event_type: str, *, path: str = "/"
) -> uuid.UUID:
    """An event of the session's visitor and property."""
    event_id = uuid.uuid4()
    db.execute(
        "INSERT INTO events (id, property_id, visitor_id, session_id, event_type, client_event_id, path, "
        "occurred_at) SELECT %s, property_id, visitor_id, id, %s, %s, %s, %s FROM sessions WHERE id = %s",
        (event_id, event_type, event_id.hex, path, at, session_id),
    )
    return event_id


def page_view(
    db: psycopg.Connection,
    session_id: uuid.UUID,
    at: datetime,
    *,
    path: str = "/",
    source: str = "direct",
    ttfb_ms: int | None = None,
    entrance: bool = False,
    exit: bool = False,
    conversion: bool = False,
    device: str = "desktop",
    country: str | None = None,
) -> uuid.UUID:
    """A page_view event and its traffic-log row."""
    event_id = event(db, session_id, at, "page_view", path=path)
    db.execute(
        "INSERT INTO web_traffic_logs (id, event_id, property_id, visitor_id, session_id, occurred_at, path, "
        "traffic_source, device_type, country, ttfb_ms, is_entrance, is_exit, is_conversion) "
        "SELECT %s, id, property_id, visitor_id, session_id, occurred_at, path, %s, %s, %s, "
        "%s, %s, %s, %s FROM events WHERE id = %s",
        (uuid.uuid4(), source, device, country, ttfb_ms, entrance, exit, conversion, event_id),
    )
    return event_id


def lead(
    db: psycopg.Connection,
    captured_at: datetime,
    *,
    property_id: str = "default",
    visitor_first_seen_at: datetime | None = None,
) -> uuid.UUID:
    return db.execute(
        "INSERT INTO leads (email_normalized, property_id, visitor_first_seen_at, first_captured_at, "
        "last_captured_at) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (f"lead{next(_serial)}@example.org", property_id, visitor_first_seen_at, captured_at, captured_at),
    ).fetchone()[0]


def counter(
    db: psycopg.Connection,
    day: date,
    kind: str,
    outcome: str,
    count: int,
    *,
    property_id: str = "default",
    code: str = "",
) -> None:
    db.execute(
        "INSERT INTO ingest_counters (property_id, day, kind, outcome, code, count) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (property_id, day, kind, outcome, code, count),
    )


def tenant_event(
    db: psycopg.Connection,
    tenant_id: str,
    event_type: str,
    at: datetime,
    payload: dict[str, Any] | None = None,
) -> uuid.UUID:
    event_id = uuid.uuid4()
    db.execute(
        "INSERT INTO tenant_events (id, tenant_id, event_type, subject_id, payload, occurred_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (event_id, tenant_id, event_type, event_id.hex, Jsonb(payload) if payload is not None else None, at),
    )
    return event_id


def scan_completed(
    db: psycopg.Connection,
    tenant_id: str,
    at: datetime,
    *,
    media: int = 10,
    identities: int = 4,
    duration_ms: int = 1000,
    suggestions: int | None = None,
) -> uuid.UUID:
    payload: dict[str, Any] = {
        "mediaCount": media,
        "identitiesDetected": identities,
        "durationMs": duration_ms,
    }
    if suggestions is not None:
        payload["suggestionsGenerated"] = suggestions
    return tenant_event(db, tenant_id, "scan.completed", at, payload)


# Each rollup table and the key of its rows besides the day.
ROLLUP_TABLES = {
    "daily_metric_rollups": "property_id",
    "daily_ingest_rollups": "property_id",
    "service_usage_rollups": "tenant_id",
}


def rollup_rows(db: psycopg.Connection, *, keep_ids: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Every rollup row, in a stable order, without the times that change on every
    write (generated_at, updated_at; with ``keep_ids`` false, created_at and id too)."""
    dropped = {"generated_at", "updated_at"} | (set() if keep_ids else {"id", "created_at"})
    found: dict[str, list[dict[str, Any]]] = {}
    for table, key in ROLLUP_TABLES.items():
        cursor = db.cursor(row_factory=dict_row)
        rows = cursor.execute(f"SELECT * FROM {table} ORDER BY day, {key}").fetchall()
        found[table] = [{k: v for k, v in row.items() if k not in dropped} for row in rows]
    return found
