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


# Keys by purpose: the references that name each key's secret, given or generated.
KEY_SECRETS = {
    "admin": {"AdminApiKeySecret", "AdminApiKeySecretArn"},
    "webhook": {"WebhookApiKeySecret", "WebhookApiKeySecretArn"},
    "metrics": {"MetricsApiKeySecret", "MetricsApiKeySecretArn"},
}


def _holds(condition: Any, document: dict[str, Any], parameters: dict[str, str]) -> Any:
    """The value of a condition or of the plain intrinsics a condition uses."""
    if isinstance(condition, dict):
        ((name, argument),) = condition.items()
        if name == "Condition":
            return _holds(document["Conditions"][argument], document, parameters)
        if name == "Ref":
            return parameters.get(argument, document["Parameters"][argument].get("Default", ""))
        if name == "Fn::Equals":
            left, right = (_holds(side, document, parameters) for side in argument)
            return left == right
        if name == "Fn::Not":
            return not _holds(argument[0], document, parameters)
        if name == "Fn::Join":
            separator, values = argument
            value = _holds(values, document, parameters)
            return separator.join(value if isinstance(value, list) else value.split(","))
    return condition


def _chosen(value: Any, document: dict[str, Any], parameters: dict[str, str]) -> Any:
    """``value`` with every ``Fn::If`` replaced by its chosen branch, ``AWS::NoValue`` dropped."""
    if isinstance(value, list):
        items = [_chosen(item, document, parameters) for item in value]
        return [item for item in items if item != {"Ref": "AWS::NoValue"}]
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            branch = when_true if _holds({"Condition": name}, document, parameters) else when_false
            return _chosen(branch, document, parameters)
        return {key: _chosen(item, document, parameters) for key, item in value.items()}
    return value


def _refs(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_refs(item) for item in value))
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return {value["Ref"]}
        return set().union(*(_refs(item) for item in value.values()))
    return set()


def key_readers(parameters: dict[str, str]) -> dict[str, set[str]]:
    """For each purpose of key, the functions whose role may read its secret."""
    document = translated(parameters)
    readers: dict[str, set[str]] = {purpose: set() for purpose in KEY_SECRETS}
    for name, resource in document["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role" and name.endswith("FunctionRole"):
            policies = _chosen(resource["Properties"].get("Policies", []), document, parameters)
            for purpose, references in KEY_SECRETS.items():
                if _refs(policies) & references:
                    readers[purpose].add(name.removesuffix("Role"))
    return readers


HOOKS = {"WebhookSigningSecretsArn": "arn:aws:secretsmanager:ca-central-1:123456789012:secret:hooks"}


@pytest.mark.parametrize(
    "given",
    [
        {},
        {
            "AdminApiKeySecretArn": "arn:aws:secretsmanager:ca-central-1:123456789012:secret:admin",
            "WebhookApiKeySecretArn": "arn:aws:secretsmanager:ca-central-1:123456789012:secret:webhook",
            "MetricsApiKeySecretArn": "arn:aws:secretsmanager:ca-central-1:123456789012:secret:metrics",
        },
    ],
    ids=["generated", "given"],
)
def test_each_key_secret_is_readable_only_by_the_functions_that_check_it(given, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    assert key_readers({**HOOKS, **given}) == {
        "admin": {"WebhookIngestFunction", "LeadsAdminFunction", "MetricsFunction"},
        "webhook": {"WebhookIngestFunction"},
        "metrics": {"MetricsFunction"},
    }


def test_a_webhook_refusing_the_admin_key_may_not_read_it(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    readers = key_readers({**HOOKS, "WebhookRefusesAdminKey": "true"})
    assert readers["admin"] == {"LeadsAdminFunction", "MetricsFunction"}
    assert readers["webhook"] == {"WebhookIngestFunction"}


def test_key_secrets_are_generated_unless_given_and_named_by_the_outputs(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    template, _ = decode(str(TEMPLATE))
    assert template is not None
    for purpose, secret in [("Webhook", "WebhookApiKeySecret"), ("Metrics", "MetricsApiKeySecret")]:
        resource = template["Resources"][secret]
        assert resource["Type"] == "AWS::SecretsManager::Secret"
        assert resource["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
        condition = template["Conditions"][resource["Condition"]]
        assert condition == {"Fn::Equals": [{"Ref": f"{purpose}ApiKeySecretArn"}, ""]}
        assert _refs(template["Outputs"][secret]["Value"]) == {secret, f"{purpose}ApiKeySecretArn"}
    refusal = template["Parameters"]["WebhookRefusesAdminKey"]
    assert (refusal["Default"], refusal["AllowedValues"]) == ("false", ["false", "true"])


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


def test_each_function_carries_the_layers_it_needs_and_no_more(monkeypatch):
    # Given the template, with the secrets extension's layer
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    extension = (
        "arn:aws:lambda:ca-central-1:200266452380:layer:AWS-Parameters-and-Secrets-Lambda-Extension:12"
    )
    resources = translated(
        {
            "WebhookSigningSecretsArn": "arn:aws:secretsmanager:ca-central-1:123456789012:secret:hooks",
            "SecretsExtensionLayerArn": extension,
        }
    )["Resources"]

    def layers(function: str) -> list[str]:
        names = []
        for entry in resources[function]["Properties"]["Layers"]:
            if "Fn::If" in entry:
                assert entry["Fn::If"][1] == {"Ref": "SecretsExtensionLayerArn"}
                names.append("SecretsExtension")
            else:
                names.append(entry["Ref"].rstrip("0123456789abcdef").removesuffix("Layer"))
        return names

    # Then the ingest functions load the shared layer only, the tracing layer goes to the
    # functions that load the X-Ray SDK, and numpy and DataSketches to those of sketches
    for function in ("WebhookIngestFunction", "CollectFunction", "HealthFunction", "UnsubscribeFunction"):
        assert layers(function) == ["Funnel", "SecretsExtension"], function
    for function in (
        "LeadsAdminFunction",
        "RetentionPurgeFunction",
        "MigrateFunction",
        "IngestBufferFunction",
    ):
        assert layers(function) == ["Funnel", "SecretsExtension", "Tracing"], function
    for function in ("RollupFunction", "MetricsFunction"):
        assert layers(function) == ["Funnel", "SecretsExtension", "Tracing", "Analytics"], function
