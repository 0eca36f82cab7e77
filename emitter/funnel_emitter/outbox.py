"""A durable local outbox: events that could not be delivered yet, in one SQLite file.

One row per event, keyed by its ``webhook-id``, holding the exact body that is sent on
every attempt (so one id never carries two bodies), the number of attempts, when the next
one is due, the last error, and who is delivering it right now. The file is in WAL mode.
Queuing an event is synced to disk before :meth:`Outbox.add` returns (``synchronous=FULL``):
it survives the sending process, the machine's crash and a restart. The bookkeeping that
follows (claims, attempts, deleting a delivered row) is not synced on its own
(``synchronous=NORMAL``): it survives the process at once, and a power cut once the next
event is queued or SQLite checkpoints. What a power cut can undo is therefore harmless: a
delivered event sent again (Funnel drops it as a duplicate of its webhook-id) or an
attempt not counted.

Several threads and processes may share one file. Every write is one short
``BEGIN IMMEDIATE`` transaction, so writers queue on SQLite's lock (each waits up to
``busy_timeout``); a sender takes a row by writing a fresh claim token and a claim
deadline into it, and only the holder of that token may record the attempt's outcome. A
row claimed by one sender is invisible to the others until its claim expires, which is
how a row abandoned by a crashed process is picked up again.

An :class:`Outbox` may be shared by threads: each call takes a connection of its own for
its duration (reused from earlier calls), and a forked child process opens its own.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["DEAD", "PENDING", "Outbox", "OutboxEntry", "OutboxError", "WebhookIdReused"]

PENDING = "pending"
DEAD = "dead"
SCHEMA_VERSION = 1

_SCHEMA = (
    """
    CREATE TABLE outbox (
        webhook_id       TEXT    PRIMARY KEY,
        event_type       TEXT    NOT NULL,
        tenant_id        TEXT    NOT NULL,
        body             BLOB    NOT NULL,
        state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        created_at       REAL    NOT NULL,
        next_attempt_at  REAL    NOT NULL,
        retry_until      REAL    NOT NULL,
        last_attempt_at  REAL,
        last_status      INTEGER,
        last_error       TEXT,
        dead_reason      TEXT,
        claim_token      TEXT,
        claim_expires_at REAL
    )
    """,
    "CREATE INDEX outbox_due ON outbox (state, next_attempt_at)",
)
_COLUMNS = (
    "webhook_id, event_type, tenant_id, body, state, attempts, created_at, next_attempt_at, retry_until,"
    " last_attempt_at, last_status, last_error, dead_reason"
)


# Connections a forked child inherited: referenced here so they are never closed in it.
_INHERITED: list[sqlite3.Connection] = []


class OutboxError(Exception):
    """The outbox file cannot be used (not SQLite, no WAL, a newer schema)."""


class WebhookIdReused(OutboxError, ValueError):
    """The webhook-id is in the outbox with another body; Funnel would answer 409."""

    def __init__(self, webhook_id: str) -> None:
        super().__init__(f"webhook-id {webhook_id!r} is already queued with a different body")
        self.webhook_id = webhook_id


@dataclass(frozen=True)
class OutboxEntry:
    """One row of the outbox.

    Attributes
    ----------
    webhook_id, event_type, tenant_id
        The event's identity.
    body
        The exact bytes sent on every attempt.
    state
        ``"pending"`` (will be retried) or ``"dead"`` (refused by Funnel or out of time;
        kept for inspection until purged or retried by hand).
    attempts
        Requests made so far.
    created_at, next_attempt_at, retry_until, last_attempt_at
        Unix seconds: when it was queued, when it is due, when retrying stops, and when
        it was last tried.
    last_status, last_error
        The last attempt's HTTP status (None for a network error) and what went wrong.
    dead_reason
        ``"refused"`` (an answer no retry can change) or ``"expired"`` (the horizon
        passed); None while pending.
    claim
        The claim token when this entry was returned by a claim; None otherwise.
    """

    webhook_id: str
    event_type: str
    tenant_id: str
    body: bytes
    state: str
    attempts: int
    created_at: float
    next_attempt_at: float
    retry_until: float
    last_attempt_at: float | None
    last_status: int | None
    last_error: str | None
    dead_reason: str | None
    claim: str | None


class Outbox:
    """The outbox file at ``path``, created (mode 0600: bodies may hold an email) when
    missing.

    Parameters
    ----------
    path
        The SQLite file; its folder must exist. Use a local disk: WAL needs shared memory
        that network file systems do not give.
    busy_timeout
        Seconds a write waits for another writer before failing.

    Raises
    ------
    OutboxError
        When the file is not an outbox this version can use.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        self._busy_timeout = busy_timeout
        # Connections are kept and reused, one caller at a time: opening one per call
        # would sync the folder on every write, and when the last connection closes
        # SQLite checkpoints and deletes the WAL, several syncs more.
        self._idle: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()
        self._pid = os.getpid()
        weakref.finalize(self, _close_all, self._idle)
        self._initialise()

    def close(self) -> None:
        """Close the connections kept for reuse (the last one out checkpoints the WAL).
        The outbox can still be used afterwards; this also happens when it is collected
        or the interpreter exits."""
        with self._idle_lock:
            _close_all(self._idle)

    # --- writes -------------------------------------------------------------------------

    def add(
        self,
        *,
        webhook_id: str,
        event_type: str,
        tenant_id: str,
        body: bytes,
        now: float,
        retry_until: float,
        claim_until: float | None = None,
    ) -> OutboxEntry | None:
        """Queue an event, due now; with ``claim_until``, also claim it for the caller.

        Adding an id that is already queued with the same body queues it again: due now,
        pending even if it was dead, with the later of the two ``retry_until``.

        Returns
        -------
        OutboxEntry or None
            The row (with its claim token when one was asked for); None when a claim was
            asked for but another sender holds the row right now.

        Raises
        ------
        WebhookIdReused
            When the id is queued with a different body.
        """
        token = uuid.uuid4().hex if claim_until is not None else None
        with self._write(durable=True) as conn:
            row = conn.execute(
                "SELECT body, claim_token, claim_expires_at FROM outbox WHERE webhook_id = ?", (webhook_id,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO outbox (webhook_id, event_type, tenant_id, body, created_at,"
                    " next_attempt_at, retry_until, claim_token, claim_expires_at)"
                    " VALUES (:id, :type, :tenant, :body, :now, :now, :until, :token, :claim_until)",
                    {
                        "id": webhook_id,
                        "type": event_type,
                        "tenant": tenant_id,
                        "body": body,
                        "now": now,
                        "until": retry_until,
                        "token": token,
                        "claim_until": claim_until,
                    },
                )
            else:
                if bytes(row["body"]) != body:
                    raise WebhookIdReused(webhook_id)
                held = row["claim_token"] is not None and row["claim_expires_at"] > now
                if held and token is not None:
                    return None
                conn.execute(
                    "UPDATE outbox SET state = 'pending', dead_reason = NULL, next_attempt_at = :now,"
                    " retry_until = max(retry_until, :until),"
                    " claim_token = CASE WHEN :token IS NULL THEN claim_token ELSE :token END,"
                    " claim_expires_at = CASE WHEN :token IS NULL THEN claim_expires_at ELSE :claim_until END"
                    " WHERE webhook_id = :id",
                    {
                        "id": webhook_id,
                        "now": now,
                        "until": retry_until,
                        "token": token,
                        "claim_until": claim_until,
                    },
                )
            return self._get(conn, webhook_id, token)

    def claim_next(
        self, *, now: float, claim_until: float, due_by: float | None = None
    ) -> OutboxEntry | None:
        """Take the pending row that has been due longest and that nobody holds.

        Only rows due by ``due_by`` (``now`` by default) are taken: a caller going through
        what was due when it started does not meet the rows it rescheduled itself.

        Returns
        -------
        OutboxEntry or None
            The row, with the claim token that lets the caller record its outcome; None
            when nothing is due.
        """
        token = uuid.uuid4().hex
        with self._write() as conn:
            row = conn.execute(
                "SELECT webhook_id FROM outbox"
                " WHERE state = 'pending' AND next_attempt_at <= :due_by"
                # Free to take: nobody holds it, or its holder's claim ran out.
                " AND (claim_token IS NULL OR claim_expires_at <= :now)"
                " ORDER BY next_attempt_at, created_at, rowid LIMIT 1",
                {"now": now, "due_by": now if due_by is None else min(now, due_by)},
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE outbox SET claim_token = ?, claim_expires_at = ? WHERE webhook_id = ?",
                (token, claim_until, row["webhook_id"]),
            )
            return self._get(conn, row["webhook_id"], token)

    def record_attempt(
        self,
        entry: OutboxEntry,
        *,
        now: float,
        status: int | None,
        error: str | None,
        next_attempt_at: float | None,
        dead_reason: str | None = None,
        keep_claim_until: float | None = None,
    ) -> OutboxEntry | None:
        """Record a failed attempt of a claimed row.

        Parameters
        ----------
        entry
            The row as claimed (its ``claim`` proves the caller holds it).
        now, status, error
            When the attempt ended and how it failed.
        next_attempt_at
            When to try again; None makes the row dead, for ``dead_reason``.
        keep_claim_until
            Keep holding the row until then (a sender that retries it itself shortly);
            by default the claim is released.

        Returns
        -------
        OutboxEntry or None
            The updated row; None when the caller no longer held it (its claim expired
            and another sender took the row, or the row was purged).
        """
        dead = next_attempt_at is None
        with self._write() as conn:
            updated = conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_attempt_at = :now, last_status = :status,"
                " last_error = :error, state = :state, dead_reason = :reason,"
                " next_attempt_at = coalesce(:next, next_attempt_at),"
                " claim_token = CASE WHEN :keep IS NULL THEN NULL ELSE claim_token END,"
                " claim_expires_at = :keep"
                " WHERE webhook_id = :id AND claim_token = :token",
                {
                    "now": now,
                    "status": status,
                    "error": error,
                    "state": DEAD if dead else PENDING,
                    "reason": dead_reason if dead else None,
                    "next": next_attempt_at,
                    "keep": None if dead else keep_claim_until,
                    "id": entry.webhook_id,
                    "token": entry.claim,
                },
            ).rowcount
            if not updated:
                return None
            return self._get(
                conn, entry.webhook_id, entry.claim if keep_claim_until is not None and not dead else None
            )

    def remove_delivered(self, entry: OutboxEntry) -> bool:
        """Delete a claimed row once Funnel has accepted it; False when the caller no
        longer held it."""
        with self._write() as conn:
            return bool(
                conn.execute(
                    "DELETE FROM outbox WHERE webhook_id = ? AND claim_token = ?",
                    (entry.webhook_id, entry.claim),
                ).rowcount
            )

    def retry_now(
        self,
        *,
        now: float,
        retry_until: float,
        webhook_ids: Sequence[str] = (),
        pending: bool = False,
        dead: bool = False,
    ) -> int:
        """Make rows due now: the named ones, every pending one, every dead one.

        Dead rows become pending again. Each row retried keeps retrying until at least
        ``retry_until``. Rows being delivered right now keep their claim.

        Returns
        -------
        int
            The number of rows made due.
        """
        conditions = []
        params: dict[str, Any] = {"now": now, "until": retry_until}
        if webhook_ids:
            conditions.append(_ids_in(webhook_ids, params))
        if pending:
            conditions.append("state = 'pending'")
        if dead:
            conditions.append("state = 'dead'")
        if not conditions:
            return 0
        with self._write() as conn:
            return conn.execute(
                "UPDATE outbox SET state = 'pending', dead_reason = NULL, next_attempt_at = :now,"  # noqa: S608 - placeholders only
                " retry_until = max(retry_until, :until) WHERE " + " OR ".join(conditions),
                params,
            ).rowcount

    def purge(
        self, *, webhook_ids: Sequence[str] = (), dead: bool = False, created_before: float | None = None
    ) -> int:
        """Delete rows: the named ones, the dead ones, those queued before a moment.

        With both ``dead`` and ``created_before``, only dead rows queued before it go.

        Returns
        -------
        int
            The number of rows deleted.
        """
        conditions = []
        params: dict[str, Any] = {}
        if dead:
            conditions.append("state = 'dead'")
        if created_before is not None:
            conditions.append("created_at < :before")
            params["before"] = created_before
        selection = " AND ".join(conditions)
        if webhook_ids:
            by_id = _ids_in(webhook_ids, params)
            selection = f"{by_id} OR ({selection})" if selection else by_id
        if not selection:
            return 0
        # Synced: a purge removes personal data (a tenant's email), and must stay done.
        with self._write(durable=True) as conn:
            return conn.execute("DELETE FROM outbox WHERE " + selection, params).rowcount  # noqa: S608 - placeholders only

    # --- reads --------------------------------------------------------------------------

    def entries(self, *, state: str | None = None, limit: int | None = None) -> list[OutboxEntry]:
        """Rows in the order they were queued, all or those in ``state``."""
        query = f"SELECT {_COLUMNS} FROM outbox"  # noqa: S608 - constant SQL
        params: dict[str, Any] = {}
        if state is not None:
            query += " WHERE state = :state"
            params["state"] = state
        query += " ORDER BY created_at, rowid"
        if limit is not None:
            query += " LIMIT :limit"
            params["limit"] = limit
        with self._connect() as conn:
            return [_entry(row, claim=None) for row in conn.execute(query, params)]

    def get(self, webhook_id: str) -> OutboxEntry | None:
        """One row by its webhook-id."""
        with self._connect() as conn:
            return self._get(conn, webhook_id, None)

    def counts(self) -> dict[str, int]:
        """``{"pending": n, "dead": n}``."""
        with self._connect() as conn:
            found = {
                row["state"]: row["n"]
                for row in conn.execute("SELECT state, count(*) AS n FROM outbox GROUP BY state")
            }
        return {PENDING: found.get(PENDING, 0), DEAD: found.get(DEAD, 0)}

    def next_due(self) -> float | None:
        """When the next pending row can be taken (its due time, or its claim's end if
        later); None when nothing is pending."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT min(max(next_attempt_at, coalesce(claim_expires_at, next_attempt_at))) AS due"
                " FROM outbox WHERE state = 'pending'"
            ).fetchone()
        return None if row["due"] is None else float(row["due"])

    # --- plumbing -----------------------------------------------------------------------

    @contextmanager
    def _connect(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        conn = self._take()
        try:
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            yield conn
        except sqlite3.Error as exc:
            # Locked past busy_timeout, a full disk, a file that is not SQLite: callers
            # get one exception type, and the rows already written stay as they were.
            conn.close()
            raise OutboxError(f"the outbox {self.path} cannot be used: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        with self._idle_lock:
            self._idle.append(conn)

    def _take(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:
            # A forked child must neither use nor close its parent's connections (SQLite
            # forbids carrying one across fork()): they are kept, untouched, and the
            # child opens its own. The lock may have been held by a thread of the parent.
            _INHERITED.extend(self._idle)
            self._idle.clear()
            self._idle_lock, self._pid = threading.Lock(), os.getpid()
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise OutboxError(f"the outbox {self.path} cannot be used: {exc}") from exc
        conn.row_factory = sqlite3.Row
        return conn

    @contextmanager
    def _write(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        with self._connect(durable=durable) as conn:
            # IMMEDIATE takes the write lock before reading, so what a transaction reads
            # cannot change before it writes: two senders never claim the same row.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                # SQLite may have rolled back already (a full disk does).
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _initialise(self) -> None:
        if not os.path.exists(self.path):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        with self._connect() as conn:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()["journal_mode"]
            if mode != "wal":
                raise OutboxError(f"the outbox {self.path} cannot use WAL (journal_mode={mode})")
        with self._write(durable=True) as conn:
            version = conn.execute("PRAGMA user_version").fetchone()["user_version"]
            if version == 0:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise OutboxError(
                    f"the outbox {self.path} has schema version {version}; this funnel-emitter "
                    f"reads version {SCHEMA_VERSION}"
                )

    @staticmethod
    def _get(conn: sqlite3.Connection, webhook_id: str, claim: str | None) -> OutboxEntry | None:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE webhook_id = ?",  # noqa: S608 - constant SQL
            (webhook_id,),
        ).fetchone()
        return None if row is None else _entry(row, claim=claim)


def _entry(row: sqlite3.Row, *, claim: str | None) -> OutboxEntry:
    values = {name: row[name] for name in row.keys()}  # noqa: SIM118 - a Row is not a Mapping
    values["body"] = bytes(values["body"])
    return OutboxEntry(**values, claim=claim)


def _close_all(connections: list[sqlite3.Connection]) -> None:
    while connections:
        connections.pop().close()


def _ids_in(webhook_ids: Sequence[str], params: dict[str, Any]) -> str:
    """``webhook_id IN (:id0, :id1...)``, adding the ids to ``params``."""
    names = [f"id{index}" for index in range(len(webhook_ids))]
    params.update(zip(names, webhook_ids, strict=True))
    return "webhook_id IN (" + ", ".join(f":{name}" for name in names) + ")"
