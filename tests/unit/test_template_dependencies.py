"""The template as CloudFormation receives it, after SAM's transform: `sam validate --lint`
lints the template before the transform, which hides what only the transform creates (an
API's routes referring to its functions), such as a circular dependency that CloudFormation
would refuse a change set for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all
from cfnlint.decode import decode
from samtranslator.translator.transform import transform

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class ManagedPolicies:
    """The managed policies the template names, by ARN (the transform asks IAM otherwise)."""

    @staticmethod
    def load() -> dict[str, str]:
        return {
            name: f"arn:aws:iam::aws:policy/{path}{name}"
            for name, path in {
                "AWSLambdaBasicExecutionRole": "service-role/",
                "AWSLambdaVPCAccessExecutionRole": "service-role/",
                "AWSXrayWriteOnlyAccess": "",
            }.items()
        }


def translated(parameters: dict[str, str]) -> dict[str, Any]:
    template, _ = decode(str(TEMPLATE))
    assert template is not None
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://funnel-artifacts/code.zip"
    result: dict[str, Any] = transform(template, parameters, ManagedPolicies())
    return result


@pytest.mark.parametrize(
    "parameters",
    [
        {},  # the defaults: the template creates the database and the admin key
        {
            "DatabaseSecretArn": "arn:aws:secretsmanager:ca-central-1:123456789012:secret:db",
            "PublicBaseUrl": "https://go.example.org",
        },
    ],
    ids=["defaults", "existing-database-and-domain"],
)
def test_cloudformation_can_order_every_resource(parameters, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    required = {"WebhookSigningSecretsArn": "arn:aws:secretsmanager:ca-central-1:123456789012:secret:hooks"}
    document = translated({**required, **parameters})
    cycles = [match for match in lint_all(json.dumps(document)) if match.rule.id == "E3004"]
    assert cycles == []


def test_every_function_that_reads_the_database_waits_for_the_migrations():
    # (On a first deploy there are no tables before them; on an update, new code would
    # otherwise run against the old schema while they apply. The migrator runs them, and
    # the static files' function reads no database.)
    template, _ = decode(str(TEMPLATE))
    assert template is not None
    functions = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    waiting = set()
    for name, resource in functions.items():
        depends_on = resource.get("DependsOn") or []
        if "SchemaMigrations" in ([depends_on] if isinstance(depends_on, str) else depends_on):
            waiting.add(name)
    assert waiting == set(functions) - {"MigrateFunction", "AssetsFunction"}


def test_the_static_files_function_carries_nothing_it_does_not_use(monkeypatch):
    # Given the template deployed into a VPC with an existing database
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    document = translated(
        {
            "WebhookSigningSecretsArn": "arn:aws:secretsmanager:ca-central-1:123456789012:secret:hooks",
            "DatabaseSecretArn": "arn:aws:secretsmanager:ca-central-1:123456789012:secret:db",
            "VpcSubnetIds": "subnet-1",
            "VpcSecurityGroupIds": "sg-1",
        }
    )
    resources = document["Resources"]
    assets = resources["AssetsFunction"]["Properties"]

    # Then, unlike the database functions, the assets function has no layer, no VPC, no
    # environment (no database secret to wait for) and a role that only logs and traces
    no_value = {"Ref": "AWS::NoValue"}
    assert (assets["Layers"], assets["VpcConfig"], assets["Environment"]) == (no_value, {}, no_value)
    assert str(resources["HealthFunction"]["Properties"]["Layers"]).startswith("[{'Ref': 'FunnelLayer")
    assert "SubnetIds" in str(resources["HealthFunction"]["Properties"]["VpcConfig"])
    role = resources["AssetsFunctionRole"]["Properties"]
    assert sorted(arn.rsplit("/", 1)[1] for arn in role["ManagedPolicyArns"]) == [
        "AWSLambdaBasicExecutionRole",
        "AWSXrayWriteOnlyAccess",
    ]
    assert "Policies" not in role
