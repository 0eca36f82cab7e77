"""The README's Deploy section: its commands make what Funnel accepts and name what the
stack outputs."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from cfnlint.decode import decode

from funnel.platform.signatures import secret_key
from funnel.readmodel.schemas import RollupRange

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def deploy() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Deploy\n")
    return readme[start : readme.index("\n## ", start + 1)]


def test_the_signing_secret_command_makes_a_secret_of_32_random_bytes(deploy):
    (line,) = [line for line in deploy.splitlines() if line.startswith('secret="whsec_')]
    made = [
        subprocess.run(  # noqa: S603 - the README's own line, as an operator runs it
            ["/bin/bash", "-c", f'{line}; printf %s "$secret"'],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        for _ in range(2)
    ]
    assert [len(secret_key(secret)) for secret in made] == [32, 32]
    assert made[0] != made[1]


def test_the_invocations_name_functions_the_stack_outputs(deploy):
    document, problems = decode(str(REPO / "template.yaml"))
    assert document is not None, problems
    named = set(re.findall(r"`?(?:output )?(\w+FunctionName)`?", deploy))
    assert {"RollupFunctionName", "RetentionPurgeFunctionName", "MigrateFunctionName"} <= named
    for output in named:
        function = document["Outputs"][output]["Value"]["Ref"]
        assert document["Resources"][function]["Type"] == "AWS::Serverless::Function"


def test_the_backfill_payload_is_a_range_the_rollup_function_takes(deploy):
    (payload,) = re.findall(r"--payload '(\{\"from\"[^']*)'", deploy)
    requested = RollupRange.model_validate(json.loads(payload), context={"today": date(2026, 12, 3)})
    assert (requested.from_, requested.to) == (date(2026, 11, 1), date(2026, 11, 30))
