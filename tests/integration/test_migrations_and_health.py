"""Migrations (CLI, deploy-time function, concurrency, tamper detection) and health."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

import health_handler
import migrate_handler
from funnel.platform.errors import ConfigurationError
from funnel.platform.migrate import apply_migrations, available_migrations, migrate_database
from funnel.platform.runtime import get_runtime, reset_runtime
from funnel_local.postgres import create_database
from funnel_ops.cli import main as funnel_cli
from tests.builders import response_json
from tests.conftest import load_event

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_database(database_url: str) -> str:
    """A new, empty database on the same server."""
    return create_database(database_url, f"funnel_empty_{uuid.uuid4().hex[:10]}")


def applied_versions(conninfo: str) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_migrations_apply_once_and_then_are_up_to_date(empty_database):
    shipped = [f"{m.version:04d}_{m.name}" for m in available_migrations()]
    assert migrate_database(empty_database) == shipped
    assert migrate_database(empty_database) == []
    assert applied_versions(empty_database) == [m.version for m in available_migrations()]


def test_concurrent_runners_apply_each_migration_exactly_once(empty_database):
    # Given four runners starting together (two deploys and two operators, say)
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def runner() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(migrate_database(empty_database))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then exactly one applied everything and the others found nothing to do
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 0, 0, len(available_migrations())]


def test_an_edited_applied_migration_is_refused(empty_database):
    migrate_database(empty_database)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(ConfigurationError, match="changed after it was applied"):
            apply_migrations(conn)


def test_the_cli_migrates_the_configured_database(empty_database, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", empty_database)
    reset_runtime()
    try:
        assert funnel_cli(["migrate"]) == 0
    finally:
        reset_runtime()
    assert json.loads(capsys.readouterr().out)["applied"]
    assert applied_versions(empty_database)


class CloudFormationEndpoint:
    """A stand-in for CloudFormation's pre-signed response URL, on 127.0.0.1."""

    def __init__(self) -> None:
        self.documents: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                endpoint.documents.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/response"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cloudformation():  # type: ignore[no-untyped-def]
    endpoint = CloudFormationEndpoint()
    yield endpoint
    endpoint.close()


@pytest.mark.parametrize("request_type", ["create", "update"])
def test_the_deploy_time_function_migrates_and_reports_success(
    request_type, empty_database, lambda_env, cloudformation, context
):
    # Given CloudFormation creating or updating the migrations resource on an empty database
    lambda_env.setenv("DATABASE_URL", empty_database)
    reset_runtime()
    event = load_event(f"migrate/cfn_{request_type}.json")
    event["ResponseURL"] = cloudformation.url

    # When the function runs
    migrate_handler.lambda_handler(event, context)

    # Then the schema is current and CloudFormation heard SUCCESS
    assert applied_versions(empty_database)
    (document,) = cloudformation.documents
    assert document["Status"] == "SUCCESS"
    assert document["PhysicalResourceId"] == "funnel-schema-migrations"
    assert document["RequestId"] == event["RequestId"]
    assert document["Data"]["Applied"].startswith("0001_")


def test_delete_answers_success_and_leaves_the_data(lambda_env, cloudformation, context, db):
    event = load_event("migrate/cfn_delete.json")
    event["ResponseURL"] = cloudformation.url
    migrate_handler.lambda_handler(event, context)
    assert cloudformation.documents[0]["Status"] == "SUCCESS"
    assert db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] >= 1


def test_a_failed_migration_reports_failed_so_the_deploy_rolls_back(lambda_env, cloudformation, context):
    lambda_env.setenv("DATABASE_URL", "postgresql://funnel@127.0.0.1:1/funnel?connect_timeout=1")
    reset_runtime()
    event = load_event("migrate/cfn_create.json")
    event["ResponseURL"] = cloudformation.url
    migrate_handler.lambda_handler(event, context)
    (document,) = cloudformation.documents
    assert document["Status"] == "FAILED"
    assert "migrations failed" in document["Reason"]


@pytest.mark.parametrize(("request_type", "status"), [("create", "FAILED"), ("delete", "SUCCESS")])
def test_broken_settings_are_still_answered(request_type, status, lambda_env, cloudformation, context):
    # Given settings that do not validate (a statement timeout below its minimum)
    lambda_env.setenv("DB_STATEMENT_TIMEOUT_MS", "1")
    reset_runtime()
    event = load_event(f"migrate/cfn_{request_type}.json")
    event["ResponseURL"] = cloudformation.url

    # When CloudFormation creates or deletes the resource
    migrate_handler.lambda_handler(event, context)

    # Then it hears at once (a create fails, a delete needs no settings), rather than
    # waiting for the resource's timeout
    (document,) = cloudformation.documents
    assert document["Status"] == status


def test_a_direct_invocation_migrates_and_returns_what_it_applied(empty_database, lambda_env, context):
    lambda_env.setenv("DATABASE_URL", empty_database)
    reset_runtime()
    result = migrate_handler.lambda_handler(load_event("migrate/direct.json"), context)
    assert result == {"applied": [f"{m.version:04d}_{m.name}" for m in available_migrations()]}


def test_health_reports_the_schema_version(lambda_env, context):
    response = health_handler.lambda_handler(load_event("health/get_health.json"), context)
    assert response["statusCode"] == 200
    body = response_json(response)
    assert body["ok"] is True and body["schemaVersion"] == available_migrations()[-1].version


def test_health_is_503_when_the_database_is_down(lambda_env, context):
    lambda_env.setenv("DATABASE_URL", "postgresql://funnel@127.0.0.1:1/funnel?connect_timeout=1")
    reset_runtime()
    response = health_handler.lambda_handler(load_event("health/get_health.json"), context)
    assert response["statusCode"] == 503
    assert response_json(response)["error"] == "database_unavailable"


def test_a_connection_is_set_up_with_statements_not_startup_options(lambda_env):
    # Given a function whose statements may run 1.5 s at most
    lambda_env.setenv("DB_STATEMENT_TIMEOUT_MS", "1500")
    reset_runtime()

    # Then its connection carries that timeout and the SSD page cost
    def settings(conn: psycopg.Connection) -> tuple[str, str, str]:
        row = conn.execute("SHOW statement_timeout").fetchone()
        cost = conn.execute("SHOW random_page_cost").fetchone()
        startup = conn.execute(
            "SELECT coalesce(current_setting('statement_timeout', true), '') "
            "FROM pg_settings WHERE name = 'statement_timeout' AND source = 'session'"
        ).fetchone()
        assert row and cost and startup
        return row[0], cost[0], startup[0]

    # set in the session (RDS Proxy refuses startup options, which show as 'client')
    assert get_runtime().database.run(settings) == ("1500ms", "1.1", "1500ms")
