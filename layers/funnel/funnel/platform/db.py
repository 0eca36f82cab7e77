"""One PostgreSQL connection per warm container.

The connection is opened on first use, reused across invocations, and reopened when it
is found broken (RDS Proxy and Aurora close idle connections). It is an autocommit
connection: every unit of work is an explicit ``with conn.transaction()`` block, and every
statement runs under a ``statement_timeout``. A connection that a unit of work leaves
anywhere but idle (inside a transaction, or still running an interrupted statement) is
discarded, so a warm container never holds locks between invocations.

A server that stops answering (frozen, failing over, a network path gone) cannot be bounded
by ``statement_timeout``, which the server itself enforces. So, besides the connect timeout
and TCP keepalives and ``tcp_user_timeout`` (which find a dead peer on TCP), a unit of work
may have a client-side deadline: every wait on the socket ends by it, and a unit of work
that runs past it fails with :class:`~funnel.platform.errors.DatabaseUnavailable`, telling whether a
write may have committed (its COMMIT, or its single autocommit statement, was sent).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from aws_lambda_powertools import Logger
from psycopg.conninfo import make_conninfo
from psycopg.pq import TransactionStatus

from funnel.platform.errors import ConfigurationError, DatabaseUnavailable
from funnel.platform.secrets import SecretSource
from funnel.platform.settings import DatabaseSettings

logger = Logger(child=True)
T = TypeVar("T")
# psycopg's own interval between checks for a Ctrl-C while it waits on the socket.
_WAIT_INTERVAL = 0.1


class DeadlineExceeded(psycopg.OperationalError):
    """A wait on the socket reached the unit of work's deadline."""


class _BoundedConnection(psycopg.Connection[Any]):
    """A connection whose waits on the socket end by :attr:`deadline` (a ``time.monotonic``
    value), when one is set: psycopg waits for every reply with ``Connection.wait``, so this
    bounds statements, COMMITs and ROLLBACKs alike, whatever the server does."""

    deadline: float | None = None

    def wait(self, gen: Any, interval: float = _WAIT_INTERVAL, timeout: float | None = None) -> Any:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded("the database did not answer within the deadline")
            timeout = left if timeout is None else min(timeout, left)
        try:
            return super().wait(gen, interval, timeout)
        except psycopg.OperationalError as exc:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise DeadlineExceeded("the database did not answer within the deadline") from exc
            raise


@dataclass(frozen=True)
class TcpSettings:
    """libpq's TCP options (ignored on Unix sockets): keepalives find a silent peer of an
    idle connection, ``tcp_user_timeout`` one that stops acknowledging what was sent."""

    keepalives_idle_seconds: int = 5
    keepalives_interval_seconds: int = 2
    keepalives_count: int = 2
    user_timeout_ms: int = 3000


