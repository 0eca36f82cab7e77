"""The example requests make run prints, done in the order it prints them, over real HTTP:
the visit, the visitor's lead, the tenant signing up with the lead's address; then the local
rollup schedule fires, and the printed metrics request counts all of it, the tenant as the
lead's."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime

import psycopg
import pytest

from funnel_emitter import WebhookEmitter
from funnel_local.cli import HttpExample, LocalSecrets, WebhookExample, local_site_origin, walkthrough
from funnel_local.gateway import start_gateway
from tests.conftest import ADMIN_KEY, REPO, SIGNING_SECRET

pytestmark = pytest.mark.e2e


def send(base_url: str, example: HttpExample) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"{base_url}{example.path}",
        data=None if example.body is None else example.body.encode(),
        method=example.method,
        headers=dict(example.headers),
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_the_printed_requests_make_one_funnel_the_metrics_count(database_url, db: psycopg.Connection):
    # Given make run's gateway and schedules (the rollup every minute), with its keys
    secrets = LocalSecrets(
        admin_api_key=ADMIN_KEY,
        webhook_signing_secrets=SIGNING_SECRET,
        admin_api_key_is_default=False,
        webhook_signing_secrets_are_default=False,
        webhook_api_keys="banner-webhook-key",
        metrics_api_keys="banner-metrics-key",
        webhook_api_keys_are_default=False,
        metrics_api_keys_are_default=False,
    )
    today = datetime.now(UTC).date()
    with start_gateway(
        REPO / "template.yaml",
        env_overrides=lambda url: secrets.environment(database_url, url),
        run_schedules=True,
        schedule_overrides={"RollupFunction": "rate(1 minute)"},
    ) as gateway:
        *steps, metrics = walkthrough(secrets, today, site_origin=local_site_origin())
        assert isinstance(metrics, HttpExample)

        # When the printed requests are made in the printed order
        for step in steps:
            if isinstance(step, WebhookExample):
                emitter = WebhookEmitter(
                    f"{gateway.url}/v1/webhooks/description-service",
                    signing_secret=secrets.signing_secret,
                    admin_key=secrets.webhook_key,
                    timeout=30,
                    sleep=lambda seconds: None,
                )
                result = emitter.send(step.event_type, step.tenant_id, dict(step.payload))
                assert result.ok, result.body
            else:
                status, body = send(gateway.url, step)
                assert 200 <= status < 300, body
        # And the rollup's schedule fires, as it does a minute later
        scheduler = gateway.scheduler
        assert scheduler is not None
        (rollup,) = [s for s in scheduler.schedules if s.function_id == "RollupFunction"]
        due = scheduler.next_firing(rollup)
        assert due is not None
        for invocation in scheduler.fire_due(due):
            invocation.join(120)

        # Then the printed metrics request counts the visit, the lead and the tenant
        status, summary = send(gateway.url, metrics)

    assert status == 200, summary
    funnel = summary["funnel"]
    assert summary["metrics"]["totalPageViews"]["value"] == 1
    assert summary["metrics"]["uniqueVisitors"]["value"] == 1
    assert (funnel["leadsCaptured"], funnel["tenantsCreated"]) == (1, 1)
    # The tenant came from the lead, because the lead was captured first
    assert funnel["leadToTenantConversionRate"] == 1.0
    assert db.execute(
        "SELECT count(*) FROM tenant_milestones m JOIN leads l ON l.id = m.lead_id"
    ).fetchone() == (1,)
