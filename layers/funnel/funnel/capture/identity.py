"""Who a visitor is, without keeping who they are.

The site's own anonymous id is used when it sends one. Otherwise the id is a hash of
the property, IP address and user agent with a random salt that changes every UTC day
and is deleted 48 hours after its day began: the same browser is one visitor within a
day and cannot be followed across days, and neither the IP nor the user agent is ever
stored (docs/privacy.md#visitor-identity).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

import psycopg

from funnel.platform.rows import fetch_one, fetch_value
from funnel.platform.sql import query


@dataclass(frozen=True)
class Client:
    """What the request tells about the browser; used, never stored."""

    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class SeenVisitor:
    """A row of ``visitors/upsert_visitor``: the visitor, and when it was first seen."""

    id: UUID
    first_seen_at: datetime


def record_visitor(
    conn: psycopg.Connection, *, property_id: str, key: str, first_seen: datetime, last_seen: datetime
) -> SeenVisitor:
    """Record a visitor seen between ``first_seen`` and ``last_seen``, locking its row
    until the transaction ends (a visitor's events are sessionised one request at a time)."""
    visitor = fetch_one(
        conn,
        SeenVisitor,
        query("visitors/upsert_visitor"),
        {"property_id": property_id, "visitor_key": key, "first_seen": first_seen, "last_seen": last_seen},
    )
    assert visitor is not None
    return visitor


class DailySalts:
    """The day's salt, made once per day by whichever container asks first and cached."""

    def __init__(self) -> None:
        self._cache: dict[date, bytes] = {}
        self._lock = threading.Lock()

    def salt(self, conn: psycopg.Connection, day: date) -> bytes:
        with self._lock:
            cached = self._cache.get(day)
        if cached is not None:
            return cached
        stored = fetch_value(
            conn, query("visitors/ensure_salt"), {"day": day, "salt": secrets.token_bytes(32)}
        )
        if stored is None:
            # Another container created the day's salt after this statement began.
            stored = fetch_value(conn, query("visitors/find_salt"), {"day": day})
        if stored is None:
            raise RuntimeError(f"no visitor salt for {day}")  # pragma: no cover - the rows above exist
        salt = bytes(stored)
        with self._lock:
            self._cache = {day: salt}
        return salt


def visitor_key(site_visitor_id: str | None, *, salt: bytes, property_id: str, client: Client) -> str:
    """``v:<site id>`` when the site keeps one, else ``c:<cookieless daily hash>``."""
    if site_visitor_id:
        return f"v:{site_visitor_id}"
    material = b"\x00".join(
        part.encode("utf-8", "surrogatepass")
        for part in (property_id, client.ip or "", client.user_agent or "")
    )
    return "c:" + hashlib.sha256(salt + material).hexdigest()[:40]


def is_cookieless(key: str) -> bool:
    """Whether a :func:`visitor_key` is a cookieless daily hash (a new visitor every day)."""
    return key.startswith("c:")
