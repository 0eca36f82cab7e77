"""Secrets from Secrets Manager (through moto), end to end through the webhook handler."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws
from psycopg.conninfo import conninfo_to_dict

import metrics_handler
import webhook_handler
from funnel.platform.runtime import reset_runtime
from tests.builders import api_event, response_json, webhook_event
from tests.conftest import SIGNING_SECRET

pytestmark = pytest.mark.integration


@pytest.fixture
def aws(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_admin_key_signing_secrets_and_database_come_from_secrets_manager(
    aws, lambda_env, database_url, db, context
):
    # Given every secret in Secrets Manager, as the deployed template configures them
    parts = conninfo_to_dict(database_url)
    db_secret = aws.create_secret(
        Name="funnel/db",
        SecretString=json.dumps(
            {
                "username": parts.get("user", "postgres"),
                "password": parts.get("password", ""),
                "host": parts["host"],
                "port": int(parts.get("port", 5432)),
                "dbname": parts["dbname"],
            }
        ),
    )["ARN"]
    admin = aws.create_secret(Name="funnel/admin", SecretString="key-from-secrets-manager")["ARN"]
    signing = aws.create_secret(Name="funnel/webhook", SecretString=SIGNING_SECRET)["ARN"]
    lambda_env.delenv("DATABASE_URL")
    lambda_env.delenv("ADMIN_API_KEY")
    lambda_env.setenv("DB_SECRET_ARN", db_secret)
    lambda_env.setenv("DB_SSLMODE", "disable")
    lambda_env.setenv("ADMIN_API_KEY_SECRET_ARN", admin)
    lambda_env.setenv("WEBHOOK_SIGNING_SECRETS_ARN", signing)
    reset_runtime()

    # When a signed delivery with that key arrives
    event = webhook_event(sign_with=SIGNING_SECRET, headers={"x-admin-key": "key-from-secrets-manager"})
    response = webhook_handler.lambda_handler(event, context)

    # Then it is authenticated and stored
    assert response["statusCode"] == 200, response["body"]
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 1

    # And the old local key no longer opens the door
    stale = webhook_event(sign_with=SIGNING_SECRET)
    assert webhook_handler.lambda_handler(stale, context)["statusCode"] == 401


def test_a_missing_secret_is_503_misconfigured_not_a_500(aws, lambda_env, db, context):
    lambda_env.setenv(
        "ADMIN_API_KEY_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf"
    )
    reset_runtime()
    response = webhook_handler.lambda_handler(webhook_event(), context)
    assert response["statusCode"] == 503
    assert response_json(response)["error"] == "service_misconfigured"


def test_secret_values_are_cached_between_invocations(aws, lambda_env, db, context):
    # Given the admin key in Secrets Manager
    arn = aws.create_secret(Name="funnel/admin-cached", SecretString="first-key")["ARN"]
    lambda_env.setenv("ADMIN_API_KEY_SECRET_ARN", arn)
    reset_runtime()
    assert (
        webhook_handler.lambda_handler(webhook_event(headers={"x-admin-key": "first-key"}), context)[
            "statusCode"
        ]
        == 200
    )

    # When it is rotated, the warm container keeps the cached value until max age passes
    aws.put_secret_value(SecretId=arn, SecretString="second-key")
    again = webhook_event("scan_completed", headers={"x-admin-key": "first-key"})
    assert webhook_handler.lambda_handler(again, context)["statusCode"] == 200


def test_a_rotated_database_password_is_fetched_again_when_the_cached_one_fails(
    aws, lambda_env, database_url, db, context
):
    # Given the database secret in Secrets Manager, holding credentials that no longer
    # work (here a role that does not exist: the embedded server trusts local passwords)
    parts = conninfo_to_dict(database_url)

    def secret_of(user: str) -> str:
        return json.dumps(
            {
                "username": user,
                "password": "irrelevant",
                "host": parts["host"],
                "port": int(parts.get("port", 5432)),
                "dbname": parts["dbname"],
            }
        )

    arn = aws.create_secret(Name="funnel/db", SecretString=secret_of("rotated_away"))["ARN"]
    lambda_env.delenv("DATABASE_URL")
    lambda_env.setenv("DB_SECRET_ARN", arn)
    lambda_env.setenv("DB_SSLMODE", "disable")
    reset_runtime()
    assert webhook_handler.lambda_handler(webhook_event(), context)["statusCode"] == 503

    # When the secret is rotated to working credentials, well within the cache's life
    aws.put_secret_value(SecretId=arn, SecretString=secret_of(parts.get("user", "postgres")))

    # Then the next request fails with the cached value, fetches the secret again and
    # succeeds, rather than failing until the cache expires
    response = webhook_handler.lambda_handler(webhook_event(), context)
    assert response["statusCode"] == 200, response["body"]


def test_webhook_keys_rotate_through_their_secret_without_a_refused_delivery(aws, lambda_env, db, context):
    # Given the webhook keys in their own secret, read afresh on every request
    arn = aws.create_secret(Name="funnel/webhook-keys", SecretString="webhook-key-one")["ARN"]
    lambda_env.setenv("WEBHOOK_API_KEYS_SECRET_ARN", arn)
    lambda_env.setenv("SECRETS_CACHE_SECONDS", "0")
    reset_runtime()

    def deliver(key: str, sample: str) -> int:
        event = webhook_event(sample, headers={"x-admin-key": key})
        status: int = webhook_handler.lambda_handler(event, context)["statusCode"]
        return status

    assert deliver("webhook-key-one", "tenant_created") == 200

    # When a second key is added, both work while the sender switches
    aws.put_secret_value(SecretId=arn, SecretString="webhook-key-two webhook-key-one")
    assert deliver("webhook-key-one", "apikey_created") == 200
    assert deliver("webhook-key-two", "scan_completed") == 200

    # Then, the first removed, only the second does
    aws.put_secret_value(SecretId=arn, SecretString="webhook-key-two")
    assert deliver("webhook-key-one", "scan_failed") == 401
    assert deliver("webhook-key-two", "cluster_created") == 200
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 4


def test_a_webhook_refusing_the_admin_key_never_reads_its_secret(aws, lambda_env, db, context):
    # Given a webhook that refuses the admin key, and so (as the template grants) has no
    # right to read its secret: here, an ARN that does not exist
    hook = aws.create_secret(Name="funnel/webhook-keys-only", SecretString="webhook-only-key")["ARN"]
    lambda_env.setenv("WEBHOOK_API_KEYS_SECRET_ARN", hook)
    lambda_env.setenv(
        "ADMIN_API_KEY_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:forbidden-AbCdEf"
    )
    lambda_env.setenv("WEBHOOK_REFUSES_ADMIN_KEY", "true")
    reset_runtime()

    # When the webhook key delivers, then it is stored, the admin key's secret untouched
    response = webhook_handler.lambda_handler(
        webhook_event(headers={"x-admin-key": "webhook-only-key"}), context
    )
    assert response["statusCode"] == 200, response["body"]


def test_the_metrics_key_comes_from_its_secret(aws, lambda_env, set_clock, db, context):
    arn = aws.create_secret(Name="funnel/metrics-keys", SecretString="read-only-from-secrets-manager\n")[
        "ARN"
    ]
    lambda_env.setenv("METRICS_API_KEYS_SECRET_ARN", arn)
    lambda_env.setenv("METRICS_API_KEYS", "stale-local-key")
    reset_runtime()
    set_clock(datetime(2026, 2, 14, 9, tzinfo=UTC))

    def read(key: str) -> int:
        event = api_event("metrics/summary", headers={"authorization": f"Bearer {key}", "x-admin-key": None})
        status: int = metrics_handler.lambda_handler(event, context)["statusCode"]
        return status

    assert read("read-only-from-secrets-manager") == 200
    assert read("stale-local-key") == 401
