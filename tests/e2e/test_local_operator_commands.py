"""The operator commands with no configuration (``make migrate``, ``purge``, ``rollups-*``,
run as ``python -m funnel_local ops ...``): without ``DATABASE_URL`` they use the embedded
server and data directory of ``make run``, starting it when it is not running and stopping it
afterwards unless ``make run`` still uses it; with ``DATABASE_URL`` they use that database."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.local_runs import LocalServe, run_command, scratch_data_dir, server_processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch_data_dir("funnel-ops-") as directory:
        yield directory


@pytest.fixture
def serve(data_dir: Path) -> Iterator[LocalServe]:
    """make run on ``data_dir``, without schedules (so every rollup run is a command's)."""
    running = LocalServe(data_dir, data_dir.parent / "run.log", arguments=("--no-schedules",))
    yield running.start()
    running.kill()


def test_a_command_alone_starts_the_server_migrates_and_stops_it_after(data_dir):
    # Given no server, and not even a data directory yet
    assert not data_dir.exists()

    # When the rollup status is asked with no configuration
    result = run_command(data_dir, "ops", "rollups-status")

    # Then it answers from a migrated database on a server of that data directory
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rolled up through never")
    assert "embedded PostgreSQL started" in result.stderr
    assert "database migrated" in result.stderr
    # And the server it started is stopped again
    assert "embedded PostgreSQL stopped" in result.stderr
    assert server_processes(data_dir) == []


def test_commands_beside_make_run_use_its_server_and_leave_it_running(serve, data_dir):
    # Given make run, serving
    (postmaster,) = server_processes(data_dir)

    # When each operator command runs beside it
    migrate = run_command(data_dir, "ops", "migrate")
    today = datetime.now(UTC).date()
    backfill = run_command(
        data_dir, "ops", "rollups-backfill", "--from", str(today - timedelta(days=2)), "--to", str(today)
    )
    usage = run_command(data_dir, "ops", "rollups-service-usage")
    blocks = run_command(
        data_dir, "ops", "rollups-blocks", "--from", str(today - timedelta(days=2)), "--to", str(today)
    )
    run = run_command(data_dir, "ops", "rollups-run")
    purge = run_command(data_dir, "ops", "purge", "--dry-run")
    status = run_command(data_dir, "ops", "rollups-status")

    # Then each succeeds on the server make run started, which is never stopped by them
    for result in (migrate, backfill, usage, blocks, run, purge, status):
        assert result.returncode == 0, result.stderr
        assert "already running; shared" in result.stderr
        assert "left running: other commands still use it" in result.stderr
        assert f"pid {serve.pid}" in result.stderr
    assert [process.pid for process in server_processes(data_dir)] == [postmaster.pid]
    # And make run had applied every migration already
    assert json.loads(migrate.stdout) == {"applied": []}
    assert json.loads(backfill.stdout)["daysRolledUp"] == 3
    assert json.loads(purge.stdout)["dryRun"] is True
    # And the status lists the commands' runs (the backfill, service usage, the scheduled range)
    assert status.stdout.count(" cli ") == 3
    # And make run still serves, on the same database
    status_code, health = serve.get("/v1/health")
    assert status_code == 200 and health["database"] == "ok"

    # When make run stops, the server stops with it
    serve.send(signal.SIGTERM)
    assert serve.wait() == 0
    assert server_processes(data_dir) == []


def test_a_usage_error_still_releases_the_server(data_dir):
    # Given a backfill without its range
    result = run_command(data_dir, "ops", "rollups-backfill")

    # Then the command's own usage error is reported, and no server is left behind
    assert result.returncode == 2
    assert "--from" in result.stderr
    assert server_processes(data_dir) == []


def test_help_starts_no_server(data_dir):
    # When the help is asked
    result = run_command(data_dir, "ops", "--help")
    # Then it names the commands, and no server was started (no data directory even)
    assert result.returncode == 0
    assert "rollups-backfill" in result.stdout
    assert not data_dir.exists()


def test_a_configured_database_is_used_as_it_is(data_dir, database_url):
    # Given DATABASE_URL set (the test session's migrated database)
    # When a command runs
    result = run_command(data_dir, "ops", "rollups-status", DATABASE_URL=database_url)

    # Then it answers from that database, and no embedded server is started
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rolled up through")
    assert "embedded PostgreSQL" not in result.stderr
    assert not data_dir.exists()
