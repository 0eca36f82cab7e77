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

import pytest

pytestmark = pytest.mark.integration

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


def test_a_traced_use_case_is_its_own_subsegment_in_a_traced_function():
    # Given a traced function invoked with Lambda's trace header
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(10)
        environment = {
            **os.environ,
            "LAMBDA_TASK_ROOT": os.getcwd(),
            "AWS_LAMBDA_FUNCTION_NAME": "traced",
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
            "POWERTOOLS_TRACE_DISABLED": "false",
        }
        # When its handler is first invoked and calls a traced use case
        completed = subprocess.run(  # noqa: S603 - this interpreter, our own code
            [sys.executable, "-c", CALL], env=environment, capture_output=True, text=True, timeout=120
        )
        assert completed.returncode == 0, completed.stderr
        # Then the subsegment reaches the daemon, named as Powertools names a method
        _, _, document = daemon.recv(65536).decode().partition("\n")
    subsegment = json.loads(document)
    assert subsegment["name"] == "## __main__.count_rows"
    assert subsegment["type"] == "subsegment"
    assert subsegment["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    # And the SDK was loaded by the invocation, not before
    assert completed.stdout.split() == ["False", "3", "True"]
