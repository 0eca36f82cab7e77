"""Shared fixtures: one real PostgreSQL per test session (embedded unless DATABASE_URL is
set), a fresh database on it with the migrations applied, and clean tables per test."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from funnel.platform.migrate import migrate_database
from funnel.platform.runtime import reset_runtime
from funnel_local.postgres import create_database, database

# Handler modules create their Powertools objects at import, as in Lambda, where these are
# set before any import; tests import them during collection, so set them first.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "FunnelTest")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "funnel")

# pytester: the suite's own limits are checked by running a small inner session.
pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "events"
ADMIN_KEY = "test-admin-key"
# Test-only secrets (random bytes, base64), never used outside this suite.
SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SIGNING_SECRET = "whsec_dGVzdC1zZWNvbmQtc2lnbmluZy1zZWNyZXQtMDAx"


# Per-client bounds (funnel.platform.client_limits) above what a test sends from the sample events'
# one address, for tests about something else that send many requests at one instant.
UNBOUNDED_CLIENTS = {
    "CLIENT_EVENTS_PER_MINUTE": "1000000",
    "CLIENT_EVENTS_BURST": "1000000",
    "CLIENT_LEADS_PER_MINUTE": "1000000",
    "CLIENT_LEADS_BURST": "1000000",
}


def load_event(relative: str) -> dict[str, Any]:
    """A sample event from ``events/`` (the same files ``sam local invoke -e`` uses)."""
    return json.loads((EVENTS / relative).read_text())


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated database for this session, on the embedded or given server."""
    with database(None, persistent=False) as server:
        url = create_database(server, f"funnel_test_{uuid.uuid4().hex[:12]}")
        migrate_database(url)
        yield url


def _user_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
    ).fetchall()
    return [row[0] for row in rows]


# How long emptying the tables may wait for a lock. Nothing holds one between tests unless
# an earlier test leaked a connection inside a transaction (or a time limit interrupted
# it mid-statement); without a limit the TRUNCATE would wait for it forever.
TRUNCATE_LOCK_TIMEOUT = "5s"


def _lock_holders(conn: psycopg.Connection) -> list[tuple[int, str, str, str]]:
    """Other sessions of this database holding a lock on a relation."""
    return conn.execute(
        "SELECT a.pid, a.application_name, a.state, left(a.query, 200) FROM pg_stat_activity a "
        "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() "
        "AND EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid AND l.relation IS NOT NULL AND l.granted) "
        "ORDER BY a.pid"
    ).fetchall()


def empty_tables(conn: psycopg.Connection, *, lock_timeout: str = TRUNCATE_LOCK_TIMEOUT) -> None:
    """TRUNCATE every table, or end the sessions in the way and fail with their names."""
    tables = _user_tables(conn)
    if not tables:
        return
    try:
        with conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    except psycopg.errors.LockNotAvailable:
        holders = _lock_holders(conn)
        for pid, *_ in holders:
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        described = "; ".join(
            f"pid {pid} ({application or 'no application name'}, {state}): {last_query!r}"
            for pid, application, state, last_query in holders
        )
        pytest.fail(
            f"the tables could not be emptied within {lock_timeout}: an earlier test left "
            f"sessions holding locks, now terminated: {described or 'none found'}",
            pytrace=False,
        )


def close_connection(conn: psycopg.Connection) -> None:
    """Close a test's connection, cancelling first a statement a time limit interrupted
    (psycopg cancels only on Ctrl-C, and the server would run it on, locks and all)."""
    try:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
            conn.cancel_safe(timeout=5)
    finally:
        conn.close()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test database, every table emptied first."""
    conn = psycopg.connect(database_url, autocommit=True)
    try:
        empty_tables(conn)
        yield conn
    finally:
        close_connection(conn)


@pytest.fixture
def row_counts(db: psycopg.Connection):  # type: ignore[no-untyped-def]
    """A function returning ``{table: rows}`` for every table, to prove nothing was written."""

    def counts() -> dict[str, int]:
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in _user_tables(db)}

    return counts


@pytest.fixture
def lambda_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The environment a deployed function would see, pointed at the test database, with
    an admin key and no signing secrets (tests that want signatures set them)."""
    for name in list(os.environ):
        if name.startswith(("DB_", "ADMIN_API_KEY", "WEBHOOK_", "METRICS_API_KEYS", "DATABASE_URL")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ADMIN_API_KEY", ADMIN_KEY)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "FunnelTest")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "funnel")
    reset_runtime()
    yield monkeypatch
    reset_runtime()


@pytest.fixture
def set_clock(lambda_env: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Pin the warm runtime's clock (handlers read time only through it)."""
    from funnel.platform.runtime import get_runtime

    def pin(moment: datetime) -> None:
        get_runtime().clock = lambda: moment

    return pin


class FakeContext:
    """The parts of a Lambda context the handlers and Powertools read."""

    function_name = "funnel-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:funnel-test"
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/funnel-test"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()
