"""``make demo`` as a newcomer uses it: the demo fills the local database (at a reduced scale,
through the handlers), ``make run`` serves it, and every field of both metrics answers, with
their comparison windows, is a number other than zero."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from funnel_local.demo_plan import CHANNELS
from tests.local_runs import LocalServe, run_command, scratch_data_dir, server_processes

pytestmark = pytest.mark.e2e

ADMIN = {"x-admin-key": "local-admin-key"}
DEVICES = ("desktop", "mobile", "tablet")


@pytest.fixture(scope="module")
def demo_data_dir() -> Iterator[Path]:
    """A data directory the demo filled, at a third of its default traffic."""
    with scratch_data_dir("funnel-demo-") as directory:
        result = run_command(
            directory, "demo", "--scale", "0.35", ADMIN_API_KEY="", WEBHOOK_SIGNING_SECRETS=""
        )
        assert result.returncode == 0, result.stderr[-3000:]
        print(result.stdout)
        yield directory


@pytest.fixture(scope="module")
def serve(demo_data_dir: Path) -> Iterator[LocalServe]:
    running = LocalServe(
        demo_data_dir,
        demo_data_dir.parent / "run.log",
        arguments=("--no-schedules",),
        extra_environment={"ADMIN_API_KEY": "", "WEBHOOK_SIGNING_SECRETS": ""},
    )
    yield running.start()
    running.send(signal.SIGTERM)
    running.wait()


def zero_or_missing_leaves(document: Any, path: str = "") -> list[str]:
    """Where the answer holds a zero, a null or an empty object or list."""
    if isinstance(document, dict):
        if not document:
            return [path or "(root)"]
        return [
            found
            for key, value in document.items()
            for found in zero_or_missing_leaves(value, f"{path}.{key}")
        ]
    if isinstance(document, list):
        if not document:
            return [path]
        return [
            found
            for index, value in enumerate(document)
            for found in zero_or_missing_leaves(value, f"{path}[{index}]")
        ]
    if document is None or (
        isinstance(document, int | float) and not isinstance(document, bool) and document == 0
    ):
        return [path]
    return []


def test_the_demo_leaves_no_metric_at_zero(serve):
    # Given the demo's data, rolled up, and make run serving it
    # When both metrics routes are asked for the last 30 days with their comparison (the
    # summary with its breakdowns, as the dashboard asks for it)
    status, summary = serve.get(
        "/v1/metrics/summary?period=30d&includeFunnel=true&compareTo=true&includeBreakdowns=true", ADMIN
    )
    assert status == 200, summary
    status, usage = serve.get("/v1/metrics/service-usage?period=30d&groupBy=channel&compareTo=true", ADMIN)
    assert status == 200, usage

    # Then no field of either is zero or null: every value, every delta, every day of the trends
    assert zero_or_missing_leaves(summary) == [], json.dumps(summary, indent=1)
    assert zero_or_missing_leaves(usage) == [], json.dumps(usage, indent=1)
    # And the traffic came from every channel, and each channel brought tenants
    assert set(summary["metrics"]["trafficSourceMix"]) == set(CHANNELS)
    assert set(usage["funnelByGroup"]["groups"]) == set(CHANNELS)
    # And the breakdowns cover every channel and device type, and the site's pages
    breakdowns = summary["breakdowns"]
    assert {row["key"] for row in breakdowns["sources"]} == set(CHANNELS)
    assert {row["key"] for row in breakdowns["devices"]} == set(DEVICES)
    assert len(breakdowns["topPages"]) > 1 and len(breakdowns["landingPages"]) > 1
    # And the windows are 30 complete days, and the 30 before
    assert len(summary["trend"]) == 30 and len(summary["compareTrend"]) == 30 and len(usage["trend"]) == 30
    assert summary["freshness"]["lagDays"] == 1


def test_the_demo_refuses_a_database_with_data_and_resets_on_request(demo_data_dir, serve):
    # Given the demo's data, and make run using the server
    # When the demo runs again
    again = run_command(demo_data_dir, "demo", "--scale", "0.05")

    # Then it refuses, says how to reset, and changes nothing
    assert again.returncode == 1
    assert "make demo RESET=1" in again.stderr
    # And the server make run uses is still up
    assert len(server_processes(demo_data_dir)) == 1
