"""The warm container's connection (``funnel.platform.db.Database``) on real PostgreSQL: a unit of
work that leaves it anywhere but idle costs that connection, never a lock held for the
container's lifetime."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus

from funnel.platform.db import Database

pytestmark = pytest.mark.integration

APPLICATION = "funnel-test-discard"


class Interrupted(Exception):
    """What a deadline's signal handler raises in the middle of a statement."""


@pytest.fixture
def database(database_url: str, db: psycopg.Connection) -> Iterator[Database]:
    opened = Database(
        lambda fresh=False: database_url,
        statement_timeout_ms=60_000,
        connect_timeout_seconds=5,
        application_name=APPLICATION,
    )
    yield opened
    opened.close()


def backend_and_status(database: Database) -> tuple[int, TransactionStatus]:
    def look(conn: psycopg.Connection) -> tuple[int, TransactionStatus]:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        return row[0], conn.info.transaction_status

    return database.run(look, transaction=False)


def assert_gone_without_locks(db: psycopg.Connection, pid: int) -> None:
    """The backend ``pid`` ends within 5 s, and another session can lock what it had locked."""
    deadline = time.monotonic() + 5
    while db.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() != (0,):
        assert time.monotonic() < deadline, f"backend {pid} still alive"
        time.sleep(0.02)
    assert db.execute("SELECT count(*) FROM pg_locks WHERE pid = %s", (pid,)).fetchone() == (0,)
    with db.transaction():
        db.execute("SET LOCAL lock_timeout = '2s'")
        db.execute("LOCK TABLE visitors IN ACCESS EXCLUSIVE MODE")


def test_a_transaction_left_open_by_the_work_is_discarded_with_its_locks(database, db):
    # Given a warm connection
    first, _ = backend_and_status(database)

    # When a unit of work opens a transaction, takes a lock and returns without ending it
    def leave_open(conn: psycopg.Connection) -> TransactionStatus:
        conn.execute("BEGIN")
        conn.execute("LOCK TABLE visitors IN ACCESS EXCLUSIVE MODE")
        return conn.info.transaction_status

    assert database.run(leave_open, transaction=False) == TransactionStatus.INTRANS

    # Then the next unit of work gets a fresh, idle connection
    second, status = backend_and_status(database)
    assert second != first
    assert status == TransactionStatus.IDLE
    # And the old backend is gone, its lock released
    assert_gone_without_locks(db, first)


def test_an_interrupted_statement_is_cancelled_and_its_connection_discarded(database, db):
    # Given a warm connection
    first, _ = backend_and_status(database)

    # When a signal (a deadline, a test's time limit) interrupts a statement that runs in a
    # transaction holding a lock: psycopg cancels only on Ctrl-C, so the connection stays
    # ACTIVE, the rollback fails ("another command is already in progress") and the
    # server keeps the statement, its transaction and its lock
    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted()

    def when_sleeping() -> None:
        deadline = time.monotonic() + 10
        with psycopg.connect(db.info.dsn, autocommit=True) as watcher:
            while time.monotonic() < deadline:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state = 'active' "
                    "AND query LIKE 'SELECT pg_sleep%%'",
                    (APPLICATION,),
                ).fetchone()
                if row == (1,):
                    break
                time.sleep(0.02)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    def lock_and_sleep(conn: psycopg.Connection) -> None:
        conn.execute("LOCK TABLE visitors IN ACCESS EXCLUSIVE MODE")
        conn.execute("SELECT pg_sleep(30)")

    previous = signal.signal(signal.SIGUSR1, interrupt)
    watcher = threading.Thread(target=when_sleeping)
    try:
        watcher.start()
        with pytest.raises(Interrupted):
            database.run(lock_and_sleep)
    finally:
        watcher.join()
        signal.signal(signal.SIGUSR1, previous)

    # Then the next unit of work gets a fresh, idle connection, not "another command is
    # already in progress"
    second, status = backend_and_status(database)
    assert second != first
    assert status == TransactionStatus.IDLE
    # And the statement was cancelled: the old backend is gone, its lock released
    assert_gone_without_locks(db, first)


def test_an_idle_connection_is_kept_across_units_of_work(database):
    # Given a unit of work that ends its transaction
    first, _ = backend_and_status(database)
    database.run(lambda conn: conn.execute("SELECT count(*) FROM visitors").fetchone())

    # Then the next one reuses the connection
    assert backend_and_status(database) == (first, TransactionStatus.IDLE)


def test_a_connection_is_in_utc_whatever_the_servers_default(database_url, db):
    # Given a database whose sessions default to another time zone (+14:00)
    elsewhere = Database(
        lambda fresh=False: make_conninfo(database_url, options="-c TimeZone=Pacific/Kiritimati"),
        statement_timeout_ms=60_000,
        connect_timeout_seconds=5,
        application_name=APPLICATION,
    )

    # When the function's connection reads a time and the day of the last millisecond of a UTC day
    def read(conn: psycopg.Connection) -> tuple[str, datetime, date]:
        row = conn.execute(
            "SELECT current_setting('TimeZone'), '2026-02-10 23:59:59.999+00'::timestamptz, "
            "'2026-02-10 23:59:59.999+00'::timestamptz::date"
        ).fetchone()
        assert row is not None
        return row[0], row[1], row[2]

    try:
        zone, moment, day = elsewhere.run(read)
    finally:
        elsewhere.close()

    # Then it is in UTC, as the days of the rollups and the times of the API are
    assert zone == "UTC"
    assert moment.utcoffset() == timedelta(0)
    assert day == date(2026, 2, 10)
