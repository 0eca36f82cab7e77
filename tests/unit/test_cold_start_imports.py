"""What each function's handler module imports on a cold start: neither the X-Ray SDK (the
ingest functions never load it, the others on their first invocation: see funnel.platform.observability)
nor an AWS client (see funnel.platform.secrets), nor, but where sketches are read or written,
numpy. Each import runs in a fresh interpreter, as a cold start does (``make
bench-coldstart`` measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

INGEST = ["webhook_handler", "collect_handler", "health_handler", "unsubscribe_handler"]
TRACED = ["leads_admin_handler", "retention_handler", "migrate_handler", "buffer_handler"]
ANALYTICS = ["metrics_handler", "rollup_handler"]
WATCHED = ["aws_xray_sdk", "boto3", "botocore.session", "botocore.client", "numpy", "datasketches"]


def loaded_after_import(module: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps([name for name in {WATCHED!r} if name in sys.modules]))\n"
    )
    completed = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(completed.stdout))


@pytest.mark.parametrize("module", INGEST + TRACED)
def test_a_function_that_keeps_no_sketches_starts_with_none_of_them(module):
    assert loaded_after_import(module) == set()


@pytest.mark.parametrize("module", ANALYTICS)
def test_the_functions_of_sketches_start_with_numpy_and_datasketches_only(module):
    assert loaded_after_import(module) == {"numpy", "datasketches"}
