"""Migration 0009 on a database holding data: counters keep their counts in per-backend
rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from funnel.migrate import apply_migrations
from funnel_local.postgres import create_database

pytestmark = pytest.mark.integration


@pytest.fixture
def before_0009(database_url: str) -> Iterator[psycopg.Connection]:
    """A new database migrated through 0008, as a running stack has it before the deploy."""
    conninfo = create_database(database_url, f"funnel_0008_{uuid.uuid4().hex[:10]}")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        assert apply_migrations(conn, through=8)[-1] == "0008_webhook_index_trim"
        yield conn


def test_0009_keeps_every_count(before_0009):
    conn = before_0009
    # Given counters
    conn.execute(
        "INSERT INTO ingest_counters (property_id, day, kind, outcome, code, count) VALUES "
        "('default', '2026-02-14', 'event', 'accepted', '', 120), "
        "('default', '2026-02-14', 'event', 'rejected', 'validation_failed', 3)"
    )

    # When 0009 is applied
    assert apply_migrations(conn) == ["0009_ingest_counters_per_backend"]

    # Then the counts are whole, in the rows of no backend, and more rows can join them
    assert conn.execute(
        "SELECT outcome, code, backend_pid, count FROM ingest_counters ORDER BY outcome"
    ).fetchall() == [("accepted", "", 0, 120), ("rejected", "validation_failed", 0, 3)]
    conn.execute(
        "INSERT INTO ingest_counters (property_id, day, kind, outcome, code, backend_pid, count) "
        "VALUES ('default', %s, 'event', 'accepted', '', 4101, 1)",
        (date(2026, 2, 14),),
    )
    assert conn.execute("SELECT sum(count) FROM ingest_counters WHERE outcome = 'accepted'").fetchone() == (
        121,
    )
