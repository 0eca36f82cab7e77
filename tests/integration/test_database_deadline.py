"""A hung database never holds a request to the function's timeout (issue 11, item 1).

The server of these tests is frozen (``SIGSTOP`` on the postmaster and every backend), so
nothing it runs can time out by itself: ``statement_timeout`` cannot fire. Each handler
runs in a thread and must answer within the function's timeout; without the client-side
deadline it waits until the server is resumed, and the test fails.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws

import buffer_handler
import collect_handler
import health_handler
import webhook_handler
from funnel.platform.errors import ConfigurationError
from funnel.platform.runtime import reset_runtime
from funnel.platform.settings import get_settings
from tests.builders import api_event, response_json
from tests.conftest import ADMIN_KEY, close_connection, empty_tables, load_event
from tests.outage import OwnServer, own_server

pytestmark = pytest.mark.integration

DEADLINE_MS = 2500
# The template's Timeout of the API's functions.
FUNCTION_TIMEOUT_SECONDS = 10.0
# Scheduling noise on a busy 2-core machine, beyond the deadline.
SLACK_SECONDS = 1.0


@pytest.fixture(scope="module")
def server() -> Iterator[OwnServer]:
    with own_server() as started:
        yield started


@pytest.fixture
def own_db(server: OwnServer) -> Iterator[psycopg.Connection]:
    conn = psycopg.connect(server.url, autocommit=True)
    try:
        empty_tables(conn)
        yield conn
    finally:
        close_connection(conn)


@pytest.fixture
def deadline_env(server: OwnServer, own_db: psycopg.Connection, lambda_env: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The API functions' environment on the server of these tests, with a deadline."""
    lambda_env.setenv("DATABASE_URL", server.url)
    lambda_env.setenv("DB_DEADLINE_MS", str(DEADLINE_MS))
    lambda_env.setenv("DB_CONNECT_TIMEOUT_SECONDS", "2")
    # The sample captures' origin (leads are taken from the site's pages only).
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    reset_runtime()
    yield lambda_env
    reset_runtime()


def answer_within(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]], event: dict[str, Any], context: Any
) -> tuple[dict[str, Any] | None, float]:
    """Call ``handler`` in a thread; its answer (None when it has none within the function's
    timeout) and how long it took."""
    answers: list[dict[str, Any]] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: answers.append(handler(event, context)), daemon=True)
    worker.start()
    worker.join(FUNCTION_TIMEOUT_SECONDS)
    return (answers[0] if answers else None), time.monotonic() - started


def webhook(sample: str, webhook_id: str) -> dict[str, Any]:
    event = load_event(f"webhook_ingest/{sample}.json")
    event["headers"]["x-admin-key"] = ADMIN_KEY
    event["headers"]["webhook-id"] = webhook_id
    return event


def assert_503_with_retry_after(response: dict[str, Any] | None, seconds: float, code: str) -> None:
    assert response is not None, f"no answer within the function's {FUNCTION_TIMEOUT_SECONDS} s timeout"
    assert seconds < DEADLINE_MS / 1000 + SLACK_SECONDS
    assert response["statusCode"] == 503
    assert int(response["headers"]["Retry-After"]) > 0
    assert response_json(response)["error"] == code


def test_a_webhook_in_doubt_is_503_in_time_and_its_retry_is_stored_once(
    server, own_db, deadline_env, context
):
    # Given a warm container (its connection open) and a frozen database
    assert webhook_handler.lambda_handler(webhook("apikey_created", "msg_warm"), context)["statusCode"] == 200

    # When a webhook is delivered while the database is frozen
    with server.frozen():
        response, seconds = answer_within(
            webhook_handler.lambda_handler, webhook("tenant_created", "msg_doubt"), context
        )

    # Then it is answered 503 with Retry-After within the deadline: its statement was sent,
    # so it may have committed, and the answer says the outcome is unknown (not "refused")
    assert_503_with_retry_after(response, seconds, "write_outcome_unknown")

    # And the sender's retry with the same webhook-id is 200, whatever the frozen statement
    # did once the server resumed, and the event is stored exactly once
    retried = webhook_handler.lambda_handler(webhook("tenant_created", "msg_doubt"), context)
    assert retried["statusCode"] == 200
    stored = own_db.execute(
        "SELECT count(*) FROM tenant_events WHERE event_type = 'tenant.created'"
    ).fetchone()
    assert stored == (1,)


def test_beacons_on_a_cold_container_and_a_frozen_database_are_503_in_time(
    server, own_db, deadline_env, context
):
    # Given a container with no connection yet, and a frozen database
    # When a beacon arrives
    with server.frozen():
        response, seconds = answer_within(
            collect_handler.lambda_handler, load_event("collect/beacon_page_view.json"), context
        )

    # Then connecting gives up in time: 503 with Retry-After, nothing was sent to write
    assert_503_with_retry_after(response, seconds, "database_unavailable")


