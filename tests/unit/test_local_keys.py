"""The keys a local run gives every function, and what `make run` prints about them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from funnel_local.cli import (
    LOCAL_METRICS_API_KEY,
    LOCAL_WEBHOOK_API_KEY,
    LocalSecrets,
    _banner,
)
from funnel_local.template import load_template

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_refusal(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("WEBHOOK_REFUSES_ADMIN_KEY", raising=False)
    return monkeypatch


def test_without_variables_every_key_has_its_printed_local_default(no_refusal):
    secrets = LocalSecrets.from_environment({})
    environment = secrets.environment("dbname=funnel", "http://127.0.0.1:3000")
    assert (environment["WEBHOOK_API_KEYS"], environment["METRICS_API_KEYS"]) == (
        LOCAL_WEBHOOK_API_KEY,
        LOCAL_METRICS_API_KEY,
    )
    assert secrets.webhook_api_keys_are_default and secrets.metrics_api_keys_are_default
    # The template decides whether the webhook takes the admin key
    assert "WEBHOOK_REFUSES_ADMIN_KEY" not in environment


def test_variables_win_and_the_first_of_several_keys_is_the_one_to_send(no_refusal):
    secrets = LocalSecrets.from_environment(
        {"WEBHOOK_API_KEYS": " hook-new hook-old ", "METRICS_API_KEYS": "read-new read-old"}
    )
    environment = secrets.environment("dbname=funnel", "http://127.0.0.1:3000")
    assert (secrets.webhook_key, secrets.metrics_key) == ("hook-new", "read-new")
    assert environment["WEBHOOK_API_KEYS"] == "hook-new hook-old"
    assert environment["METRICS_API_KEYS"] == "read-new read-old"
    assert not (secrets.webhook_api_keys_are_default or secrets.metrics_api_keys_are_default)


def test_the_local_variable_refuses_the_admin_key_on_the_webhook(no_refusal):
    no_refusal.setenv("WEBHOOK_REFUSES_ADMIN_KEY", "true")
    environment = LocalSecrets.from_environment({}).environment("dbname=funnel", "http://127.0.0.1:3000")
    assert environment["WEBHOOK_REFUSES_ADMIN_KEY"] == "true"


@pytest.mark.parametrize(
    ("overrides", "refuses"), [({}, "false"), ({"WebhookRefusesAdminKey": "true"}, "true")]
)
def test_the_template_parameter_reaches_the_webhook_function_only(overrides, refuses):
    template = load_template(REPO / "template.yaml", overrides)
    webhook = template.function("WebhookIngestFunction").environment
    assert webhook["WEBHOOK_REFUSES_ADMIN_KEY"] == refuses
    # The generated secrets exist only once deployed: locally the variables hold the keys
    assert "WEBHOOK_API_KEYS_SECRET_ARN" not in webhook
    assert "METRICS_API_KEYS_SECRET_ARN" not in template.function("MetricsFunction").environment
    others = [
        spec.environment for name, spec in template.functions.items() if name != "WebhookIngestFunction"
    ]
    assert not any("WEBHOOK_REFUSES_ADMIN_KEY" in environment for environment in others)


def test_the_banner_shows_each_key_and_the_emitter_sends_the_webhook_key():
    secrets = LocalSecrets.from_environment({"METRICS_API_KEYS": "read-from-shell"})
    gateway = SimpleNamespace(
        url="http://127.0.0.1:3999",
        template=load_template(REPO / "template.yaml"),
        scheduler=None,
        queues=None,
    )
    lines = _banner(gateway, secrets, "embedded PostgreSQL").splitlines()  # type: ignore[arg-type]
    default = "(local default; set WEBHOOK_API_KEYS to change)"
    assert f"Webhook key (x-admin-key):   {LOCAL_WEBHOOK_API_KEY} {default}" in lines
    assert "Metrics key (Bearer):        read-from-shell (from METRICS_API_KEYS)" in lines
    emitter = next(line for line in lines if "funnel_emitter" in line)
    assert f"FUNNEL_ADMIN_KEY={LOCAL_WEBHOOK_API_KEY} " in emitter
