"""The ingest buffer (issue 11 §2): what the database cannot take within the deadline is
queued (SQS, through moto) and answered 202 ``"queued": true``; the IngestBuffer function
writes it once the database is back, through the live path's idempotent code, exactly
once however often SQS delivers it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import boto3
import psycopg
import pytest
from moto import mock_aws

import buffer_handler
import collect_handler
import webhook_handler
from funnel.platform.runtime import get_runtime, reset_runtime
from tests.builders import api_event, response_json, with_changes
from tests.conftest import ADMIN_KEY, load_event

pytestmark = pytest.mark.integration

# A server that is not there: every connection is refused at once.
NO_SERVER = "postgresql://postgres@/funnel?host=/nonexistent/funnel-buffer-test&connect_timeout=2"
RECEIVED = datetime(2026, 11, 21, 14, 0, 30, tzinfo=UTC)


@dataclass
class Queue:
    sqs: Any
    url: str

    def messages(self) -> list[dict[str, Any]]:
        """Every message waiting, received (so invisible until deleted or timed out)."""
        found: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
            ).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in {f["MessageId"] for f in found}]
            if not fresh:
                return found
            found.extend(fresh)

    def depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping sends for ``messages``."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1763733600000"},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:funnel-ingest-buffer",
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }


@pytest.fixture
def queue(lambda_env: pytest.MonkeyPatch) -> Iterator[Queue]:
    lambda_env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    lambda_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    lambda_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # The sample captures' origin (leads are taken from the site's pages only).
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="funnel-ingest-buffer")["QueueUrl"]
        lambda_env.setenv("INGEST_QUEUE_URL", url)
        reset_runtime()
        yield Queue(sqs, url)


@pytest.fixture
def database(lambda_env: pytest.MonkeyPatch, database_url: str, db: psycopg.Connection):  # type: ignore[no-untyped-def]
    """Switch the functions' database away (no server) and back, each time with a fresh
    container, its clock pinned to ``at``."""

    def use(url: str, at: datetime = RECEIVED) -> None:
        lambda_env.setenv("DATABASE_URL", url)
        reset_runtime()
        get_runtime().clock = lambda: at

    class Switch:
        @staticmethod
        def away(at: datetime = RECEIVED) -> None:
            use(NO_SERVER, at)

        @staticmethod
        def back(at: datetime = RECEIVED + timedelta(minutes=5)) -> None:
            use(database_url, at)

    return Switch()


def replay(queue: Queue, context: Any) -> dict[str, Any]:
    """Run the IngestBuffer function on every waiting message, as Lambda would, and delete
    those it did not report as failed."""
    messages = queue.messages()
    response = buffer_handler.lambda_handler(sqs_event(messages), context)
    failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    for message in messages:
        if message["MessageId"] not in failed:
            queue.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    return response


def deliver_twice(queue: Queue, context: Any) -> None:
    """SQS delivers at least once: each message is written, then delivered again."""
    messages = queue.messages()
    for _ in range(2):
        assert buffer_handler.lambda_handler(sqs_event(messages), context) == {"batchItemFailures": []}


def beacon_batch() -> dict[str, Any]:
    first = json.loads(load_event("collect/beacon_page_view.json")["body"])
    first["occurredAt"] = "2026-11-21T14:00:00Z"
    second = {**first, "eventId": "evt_buffered_second", "path": "/docs"}
    return api_event("collect/beacon_page_view", body={"events": [first, second]})


def webhook(webhook_id: str = "msg_buffered", **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(load_event("webhook_ingest/tenant_created.json"))
    event["headers"]["x-admin-key"] = ADMIN_KEY
    event["headers"]["webhook-id"] = webhook_id
    if changes:
        event["body"] = json.dumps({**json.loads(event["body"]), **changes})
    return event


def counter(db: psycopg.Connection, kind: str, outcome: str) -> int:
    row = db.execute(
        "SELECT coalesce(sum(count), 0) FROM ingest_counters WHERE kind = %s AND outcome = %s",
        (kind, outcome),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_beacons_the_database_cannot_take_are_queued_and_stored_once_when_it_is_back(
    queue, database, db, context
):
    # Given a database that cannot be reached
    database.away()

    # When a batch of two beacons arrives
    response = collect_handler.lambda_handler(beacon_batch(), context)

    # Then it is accepted as queued, and waits in the queue
    assert response["statusCode"] == 202
    assert response_json(response) == {
        "ok": True,
        "accepted": 0,
        "duplicates": 0,
        "ignored": 0,
        "queued": True,
    }
    assert queue.depth() == 1
    assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)

    # When the database is back and SQS delivers the message twice
    database.back()
    deliver_twice(queue, context)

    # Then both events are stored once, counted once accepted and then as duplicates
    assert db.execute("SELECT count(*) FROM events").fetchone() == (2,)
    assert counter(db, "event", "accepted") == 2
    assert counter(db, "event", "duplicate") == 2
    # And the visitor and session are those of the request's own time, not the replay's
    assert db.execute("SELECT min(started_at) FROM sessions").fetchone() == (
        datetime(2026, 11, 21, 14, 0, tzinfo=UTC),
    )


def test_a_lead_is_queued_and_stored_once_with_one_submission_and_one_consent(queue, database, db, context):
    # Given a database that cannot be reached
    database.away()

    # When a lead with consent is captured as JSON
    response = collect_handler.lambda_handler(api_event("collect/lead_capture_json"), context)

    # Then it is 202 queued
    assert response["statusCode"] == 202
    assert response_json(response) == {"ok": True, "queued": True}

    # When the database is back and the message is delivered twice
    database.back()
    deliver_twice(queue, context)

    # Then one lead, one submission, one consent record, counted once
    assert db.execute("SELECT count(*) FROM leads").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM form_submissions").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM consent_records").fetchone() == (1,)
    # And the consent's evidence names the origin the capture came from, as written live
    assert db.execute("SELECT origin FROM consent_records").fetchone() == ("https://www.example.com",)
    assert counter(db, "lead", "accepted") == 1
    assert db.execute("SELECT submitted_at FROM form_submissions").fetchone() == (RECEIVED,)


def test_a_form_post_queued_is_redirected_as_when_stored(queue, database, db, context, lambda_env):
    # Given a site origin and a database that cannot be reached
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    database.away()
    form = urlencode(
        {"email": "form@example.com", "formId": "newsletter", "redirect": "https://www.example.com/thanks"}
    )
    event = with_changes(
        api_event("collect/lead_capture_json"),
        body=form,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    # When the form is posted
    response = collect_handler.lambda_handler(event, context)

    # Then the person is sent to the thank-you page, and the capture waits in the queue
    assert response["statusCode"] == 303
    assert response["headers"]["Location"] == "https://www.example.com/thanks"
    database.back()
    assert replay(queue, context) == {"batchItemFailures": []}
    assert db.execute(
        "SELECT email_normalized, form_id FROM leads JOIN form_submissions f ON f.lead_id = leads.id"
    ).fetchall() == [("form@example.com", "newsletter")]


def test_a_webhook_is_queued_stored_once_and_its_redelivery_is_a_duplicate(queue, database, db, context):
    # Given a database that cannot be reached
    database.away()

    # When a webhook arrives
    response = webhook_handler.lambda_handler(webhook(), context)

    # Then it is 202 queued, without an event id yet
    assert response["statusCode"] == 202
    assert response_json(response) == {"ok": True, "queued": True}

    # When the database is back and SQS delivers the message twice
    database.back()
    deliver_twice(queue, context)

    # Then it is stored once, and a redelivery of its webhook-id is answered with its id
    rows = db.execute("SELECT id FROM tenant_events").fetchall()
    assert len(rows) == 1
    again = webhook_handler.lambda_handler(webhook(), context)
    assert response_json(again) == {"ok": True, "eventId": str(rows[0][0]), "duplicate": True}


def test_without_a_queue_a_request_the_database_cannot_take_is_503(lambda_env, database, db, context):
    # Given no queue configured and a database that cannot be reached
    lambda_env.delenv("INGEST_QUEUE_URL", raising=False)
    database.away()

    # When a webhook arrives
    response = webhook_handler.lambda_handler(webhook(), context)

    # Then it is 503 with Retry-After, as before the buffer
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "5"
    assert response_json(response)["error"] == "database_unavailable"


def test_a_queue_that_refuses_the_message_leaves_the_503(queue, lambda_env, database, db, context):
    # Given a queue that does not exist (deleted, or a wrong URL) and a database away
    lambda_env.setenv("INGEST_QUEUE_URL", queue.url + "-gone")
    database.away()

    # When beacons arrive
    response = collect_handler.lambda_handler(beacon_batch(), context)

    # Then the client hears the database's 503 and may retry
    assert response["statusCode"] == 503
    assert response_json(response)["error"] == "database_unavailable"


def test_a_batch_that_finds_the_database_away_reports_every_record(queue, database, db, context):
    # Given three requests buffered
    database.away()
    collect_handler.lambda_handler(beacon_batch(), context)
    collect_handler.lambda_handler(api_event("collect/lead_capture_json"), context)
    webhook_handler.lambda_handler(webhook(), context)
    assert queue.depth() == 3

    # When the consumer runs while the database is still away
    response = replay(queue, context)

    # Then every record is reported failed (so retried, and after 20 tries dead-lettered),
    # without the function failing
    assert len(response["batchItemFailures"]) == 3
    assert queue.depth() == 3

    # And once the database is back, they are all written
    database.back()
    assert replay(queue, context) == {"batchItemFailures": []}
    assert queue.depth() == 0
    assert db.execute(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM leads), "
        "(SELECT count(*) FROM tenant_events)"
    ).fetchone() == (2, 1, 1)


def test_a_replayed_request_received_before_yesterday_marks_its_day_dirty(queue, database, db, context):
    # Given beacons buffered on 21 November
    database.away()
    assert collect_handler.lambda_handler(beacon_batch(), context)["statusCode"] == 202

    # When they are written three days later
    database.back(at=RECEIVED + timedelta(days=3))
    assert replay(queue, context) == {"batchItemFailures": []}

    # Then their day is marked dirty, so the next scheduled rollup recomputes it
    days = [row[0] for row in db.execute("SELECT DISTINCT day FROM rollup_dirty_days")]
    assert RECEIVED.date() in days


def test_a_replay_refused_for_good_is_dropped_not_retried(queue, database, db, context):
    # Given a webhook-id already stored, and a buffered delivery reusing it with another body
    database.back()
    assert webhook_handler.lambda_handler(webhook("msg_reused"), context)["statusCode"] == 200
    database.away()
    reused = webhook("msg_reused", occurredAt="2026-02-13T12:00:01Z")
    assert webhook_handler.lambda_handler(reused, context)["statusCode"] == 202

    # When it is replayed
    database.back()
    response = replay(queue, context)

    # Then it is refused (409, as the live path would), not reported failed, and dropped
    assert response == {"batchItemFailures": []}
    assert queue.depth() == 0
    assert db.execute("SELECT count(*) FROM tenant_events").fetchone() == (1,)


def test_the_sample_event_is_written(lambda_env, db, context):
    # Given the sample batch of events/ (a beacon, a lead and a webhook)
    event = load_event("ingest_buffer/buffered_requests.json")

    # When the function is invoked with it
    response = buffer_handler.lambda_handler(event, context)

    # Then all three are written
    assert response == {"batchItemFailures": []}
    assert db.execute(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM leads), "
        "(SELECT count(*) FROM tenant_events)"
    ).fetchone() == (1, 1, 1)