def test_a_lead_whose_transaction_hangs_is_503_in_time_and_not_stored(server, own_db, deadline_env, context):
    # Given a warm container and a frozen database
    assert health_handler.lambda_handler(load_event("health/get_health.json"), context)["statusCode"] == 200
    event = api_event(
        "collect/lead_capture_json",
        body={"email": "frozen@example.com", "propertyId": "default", "consent": False},
    )

    # When a lead is captured while the database is frozen
    with server.frozen():
        response, seconds = answer_within(collect_handler.lambda_handler, event, context)

    # Then it is 503 in time; its COMMIT was never sent, so the outcome is not in doubt
    assert_503_with_retry_after(response, seconds, "database_unavailable")
    # And once the server resumes, the abandoned transaction is rolled back, and a retry
    # stores the lead once
    assert collect_handler.lambda_handler(event, context)["statusCode"] == 201
    assert own_db.execute("SELECT count(*) FROM leads").fetchone() == (1,)


def test_health_on_a_frozen_database_is_503_in_time(server, own_db, deadline_env, context):
    # Given a warm container
    event = load_event("health/get_health.json")
    assert health_handler.lambda_handler(event, context)["statusCode"] == 200

    # When the database is frozen
    with server.frozen():
        response, seconds = answer_within(health_handler.lambda_handler, event, context)

    # Then health answers 503 with Retry-After within the deadline
    assert_503_with_retry_after(response, seconds, "database_unavailable")
    # And once resumed, a fresh connection answers
    assert health_handler.lambda_handler(event, context)["statusCode"] == 200


@pytest.mark.parametrize(("deadline_ms", "valid"), [("2000", False), ("2001", True)])
def test_the_deadline_must_leave_time_to_connect(deadline_ms, valid, monkeypatch):
    # Given a connect timeout of 2 s and a deadline at or just past it
    monkeypatch.setenv("DB_CONNECT_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("DB_DEADLINE_MS", deadline_ms)
    get_settings.cache_clear()
    try:
        # Then one equal to the connect timeout is a configuration error, one past it is not
        if valid:
            assert get_settings().database.db_deadline_ms == int(deadline_ms)
        else:
            with pytest.raises(ConfigurationError):
                get_settings()
    finally:
        get_settings.cache_clear()


def test_the_request_of_a_webhook_in_doubt_says_how_to_learn_its_outcome(
    server, own_db, deadline_env, context
):
    # Given a frozen database and a warm container
    assert (
        webhook_handler.lambda_handler(webhook("apikey_created", "msg_warm_2"), context)["statusCode"] == 200
    )

    # When a webhook is answered while it is frozen
    with server.frozen():
        response, _ = answer_within(
            webhook_handler.lambda_handler, webhook("scan_completed", "msg_doubt_2"), context
        )

    # Then the body tells the sender to send it again (a stored delivery is then a duplicate)
    assert response is not None
    assert json.loads(response["body"])["details"] == {"retry": "send the same request again"}


def test_a_webhook_in_doubt_is_buffered_and_stored_once(server, own_db, deadline_env, context):
    # Given the ingest queue, a warm container and a frozen database
    deadline_env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    deadline_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    deadline_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="funnel-ingest-buffer")["QueueUrl"]
        deadline_env.setenv("INGEST_QUEUE_URL", url)
        reset_runtime()
        assert (
            webhook_handler.lambda_handler(webhook("apikey_created", "msg_warm_3"), context)["statusCode"]
            == 200
        )

        # When a webhook's statement is sent and the database answers nothing
        with server.frozen():
            response, seconds = answer_within(
                webhook_handler.lambda_handler, webhook("tenant_created", "msg_doubt_3"), context
            )

        # Then it is accepted as queued within the deadline (and the queue's timeouts)
        assert response is not None
        assert seconds < DEADLINE_MS / 1000 + SLACK_SECONDS
        assert (response["statusCode"], response_json(response)) == (202, {"ok": True, "queued": True})

        # And once written from the queue, it is stored exactly once, whatever the frozen
        # statement did when the server resumed
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert len(messages) == 1
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                    "awsRegion": "us-east-1",
                }
                for m in messages
            ]
        }
        assert buffer_handler.lambda_handler(event, context) == {"batchItemFailures": []}
    stored = own_db.execute(
        "SELECT count(*) FROM tenant_events WHERE event_type = 'tenant.created'"
    ).fetchone()
    assert stored == (1,)
