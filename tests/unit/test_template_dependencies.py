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


def test_every_function_but_the_migrator_waits_for_the_migrations():
    # (On a first deploy there are no tables before them; on an update, new code would
    # otherwise run against the old schema while they apply.)
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
    assert waiting == set(functions) - {"MigrateFunction"}
