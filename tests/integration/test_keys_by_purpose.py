"""Keys by purpose through the real handlers, on real PostgreSQL: a webhook key opens the
webhook route and nothing else, a metrics key reads the metrics routes and nothing else,
and the admin key works everywhere it did, on the webhook route as the deployment says."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

import leads_admin_handler
import metrics_handler
import webhook_handler
from funnel.metrics.api import ReportCache
from funnel.platform.runtime import reset_runtime
from funnel_local.cli import LOCAL_METRICS_API_KEY, LOCAL_WEBHOOK_API_KEY
from tests.builders import api_event, response_json, webhook_event
from tests.conftest import ADMIN_KEY, load_event
from tests.read_model import at

pytestmark = pytest.mark.integration

HOOK_OLD = "webhook-key-being-retired-0001"
HOOK_NEW = "webhook-key-now-in-use-0002"
READ_KEY = "metrics-read-only-key-0003"
EMAIL = "ada@example.org"
NOW = at(2, 14, 9)  # the metrics samples ask for 2026-01-14..2026-02-12


def bearer(key: str) -> dict[str, str | None]:
    """Headers presenting ``key`` as a bearer token, and no ``x-admin-key``."""
    return {"authorization": f"Bearer {key}", "x-admin-key": None}


@pytest.fixture
def keys(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    """Every purpose configured: the admin key, two webhook keys (a rotation under way)
    and a metrics key; the webhook route takes the admin key (the default)."""
    lambda_env.setenv("WEBHOOK_API_KEYS", f"{HOOK_NEW} {HOOK_OLD}")
    lambda_env.setenv("METRICS_API_KEYS", READ_KEY)
    reset_runtime()
    set_clock(NOW)
    lambda_env.setattr(metrics_handler, "cache", ReportCache())
    return lambda_env


def refuse_admin_key_on_webhook(env: pytest.MonkeyPatch, value: str = "true") -> None:
    env.setenv("WEBHOOK_REFUSES_ADMIN_KEY", value)
    reset_runtime()


def deliver(context: Any, headers: dict[str, str | None], sample: str = "tenant_created") -> dict[str, Any]:
    response: dict[str, Any] = webhook_handler.lambda_handler(webhook_event(sample, headers=headers), context)
    return response


def read_metrics(
    context: Any, headers: dict[str, str | None], sample: str = "metrics/summary"
) -> dict[str, Any]:
    response: dict[str, Any] = metrics_handler.lambda_handler(api_event(sample, headers=headers), context)
    return response


def administer(
    context: Any, headers: dict[str, str | None], sample: str = "leads_admin/delete_lead"
) -> dict[str, Any]:
    event = api_event(sample, body={"email": EMAIL}, headers=headers)
    response: dict[str, Any] = leads_admin_handler.lambda_handler(event, context)
    return response


def stored_webhooks(db: psycopg.Connection) -> int:
    count: int = db.execute("SELECT count(*) FROM tenant_events").fetchone()[0]
    return count


def emitted(printed: str, metric_name: str) -> float:
    """The sum of a metric over the CloudWatch embedded-metric documents printed."""
    total = 0.0
    for line in printed.splitlines():
        if '"_aws"' in line and metric_name in (document := json.loads(line)):
            value = document[metric_name]
            total += sum(value) if isinstance(value, list) else value
    return total


UNAUTHORIZED = {"ok": False, "error": "unauthorized", "details": None}


class TestTheWebhookKey:
    @pytest.mark.parametrize("key", [HOOK_NEW, HOOK_OLD])
    def test_either_webhook_key_of_a_rotation_delivers(self, keys, db, context, key):
        response = deliver(context, {"x-admin-key": key})
        assert response["statusCode"] == 200, response["body"]
        assert stored_webhooks(db) == 1

    @pytest.mark.parametrize("sample", ["metrics/summary", "metrics/service_usage"])
    @pytest.mark.parametrize("headers", [{"x-admin-key": HOOK_NEW}, bearer(HOOK_NEW)])
    def test_it_does_not_read_metrics(self, keys, context, sample, headers):
        response = read_metrics(context, headers, sample)
        assert (response["statusCode"], response_json(response)) == (401, UNAUTHORIZED)

    @pytest.mark.parametrize("sample", ["leads_admin/delete_lead", "leads_admin/unsubscribe_link"])
    def test_it_does_not_administer_leads(self, keys, db, context, row_counts, sample):
        # Given a lead
        db.execute("INSERT INTO leads (email_normalized) VALUES (%s)", (EMAIL,))
        before = row_counts()
        # When the webhook key asks to delete it, or for its unsubscribe link
        response = administer(context, {"x-admin-key": HOOK_NEW}, sample)
        # Then it is refused and nothing changes
        assert (response["statusCode"], response_json(response)) == (401, UNAUTHORIZED)
        assert row_counts() == before

    def test_a_retired_key_is_refused_once_the_rotation_ends(self, keys, db, context):
        keys.setenv("WEBHOOK_API_KEYS", HOOK_NEW)
        reset_runtime()
        assert deliver(context, {"x-admin-key": HOOK_OLD})["statusCode"] == 401
        assert deliver(context, {"x-admin-key": HOOK_NEW})["statusCode"] == 200
        assert stored_webhooks(db) == 1

    def test_a_webhook_key_still_needs_the_signature(self, keys, db, context):
        keys.setenv("WEBHOOK_SIGNING_SECRETS", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        reset_runtime()
        response = deliver(context, {"x-admin-key": HOOK_NEW})
        assert response["statusCode"] == 401
        assert response_json(response)["error"] == "invalid_signature"
        assert stored_webhooks(db) == 0


class TestTheAdminKeyOnTheWebhook:
    def test_it_delivers_by_default(self, keys, db, context):
        assert deliver(context, {"x-admin-key": ADMIN_KEY})["statusCode"] == 200
        assert stored_webhooks(db) == 1

    def test_it_delivers_when_the_parameter_is_false(self, keys, db, context):
        refuse_admin_key_on_webhook(keys, "false")
        assert deliver(context, {"x-admin-key": ADMIN_KEY})["statusCode"] == 200

    def test_it_is_refused_when_the_parameter_is_true_and_the_webhook_key_is_not(self, keys, db, context):
        # Given a deployment that refuses the admin key on the webhook
        refuse_admin_key_on_webhook(keys)
        # When the admin key delivers, then the webhook key
        refused = deliver(context, {"x-admin-key": ADMIN_KEY})
        accepted = deliver(context, {"x-admin-key": HOOK_NEW}, "scan_completed")
        # Then the first is 401 and not stored, the second stored
        assert (refused["statusCode"], response_json(refused)) == (401, UNAUTHORIZED)
        assert accepted["statusCode"] == 200
        assert stored_webhooks(db) == 1

    def test_refusing_it_does_not_touch_the_other_routes(self, keys, db, context):
        refuse_admin_key_on_webhook(keys)
        assert read_metrics(context, {"x-admin-key": ADMIN_KEY})["statusCode"] == 200
        assert administer(context, {"x-admin-key": ADMIN_KEY})["statusCode"] == 200

    def test_refusing_it_without_a_webhook_key_closes_the_route(self, keys, db, context, row_counts):
        keys.delenv("WEBHOOK_API_KEYS")
        refuse_admin_key_on_webhook(keys)
        response = deliver(context, {"x-admin-key": ADMIN_KEY})
        assert response["statusCode"] == 503
        assert response_json(response)["error"] == "webhook_auth_not_configured"
        assert sum(row_counts().values()) == 0

    def test_operators_see_which_key_each_delivery_used(self, keys, db, context, capsys):
        # (so they know when no sender uses the admin key any more, before refusing it)
        capsys.readouterr()
        deliver(context, {"x-admin-key": ADMIN_KEY})
        deliver(context, {"x-admin-key": HOOK_NEW}, "scan_completed")
        deliver(context, {"x-admin-key": HOOK_OLD}, "scan_failed")
        printed = capsys.readouterr().out
        assert emitted(printed, "WebhooksWithAdminKey") == 1
        assert emitted(printed, "WebhooksWithWebhookKey") == 2


class TestTheMetricsKey:
    @pytest.mark.parametrize(
        "sample",
        [
            "metrics/summary",
            "metrics/summary_compare_funnel",
            "metrics/service_usage",
            "metrics/service_usage_by_channel",
        ],
    )
    def test_it_reads_every_metrics_route_as_a_bearer_token(self, keys, context, sample):
        with_admin_key = read_metrics(context, {"x-admin-key": ADMIN_KEY}, sample)
        with_read_key = read_metrics(context, bearer(READ_KEY), sample)
        assert with_read_key["statusCode"] == 200, with_read_key["body"]
        assert response_json(with_read_key) == response_json(with_admin_key)

    @pytest.mark.parametrize(
        "headers",
        [
            bearer("wrong-key"),
            bearer(ADMIN_KEY),  # the admin key goes in x-admin-key
            {"authorization": READ_KEY, "x-admin-key": None},  # not a bearer token
            {"x-admin-key": READ_KEY},  # x-admin-key holds the admin key only
            {"x-admin-key": None},
        ],
        ids=["wrong", "admin-as-bearer", "no-scheme", "in-x-admin-key", "none"],
    )
    def test_anything_else_is_401_naming_the_bearer_scheme(self, keys, context, headers):
        response = read_metrics(context, headers)
        assert (response["statusCode"], response_json(response)) == (401, UNAUTHORIZED)
        assert response["headers"]["WWW-Authenticate"] == 'Bearer realm="funnel"'

    def test_it_comes_before_validation(self, keys, context):
        event = api_event("metrics/summary", headers=bearer("wrong-key"), query="from=not-a-date")
        assert metrics_handler.lambda_handler(event, context)["statusCode"] == 401

    @pytest.mark.parametrize("headers", [bearer(READ_KEY), {"x-admin-key": READ_KEY}])
    def test_it_delivers_no_webhook(self, keys, db, context, headers):
        response = deliver(context, headers)
        assert (response["statusCode"], response_json(response)) == (401, UNAUTHORIZED)
        assert stored_webhooks(db) == 0

    @pytest.mark.parametrize("sample", ["leads_admin/delete_lead", "leads_admin/unsubscribe_link"])
    @pytest.mark.parametrize("headers", [bearer(READ_KEY), {"x-admin-key": READ_KEY}])
    def test_it_does_not_administer_leads(self, keys, db, context, row_counts, sample, headers):
        db.execute("INSERT INTO leads (email_normalized) VALUES (%s)", (EMAIL,))
        before = row_counts()
        response = administer(context, headers, sample)
        assert (response["statusCode"], response_json(response)) == (401, UNAUTHORIZED)
        assert row_counts() == before

    def test_without_one_configured_the_admin_key_still_reads(self, keys, context):
        keys.delenv("METRICS_API_KEYS")
        reset_runtime()
        assert read_metrics(context, {"x-admin-key": ADMIN_KEY})["statusCode"] == 200
        assert read_metrics(context, bearer(READ_KEY))["statusCode"] == 401

    def test_operators_see_which_key_each_read_used(self, keys, context, capsys):
        capsys.readouterr()
        read_metrics(context, {"x-admin-key": ADMIN_KEY})
        read_metrics(context, bearer(READ_KEY))
        printed = capsys.readouterr().out
        assert emitted(printed, "MetricsReadsWithAdminKey") == 1
        assert emitted(printed, "MetricsReadsWithMetricsKey") == 1


class TestTheSampleEvents:
    """`events/` shows each route called with the local key of its purpose (`make run`'s
    defaults), as `funnel_local invoke` and `sam local invoke -e` send them."""

    def test_the_webhook_samples_carry_the_webhook_key(self, keys, db, context):
        keys.setenv("WEBHOOK_API_KEYS", LOCAL_WEBHOOK_API_KEY)
        refuse_admin_key_on_webhook(keys)
        response = webhook_handler.lambda_handler(load_event("webhook_ingest/tenant_created.json"), context)
        assert response["statusCode"] == 200, response["body"]

    def test_the_bearer_sample_carries_the_metrics_key(self, keys, context):
        keys.setenv("METRICS_API_KEYS", LOCAL_METRICS_API_KEY)
        reset_runtime()
        event = load_event("metrics/summary_metrics_key.json")
        assert "x-admin-key" not in event["headers"]
        response = metrics_handler.lambda_handler(event, context)
        assert response["statusCode"] == 200, response["body"]
