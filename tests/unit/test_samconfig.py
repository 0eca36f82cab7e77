"""samconfig.toml's production section, read by the SAM CLI itself: its ``deploy`` command
parses ``--config-env prod`` (its config reader, its option types) and deploys nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode
from samcli.commands.deploy.command import cli as deploy_command
from samcli.commands.deploy.guided_config import GuidedConfig

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"

# What the README's Deploy section tells the first, guided deploy to answer.
ACCOUNT_ANSWERS = {
    "WebhookSigningSecretsArn": "arn:aws:secretsmanager:ca-central-1:123456789012:secret:signing-AbCdEf",
    "VpcId": "vpc-0123456789abcdef0",
    "VpcSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    "AlarmEmail": "oncall@example.com",
}


@pytest.fixture(scope="module")
def parameters() -> dict[str, dict[str, Any]]:
    document, problems = decode(str(TEMPLATE))
    assert document is not None, problems
    return dict(document["Parameters"])


def deploy_options(config: Path, environment: str = "prod") -> dict[str, Any]:
    """The options ``sam deploy --config-env <environment>`` would run with, from ``config``."""
    arguments = ["--config-file", str(config), "--config-env", environment, "--template-file", str(TEMPLATE)]
    with deploy_command.make_context("deploy", arguments) as context:
        # (the region option is not a parameter of the command: it is read from the file)
        return {**context.params, "region": (context.default_map or {}).get("region")}


def guided_deploy(config: Path, parameters: dict[str, dict[str, Any]], answers: dict[str, str]) -> None:
    """Save what ``sam deploy --guided --config-env prod`` saves: every parameter (prefilled
    from the section and the template's defaults, then answered), the stack and the region."""
    prefilled = deploy_options(config)
    overrides = prefilled["parameter_overrides"]
    values = {
        name: {
            "Value": answers.get(name, overrides.get(name, str(spec.get("Default", "")))),
            "Hidden": spec.get("NoEcho", False),
        }
        for name, spec in parameters.items()
    }
    arguments = ["--config-file", str(config), "--config-env", "prod", "--guided"]
    with deploy_command.make_context("deploy", arguments) as context:
        context.samconfig_dir = str(config.parent)  # type: ignore[attr-defined]
        GuidedConfig(str(config.parent / "template.yaml"), "parameters").save_config(
            values,
            "prod",
            config.name,
            stack_name=prefilled["stack_name"],
            resolve_s3=True,
            s3_prefix=prefilled["stack_name"],
            region="ca-central-1",
            confirm_changeset=True,
            capabilities=prefilled["capabilities"],
            disable_rollback=False,
        )


def test_the_prod_section_names_the_stack_the_stage_and_what_a_deploy_needs(parameters):
    options = deploy_options(REPO / "samconfig.toml")
    assert options["stack_name"] == "funnel-prod"
    assert options["parameter_overrides"]["Stage"] == "prod"
    assert set(options["parameter_overrides"]) <= set(parameters)
    # (the template's roles have generated names; nothing is deployed without a change set shown)
    assert {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"} <= set(options["capabilities"])
    assert options["resolve_s3"] is True and options["confirm_changeset"] is True
    # What it leaves to the guided deploy is exactly the parameters with no default
    required = {name for name, spec in parameters.items() if "Default" not in spec}
    assert required - set(options["parameter_overrides"]) == {"WebhookSigningSecretsArn"}


def test_after_the_first_guided_deploy_a_plain_deploy_has_every_answer(parameters, tmp_path):
    # Given the guided deploy of the README, answered once
    config = tmp_path / "samconfig.toml"
    shutil.copy(REPO / "samconfig.toml", config)
    guided_deploy(config, parameters, ACCOUNT_ANSWERS)

    # When `sam deploy --config-env prod` reads the section
    options = deploy_options(config)

    # Then it has the answers, the stage and the region, and keeps the section's own options
    overrides = options["parameter_overrides"]
    assert {name: overrides[name] for name in ACCOUNT_ANSWERS} == ACCOUNT_ANSWERS
    assert overrides["Stage"] == "prod" and overrides["LogLevel"] == "INFO"
    assert set(overrides) == set(parameters)
    assert (options["stack_name"], options["region"]) == ("funnel-prod", "ca-central-1")
    assert options["fail_on_empty_changeset"] is False
    # and the default environment (funnel-dev) is untouched
    default, committed = deploy_options(config, "default"), deploy_options(REPO / "samconfig.toml", "default")
    assert {**default, "config_file": None} == {**committed, "config_file": None}
