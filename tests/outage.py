"""A PostgreSQL server of a test's own, which the test may freeze (``SIGSTOP`` on the
postmaster and every backend, as a hung host or a stalled failover looks to a client) and
kill (``SIGKILL``, a crash), and start again; the session's shared server is never touched.

Every freeze is bounded: the processes are resumed when the block ends, whatever happens
in it, and by a timer after ``at_most`` seconds should the block itself be stuck.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import pytest

from funnel.platform.migrate import migrate_database
from funnel_local.postgres import (
    _data_dir_lock,
    _start_server,
    create_database,
    running_server_pid,
    shared_server,
)

# Longest a test may keep the server frozen.
MAX_FREEZE_SECONDS = 20.0


@dataclass
class OwnServer:
    """A running embedded server on ``pgdata`` and a migrated database on it (``url``)."""

    pgdata: Path
    url: str

    def processes(self) -> list[psutil.Process]:
        """The postmaster and all its children (backends, checkpointer, WAL writer...)."""
        pid = running_server_pid(self.pgdata)
        assert pid is not None, "the server is not running"
        postmaster = psutil.Process(pid)
        return [postmaster, *postmaster.children(recursive=True)]

    @contextmanager
    def frozen(self, at_most: float = MAX_FREEZE_SECONDS) -> Iterator[None]:
        """Stop every process of the server for the block (``kill -STOP``), at most
        ``at_most`` seconds, and resume them all afterwards (``kill -CONT``)."""
        assert at_most <= MAX_FREEZE_SECONDS
        processes = self.processes()
        resumed = threading.Event()

        def resume() -> None:
            if resumed.is_set():
                return
            resumed.set()
            for process in processes:
                with suppress(psutil.NoSuchProcess):
                    process.send_signal(signal.SIGCONT)

        safety = threading.Timer(at_most, resume)
        safety.daemon = True
        try:
            for process in processes:
                process.send_signal(signal.SIGSTOP)
            safety.start()
            yield
        finally:
            safety.cancel()
            resume()

    def kill(self) -> None:
        """Crash the server: ``SIGKILL`` to the postmaster and every child, resumed first
        should they be frozen; returns once they are all gone."""
        processes = self.processes()
        for process in processes:
            try:
                process.send_signal(signal.SIGKILL)
                process.send_signal(signal.SIGCONT)
            except psutil.NoSuchProcess:
                pass
        _gone, alive = psutil.wait_procs(processes, timeout=10)
        assert not alive, f"server processes still alive: {alive}"

    def start(self) -> None:
        """Start the server again after :meth:`kill` (it replays its WAL first)."""
        with _data_dir_lock(self.pgdata):
            _start_server(self.pgdata)
        self.wait_until_ready()

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


@contextmanager
def own_server() -> Iterator[OwnServer]:
    """A server of the caller's own on a temporary data directory (in the system's, which
    the server's user can reach when tests run as root), stopped and deleted afterwards;
    skipped when ``DATABASE_URL`` names an external server (it cannot be frozen from here)."""
    if os.environ.get("DATABASE_URL"):
        pytest.skip("freezing needs the embedded server; DATABASE_URL names another")
    with (
        tempfile.TemporaryDirectory(prefix="funnel-outage-") as scratch,
        _serving(Path(scratch) / "pgdata") as server,
    ):
        yield server


@contextmanager
def _serving(pgdata: Path) -> Iterator[OwnServer]:
    with shared_server(pgdata) as conninfo:
        url = create_database(conninfo, f"funnel_outage_{uuid.uuid4().hex[:8]}")
        migrate_database(url)
        server = OwnServer(pgdata, url)
        try:
            yield server
        finally:
            if running_server_pid(pgdata) is None:
                server.start()
