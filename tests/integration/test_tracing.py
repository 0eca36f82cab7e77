"""A use case marked ``traced`` is recorded as its own X-Ray subsegment in a function whose
handler is ``traced_handler`` (the SDK loaded on its first invocation): run as Lambda runs
it (its trace header set), in a fresh interpreter, with the X-Ray daemon's UDP address on
127.0.0.1 where the test listens."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from funnel.metrics.api import visitors_now
from tests.builders import api_event
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.integration

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"

CALL = """
import sys
from funnel.platform.observability import traced, traced_handler

@traced
def count_rows(table):
    return 3

@traced_handler
def handler(event, context):
    return count_rows("tenant_events")

class Context:
    function_name = "traced"
    aws_request_id = "request"

before = "aws_xray_sdk" in sys.modules
print(before, handler({}, Context()), "aws_xray_sdk" in sys.modules)
"""

# A traced function's handler module, invoked once with an event read from stdin.
INVOKE = """
import importlib, json, sys

class Context:
    function_name = "traced"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:traced"
    aws_request_id = "request"

    @staticmethod
    def get_remaining_time_in_millis():
        return 10_000

handler = importlib.import_module(sys.argv[1]).lambda_handler
print(handler(json.load(sys.stdin), Context())["statusCode"])
"""


def lambda_environment(daemon: socket.socket) -> dict[str, str]:
    """This environment as Lambda sets it for a traced invocation, the daemon here."""
    return {
        **os.environ,
        "LAMBDA_TASK_ROOT": os.getcwd(),
        "AWS_LAMBDA_FUNCTION_NAME": "traced",
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "POWERTOOLS_TRACE_DISABLED": "false",
    }


def received(daemon: socket.socket) -> Iterator[dict[str, Any]]:
    """Each document the daemon receives (a header line, then the JSON), until none comes."""
    daemon.settimeout(5)
    while True:
        try:
            datagram = daemon.recv(65536)
        except TimeoutError:
            return
        _, _, document = datagram.decode().partition("\n")
        yield json.loads(document)


def subsegments(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """A document and every subsegment nested in it."""
    yield document
    for nested in document.get("subsegments", []):
        yield from subsegments(nested)


def test_a_traced_use_case_is_its_own_subsegment_in_a_traced_function():
    # Given a traced function invoked with Lambda's trace header
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(10)
        # When its handler is first invoked and calls a traced use case
        completed = subprocess.run(  # noqa: S603 - this interpreter, our own code
            [sys.executable, "-c", CALL],
            env=lambda_environment(daemon),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, completed.stderr
        # Then the subsegment reaches the daemon, named as Powertools names a method
        _, _, document = daemon.recv(65536).decode().partition("\n")
    subsegment = json.loads(document)
    assert subsegment["name"] == "## __main__.count_rows"
    assert subsegment["type"] == "subsegment"
    assert subsegment["trace_id"] == TRACE_ID
    # And the SDK was loaded by the invocation, not before
    assert completed.stdout.split() == ["False", "3", "True"]


def test_the_metrics_function_records_its_use_case_and_its_database_time_in_the_trace(lambda_env, db):
    # Given the metrics function, traced, and a request for the visitors on the site now
    event = api_event("metrics/now", headers={"authorization": None, "x-admin-key": ADMIN_KEY})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        # When its handler answers it, reading the database
        completed = subprocess.run(  # noqa: S603 - this interpreter, our own code
            [sys.executable, "-c", INVOKE, "metrics_handler"],
            input=json.dumps(event),
            env=lambda_environment(daemon),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout.split()[-1] == "200"
        recorded = [found for document in received(daemon) for found in subsegments(document)]
    # Then the handler and, within it, the use case that read the database are subsegments
    # of the invocation's trace, the use case timed from its start to its end
    names = {found["name"]: found for found in recorded}
    assert "## lambda_handler" in names, sorted(names)
    use_case = names[f"## {visitors_now.__module__}.{visitors_now.__qualname__}"]
    assert use_case["trace_id"] == TRACE_ID
    assert use_case["end_time"] > use_case["start_time"]
