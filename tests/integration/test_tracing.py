"""A use case marked ``traced`` is recorded as its own X-Ray subsegment in a function that
started the tracer: run as Lambda runs it (its trace header set), in a fresh interpreter,
with the X-Ray daemon's UDP address on 127.0.0.1 where the test listens."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

CALL = """
from funnel.tracing import start_tracer, traced

@traced
def count_rows(table):
    return 3

tracer = start_tracer()

@tracer.capture_lambda_handler(capture_response=False)
def handler(event, context):
    return count_rows("tenant_events")

class Context:
    function_name = "bench"
    aws_request_id = "request"

print(handler({}, Context()))
"""


def test_a_traced_use_case_is_its_own_subsegment_in_a_traced_function():
    # Given a function that started the tracer, invoked with Lambda's trace header
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
        # When its handler calls a traced use case
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
    assert completed.stdout.strip() == "3"
