"""What each function's handler module imports on a cold start: the ingest functions load
neither the X-Ray SDK nor an AWS client (see funnel.tracing and funnel.secrets); the
others load the X-Ray SDK, and their use cases record subsegments. Each import runs in a
fresh interpreter, as a cold start does (``make bench-coldstart`` measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

INGEST = ["webhook_handler", "collect_handler", "health_handler", "unsubscribe_handler"]
TRACED = ["metrics_handler", "rollup_handler", "retention_handler", "migrate_handler", "leads_admin_handler"]
HEAVY = ["aws_xray_sdk", "boto3", "botocore.session", "botocore.client"]


def loaded_after_import(module: str) -> dict[str, bool]:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "import funnel.tracing\n"
        f"loaded = {{name: name in sys.modules for name in {HEAVY!r}}}\n"
        "loaded['tracer'] = funnel.tracing._tracer is not None\n"
        "print(json.dumps(loaded))\n"
    )
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded: dict[str, bool] = json.loads(completed.stdout)
    return loaded


@pytest.mark.parametrize("module", INGEST)
def test_an_ingest_function_starts_without_the_xray_sdk_or_an_aws_client(module):
    loaded = loaded_after_import(module)
    assert not any(loaded.values()), loaded


@pytest.mark.parametrize("module", TRACED)
def test_the_other_functions_load_the_xray_sdk_and_trace_their_use_cases(module):
    loaded = loaded_after_import(module)
    assert loaded["aws_xray_sdk"]
    assert loaded["tracer"]
