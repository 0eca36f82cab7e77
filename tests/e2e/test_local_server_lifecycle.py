"""``make run`` and its embedded PostgreSQL (issue 15): the server it starts stops with it,
by Ctrl-C or SIGTERM, cleanly; one left behind by a killed run is reused, never doubled; and
it stays up while another command of the project still uses it.

Each test runs ``python -m funnel_local serve`` as ``make run`` does, in a process of its own,
on a data directory of the test's, and looks for server processes of that directory among
all the machine's processes (not only in ``postmaster.pid``).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from funnel_local.postgres import USERS_FILE, read_users, running_server_pid
from tests.local_runs import LocalServe, scratch_data_dir, server_log, server_processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch_data_dir("funnel-lifecycle-") as directory:
        yield directory


@pytest.fixture
def serves(data_dir: Path) -> Iterator[list[LocalServe]]:
    """Starts ``serve`` processes on ``data_dir``; any still running at the end is killed."""
    started: list[LocalServe] = []
    yield started
    for serve in started:
        serve.kill()


def start(serves: list[LocalServe], data_dir: Path, name: str) -> LocalServe:
    serve = LocalServe(data_dir, data_dir.parent / f"{name}.log").start()
    serves.append(serve)
    return serve


def assert_healthy(serve: LocalServe) -> None:
    status, body = serve.get("/v1/health")
    assert status == 200 and body["database"] == "ok", body


def has_exited(pid: int) -> bool:
    """Gone, or a zombie: dead, and waiting for init (its parent since pg_ctl left) to reap it."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_stopped_cleanly(data_dir: Path, postmaster: int) -> None:
    assert has_exited(postmaster)
    assert server_processes(data_dir) == []
    assert not (data_dir / "postmaster.pid").exists()
    # A fast shutdown, not a crash: the server's own log ends with it
    assert server_log(data_dir).rstrip().endswith("database system is shut down")
    assert read_users(data_dir) == []


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(LocalServe.ctrl_c, id="ctrl-c"),
        pytest.param(lambda serve: serve.send(signal.SIGTERM), id="sigterm"),
    ],
)
def test_stopping_make_run_stops_the_server_it_started(serves, data_dir, stop):
    # Given make run, serving, on a data directory no server ran on
    serve = start(serves, data_dir, "run")
    assert_healthy(serve)
    (postmaster,) = server_processes(data_dir)
    assert running_server_pid(data_dir) == postmaster.pid
    # (the API's document loads every handler into make run's own process: its logs stay)
    assert serve.get("/openapi.json")[0] == 200

    # When it is stopped (Ctrl-C in its terminal, or SIGTERM from a process manager)
    stopped_at = time.monotonic()
    stop(serve)
    status = serve.wait()
    seconds = time.monotonic() - stopped_at

    # Then it exits normally and no server of that data directory is left, after a clean shutdown
    assert status == 0, serve.log()
    assert_stopped_cleanly(data_dir, postmaster.pid)
    assert "embedded PostgreSQL stopped" in serve.log()
    print(f"stopped in {seconds:.2f} s")


def test_a_server_left_by_a_killed_run_is_reused_then_stopped(serves, data_dir):
    # Given a make run killed outright (kill -9): it could not stop its server
    killed = start(serves, data_dir, "killed")
    (postmaster,) = server_processes(data_dir)
    killed.kill()
    assert postmaster.is_running()

    # When make run starts again
    again = start(serves, data_dir, "again")
    assert_healthy(again)

    # Then it reuses that server (one server, the same one) and says so
    assert [process.pid for process in server_processes(data_dir)] == [postmaster.pid]
    assert "reusing it" in again.log()
    # And the killed run is no longer counted as a user
    assert [user.pid for user in read_users(data_dir)] == [again.pid]

    # When that run stops, it stops the server, as the last user
    again.send(signal.SIGTERM)
    assert again.wait() == 0, again.log()
    assert_stopped_cleanly(data_dir, postmaster.pid)


def test_the_server_stays_up_while_another_command_still_uses_it(serves, data_dir):
    # Given two commands on one data directory: make run, then a second one beside it
    first = start(serves, data_dir, "first")
    second = start(serves, data_dir, "second")
    (postmaster,) = server_processes(data_dir)
    assert "already running; shared" in second.log()

    # When the first stops
    first.ctrl_c()
    assert first.wait() == 0, first.log()

    # Then the server stays up for the second, and the first says who still uses it
    assert postmaster.is_running()
    assert_healthy(second)
    assert "left running: other commands still use it" in first.log()
    assert f"pid {second.pid}" in first.log()
    assert [user.pid for user in read_users(data_dir)] == [second.pid]

    # When the second stops too, the server stops with it
    second.ctrl_c()
    assert second.wait() == 0, second.log()
    assert_stopped_cleanly(data_dir, postmaster.pid)
    assert (data_dir / USERS_FILE).exists()
