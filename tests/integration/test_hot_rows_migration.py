"""Migration 0009 on a database holding data: counters keep their counts in per-backend
rows, and each tenant's last scan becomes the earliest scan of its latest scan day where
the raw events still tell it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import psycopg
import pytest

from funnel.platform.migrate import apply_migrations
from funnel_local.postgres import create_database

pytestmark = pytest.mark.integration


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 2, day, hour, tzinfo=UTC)


@pytest.fixture
def before_0009(database_url: str) -> Iterator[psycopg.Connection]:
    """A new database migrated through 0008, as a running stack has it before the deploy."""
    conninfo = create_database(database_url, f"funnel_0008_{uuid.uuid4().hex[:10]}")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        assert apply_migrations(conn, through=8)[-1] == "0008_webhook_index_trim"
        yield conn


def scan(conn: psycopg.Connection, tenant_id: str, moment: datetime) -> None:
    conn.execute(
        "INSERT INTO tenant_events (id, tenant_id, event_type, subject_id, occurred_at) "
        "VALUES (%s, %s, 'scan.completed', %s, %s)",
        (uuid.uuid4(), tenant_id, uuid.uuid4().hex, moment),
    )


def test_0009_keeps_every_count_and_moves_last_scans_to_their_days_earliest(before_0009):
    conn = before_0009
    # Given counters, a tenant whose latest scan day's scans are stored (08:00, 11:00 and
    # the latest, 15:00; an older day's before), and one whose raw events are gone
    conn.execute(
        "INSERT INTO ingest_counters (property_id, day, kind, outcome, code, count) VALUES "
        "('default', '2026-02-14', 'event', 'accepted', '', 120), "
        "('default', '2026-02-14', 'event', 'rejected', 'validation_failed', 3)"
    )
    for moment in (at(13, 9), at(14, 8), at(14, 11), at(14, 15)):
        scan(conn, "tenant-kept", moment)
    conn.execute(
        "INSERT INTO tenant_milestones (tenant_id, tenant_created_at, first_scan_at, last_scan_at) VALUES "
        "('tenant-kept', %s, %s, %s), ('tenant-purged', %s, %s, %s)",
        (at(12, 0), at(13, 9), at(14, 15), at(1, 0), at(2, 0), at(3, 17)),
    )

    # When 0009 is applied
    assert apply_migrations(conn, through=9) == ["0009_ingest_counters_per_backend"]

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
    # And each last scan is its day's earliest where the events tell it, as it was otherwise
    assert conn.execute(
        "SELECT tenant_id, first_scan_at, last_scan_at FROM tenant_milestones ORDER BY tenant_id"
    ).fetchall() == [("tenant-kept", at(13, 9), at(14, 8)), ("tenant-purged", at(2, 0), at(3, 17))]
