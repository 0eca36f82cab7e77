"""Secrets through the AWS Parameters and Secrets Lambda Extension (a stand-in on 127.0.0.1
that answers as the extension does, from moto's Secrets Manager, and caches like it), and
Secrets Manager behind it when the extension is missing or a value must be fresh."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws
from psycopg.conninfo import conninfo_to_dict

import webhook_handler
from funnel.platform.errors import ConfigurationError
from funnel.platform.runtime import reset_runtime
from funnel.platform.secrets import ExtensionSecretsSource, SecretsManagerSource
from tests.builders import response_json, webhook_event
from tests.conftest import SIGNING_SECRET

pytestmark = pytest.mark.integration

SESSION_TOKEN = "session-token-of-the-function"


class StandInExtension(ThreadingHTTPServer):
    """``GET /secretsmanager/get?secretId=`` as the extension serves it: the caller's session
    token required, GetSecretValue's JSON answered, each value cached once read."""

    def __init__(self, client: Any) -> None:
        super().__init__(("127.0.0.1", 0), _ExtensionRequest)
        self.client = client
        self.cache: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []


class _ExtensionRequest(BaseHTTPRequestHandler):
    server: StandInExtension

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        secret_id = parse_qs(url.query).get("secretId", [""])[0]
        self.server.requests.append(secret_id)
        if self.headers.get("X-Aws-Parameters-Secrets-Token") != SESSION_TOKEN:
            self._answer(401, {"message": "missing or wrong token"})
        elif url.path != "/secretsmanager/get":
            self._answer(404, {"message": "not found"})
        elif secret_id in self.server.cache:
            self._answer(200, self.server.cache[secret_id])
        else:
            try:
                value = self.server.client.get_secret_value(SecretId=secret_id)
            except self.server.client.exceptions.ResourceNotFoundException:
                self._answer(400, {"message": "ResourceNotFoundException"})
                return
            document = {"ARN": value["ARN"], "Name": value["Name"], "SecretString": value["SecretString"]}
            self.server.cache[secret_id] = document
            self._answer(200, document)

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``requests``."""


@pytest.fixture
def aws(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def extension(aws: Any) -> Iterator[StandInExtension]:
    server = StandInExtension(aws)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (the extension not attached)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    return port


def source(port: int, aws: Any, max_age_seconds: int = 300) -> ExtensionSecretsSource:
    return ExtensionSecretsSource(
        port=port,
        host="127.0.0.1",
        fallback=SecretsManagerSource(max_age_seconds=max_age_seconds, boto3_client=aws),
        max_age_seconds=max_age_seconds,
    )


def test_a_webhook_reads_its_database_and_signing_secrets_through_the_extension(
    aws, extension, lambda_env, database_url, db, context
):
    # Given the database and signing secrets in Secrets Manager, and the extension attached
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
    signing = aws.create_secret(Name="funnel/signing", SecretString=SIGNING_SECRET)["ARN"]
    lambda_env.delenv("DATABASE_URL")
    lambda_env.setenv("DB_SECRET_ARN", db_secret)
    lambda_env.setenv("DB_SSLMODE", "disable")
    lambda_env.setenv("WEBHOOK_SIGNING_SECRETS_ARN", signing)
    lambda_env.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(extension.server_address[1]))
    reset_runtime()

    # When a signed delivery arrives
    response = webhook_handler.lambda_handler(webhook_event(sign_with=SIGNING_SECRET), context)

    # Then it is stored, both secrets having come through the extension
    assert response["statusCode"] == 200, response["body"]
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone()[0] == 1
    assert set(extension.requests) == {db_secret, signing}


def test_the_extension_is_asked_with_the_functions_session_token(aws, extension, monkeypatch):
    arn = aws.create_secret(Name="funnel/admin", SecretString="admin-key")["ARN"]
    assert source(extension.server_address[1], aws).get(arn) == "admin-key"

    # A caller without the function's token is refused, and that is a configuration error
    monkeypatch.setenv("AWS_SESSION_TOKEN", "someone-else")
    with pytest.raises(ConfigurationError, match="the extension answered 401"):
        source(extension.server_address[1], aws).get(arn)


def test_without_the_extension_secrets_come_from_secrets_manager(aws):
    arn = aws.create_secret(Name="funnel/admin", SecretString="admin-key")["ARN"]
    assert source(closed_port(), aws).get(arn) == "admin-key"


def test_a_fresh_read_bypasses_the_extensions_cache_and_is_kept(aws, extension):
    # Given a value the extension has cached
    arn = aws.create_secret(Name="funnel/db-password", SecretString="before")["ARN"]
    secrets = source(extension.server_address[1], aws)
    assert secrets.get(arn) == "before"

    # When the secret is rotated, the extension still answers the cached value
    aws.put_secret_value(SecretId=arn, SecretString="after")
    assert secrets.get(arn) == "before"

    # Then a fresh read reaches Secrets Manager, and later reads keep its value
    assert secrets.get(arn, fresh=True) == "after"
    assert secrets.get(arn) == "after"


def test_a_kept_fresh_value_expires_with_the_cache_age(aws, extension):
    arn = aws.create_secret(Name="funnel/db-password", SecretString="before")["ARN"]
    secrets = source(extension.server_address[1], aws, max_age_seconds=0)
    assert secrets.get(arn) == "before"
    aws.put_secret_value(SecretId=arn, SecretString="after")
    assert secrets.get(arn, fresh=True) == "after"
    # Kept for no time at all: the extension's (cached) answer again.
    assert secrets.get(arn) == "before"


def test_a_secret_the_extension_cannot_read_is_503_misconfigured(aws, extension, lambda_env, db, context):
    lambda_env.setenv(
        "ADMIN_API_KEY_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf"
    )
    lambda_env.setenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", str(extension.server_address[1]))
    reset_runtime()
    response = webhook_handler.lambda_handler(webhook_event(), context)
    assert response["statusCode"] == 503
    assert response_json(response)["error"] == "service_misconfigured"