def database_conninfo(settings: DatabaseSettings, secrets: SecretSource, *, fresh: bool = False) -> str:
    """Build the connection string from ``DATABASE_URL`` or the database secret.

    The secret is the JSON RDS writes (username, password, host, port, dbname);
    ``DB_HOST``/``DB_PORT``/``DB_NAME`` override its fields, since the secret of a cluster
    created by the template names the cluster while functions must go through the proxy.
    """
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    if not settings.db_secret_arn:
        raise ConfigurationError("no database configured: set DATABASE_URL or DB_SECRET_ARN")
    try:
        secret = json.loads(secrets.get(settings.db_secret_arn, fresh=fresh))
        user, password = secret["username"], secret["password"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError("the database secret lacks username/password JSON") from exc
    host = settings.db_host or secret.get("host")
    if not host:
        raise ConfigurationError("no database host: set DB_HOST or add host to the secret")
    return make_conninfo(
        user=user,
        password=password,
        host=host,
        port=str(settings.db_port or secret.get("port") or 5432),
        dbname=settings.db_name or secret.get("dbname") or "postgres",
        sslmode=settings.db_sslmode,
    )


class Database:
    """The container's connection, opened lazily.

    Parameters
    ----------
    conninfo
        Called when a connection must be opened (so secrets are read then, not at import),
        with ``fresh=True`` to bypass the secrets cache: when a connection fails, the
        password may have been rotated since it was cached, so the connection is tried
        once more if the fresh conninfo differs.
    statement_timeout_ms, connect_timeout_seconds
        Limits that keep a slow database from holding a Lambda to its timeout.
    application_name
        Shown in ``pg_stat_activity``.
    deadline_ms
        The client-side deadline of one :meth:`run`, connecting included; None (the
        scheduled jobs) for none. It must leave the function time to answer: the API's
        functions answer 503 (or buffer the request) when it passes.
    tcp
        Keepalives and ``tcp_user_timeout`` of TCP connections.
    """

    def __init__(
        self,
        conninfo: Callable[..., str],
        *,
        statement_timeout_ms: int,
        connect_timeout_seconds: int,
        application_name: str,
        deadline_ms: int | None = None,
        tcp: TcpSettings | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._statement_timeout_ms = statement_timeout_ms
        self._connect_timeout = connect_timeout_seconds
        self._application_name = application_name
        self._deadline_seconds = None if deadline_ms is None else deadline_ms / 1000
        self._tcp = tcp or TcpSettings()
        self._conn: _BoundedConnection | None = None

    def connection(self, deadline: float | None = None) -> _BoundedConnection:
        """The open connection, (re)connecting first when there is none or it is broken;
        its waits end by ``deadline`` (a ``time.monotonic`` value) when one is given."""
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._conn = None
        if self._conn is None:
            conninfo = self._conninfo()
            try:
                self._conn = self._connect(conninfo, deadline)
            except (psycopg.errors.ConnectionTimeout, DeadlineExceeded) as exc:
                # A server that does not answer, not a refused password.
                logger.warning("database did not answer", extra={"error": type(exc).__name__})
                raise DatabaseUnavailable() from exc
            except psycopg.OperationalError as exc:
                # The password may have been rotated since it was cached: try once more
                # with the secret as it is now, if it changed.
                fresh = self._conninfo(fresh=True)
                if fresh == conninfo:
                    logger.warning("database connection failed", extra={"error": type(exc).__name__})
                    raise DatabaseUnavailable() from exc
                try:
                    self._conn = self._connect(fresh, deadline)
                except psycopg.OperationalError as again:
                    logger.warning("database connection failed", extra={"error": type(again).__name__})
                    raise DatabaseUnavailable() from again
                logger.info("database credentials refreshed")
        self._conn.deadline = deadline
        return self._conn

    def _connect(self, conninfo: str, deadline: float | None) -> _BoundedConnection:
        conn = _BoundedConnection.connect(
            conninfo,
            autocommit=True,
            connect_timeout=self._connect_timeout,
            application_name=self._application_name,
            keepalives=1,
            keepalives_idle=self._tcp.keepalives_idle_seconds,
            keepalives_interval=self._tcp.keepalives_interval_seconds,
            keepalives_count=self._tcp.keepalives_count,
            tcp_user_timeout=self._tcp.user_timeout_ms,
        )
        conn.deadline = deadline
        # Set after connecting, not as startup options: RDS Proxy refuses those.
        # PostgreSQL's default random_page_cost (4) models spinning disks; on SSD storage
        # (Aurora, RDS gp3, a laptop) 1.1 is the usual setting, and it keeps index probes
        # chosen over scans while statistics lag a fast-growing table. The session's time
        # zone is UTC whatever the server's default: a day is a UTC day, and times leave
        # the database (and the API) in UTC.
        try:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false), "
                "set_config('random_page_cost', '1.1', false), set_config('TimeZone', 'UTC', false)",
                (str(self._statement_timeout_ms),),
            )
        except psycopg.Error:
            conn.close()
            raise
        return conn

    def run(self, work: Callable[[psycopg.Connection], T], *, transaction: bool = True) -> T:
        """Run ``work(conn)`` and return its result, in one transaction by default.

        With ``transaction=False`` each statement of ``work`` commits on its own: for work
        whose common case is a single statement (atomic by itself), saving the BEGIN and
        COMMIT round trips. A reused connection that turns out to be dead is replaced and
        the work retried once (when the deadline leaves time to connect); callers only pass
        work that is safe to repeat (idempotent writes, reads). Database failures become
        ``DatabaseUnavailable`` (503); past the deadline it says whether a write may have
        committed (``in_doubt``): its COMMIT was sent, or, without a transaction, any
        statement.

        Whatever happens, a connection not idle afterwards (a transaction left open, a
        rollback that failed, a statement interrupted mid-flight: "another command is
        already in progress") is discarded, and the next call opens a fresh one. One that
        missed the deadline is given up at once: its statement is cancelled and the
        connection closed in the background, since a frozen server would hold a cancel
        request as long as the statement.
        """
        deadline = None if self._deadline_seconds is None else time.monotonic() + self._deadline_seconds
        for attempt in (1, 2):
            reused = self._conn is not None
            conn = self.connection(deadline)
            committing = not transaction
            try:
                if not transaction:
                    return work(conn)
                with conn.transaction():
                    result = work(conn)
                    committing = True
                return result
            except DeadlineExceeded as exc:
                self._abandon(conn)
                logger.warning("database deadline passed", extra={"write_in_doubt": committing})
                raise DatabaseUnavailable(in_doubt=committing) from exc
            except psycopg.OperationalError as exc:
                if conn.broken or conn.closed:
                    self._conn = None
                    if reused and attempt == 1 and self._time_to_connect(deadline):
                        logger.info("stale database connection replaced")
                        continue
                logger.warning("database operation failed", extra={"error": type(exc).__name__})
                raise DatabaseUnavailable() from exc
            finally:
                conn.deadline = None
                if conn is self._conn and conn.info.transaction_status != TransactionStatus.IDLE:
                    logger.warning(
                        "database connection discarded",
                        extra={"transaction_status": conn.info.transaction_status.name},
                    )
                    self.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _time_to_connect(self, deadline: float | None) -> bool:
        return deadline is None or deadline - time.monotonic() > self._connect_timeout

    def _abandon(self, conn: _BoundedConnection) -> None:
        """Give up a connection that missed its deadline without waiting on it again."""
        if conn is self._conn:
            self._conn = None
        if conn.closed:
            return
        threading.Thread(
            target=self._cancel_and_close, args=(conn,), name="funnel-db-abandon", daemon=True
        ).start()

    def _cancel_and_close(self, conn: _BoundedConnection) -> None:
        if conn.info.transaction_status == TransactionStatus.ACTIVE:
            try:
                conn.cancel_safe(timeout=self._connect_timeout)
            except psycopg.Error as exc:
                logger.info("statement cancellation failed", extra={"error": type(exc).__name__})
        conn.close()

    def close(self) -> None:
        """Close the connection. A statement still running is cancelled first: the server
        notices a closed socket only when it next reads from it, so closing alone would
        leave the statement, its transaction and its locks alive."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.info.transaction_status == TransactionStatus.ACTIVE:
            try:
                conn.cancel_safe(timeout=self._connect_timeout)
            except psycopg.Error as exc:
                logger.warning("statement cancellation failed", extra={"error": type(exc).__name__})
        conn.close()
