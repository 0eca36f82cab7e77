"""The ingest buffer as ``make run`` runs it, without AWS: the template's queues on a local
SQS server (moto's server mode, on 127.0.0.1), the functions pointed at them, and the
IngestBuffer function fed by its queue, over real HTTP, on a PostgreSQL server of the test's
own that is killed and started again."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest

from funnel.platform.signatures import sign
from funnel_local.gateway import RunningGateway, start_gateway
from tests.conftest import ADMIN_KEY, REPO, SIGNING_SECRET, load_event
from tests.outage import OwnServer, own_server

pytestmark = pytest.mark.e2e

# Long enough for a replay of a few requests on a busy machine.
WRITTEN_WITHIN_SECONDS = 60


@pytest.fixture(scope="module")
def server() -> Iterator[OwnServer]:
    with own_server() as started:
        yield started


@pytest.fixture(scope="module")
def gateway(server: OwnServer) -> Iterator[RunningGateway]:
    env = {"DATABASE_URL": server.url, "ADMIN_API_KEY": ADMIN_KEY, "WEBHOOK_SIGNING_SECRETS": SIGNING_SECRET}
    with start_gateway(REPO / "template.yaml", env_overrides=env, run_queues=True) as running:
        yield running


def post(url: str, body: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def signed_webhook_headers(body: str, webhook_id: str) -> dict[str, str]:
    stamp = int(time.time())
    return {
        "content-type": "application/json",
        "x-admin-key": ADMIN_KEY,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(SIGNING_SECRET, webhook_id, stamp, body),
    }


def counts(server: OwnServer) -> tuple[int, int]:
    with psycopg.connect(server.url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM tenant_events)"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_requests_queued_while_the_database_is_down_are_written_once_it_is_back(gateway, server):
    # Given the local stack, its queue handing back a failed batch after 5 s (3 minutes in
    # the template), and a database that has crashed
    queues = gateway.queues
    assert queues is not None
    boto3.client(
        "sqs",
        endpoint_url=queues.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    ).set_queue_attributes(QueueUrl=queues.urls["IngestBufferQueue"], Attributes={"VisibilityTimeout": "5"})
    server.kill()
    try:
        # When a beacon and a signed webhook arrive
        beacon = load_event("collect/beacon_page_view.json")
        beacon_status, beacon_answer = post(
            f"{gateway.url}/v1/events",
            beacon["body"],
            {name: beacon["headers"][name] for name in ("content-type", "origin", "user-agent")},
        )
        webhook_body = load_event("webhook_ingest/tenant_created.json")["body"]
        webhook_status, webhook_answer = post(
            f"{gateway.url}/v1/webhooks/description-service",
            webhook_body,
            signed_webhook_headers(webhook_body, "msg_local_buffer"),
        )
    finally:
        server.start()

    # Then both are accepted as queued
    assert (beacon_status, beacon_answer["queued"]) == (202, True)
    assert (webhook_status, webhook_answer) == (202, {"ok": True, "queued": True})

    # And the IngestBuffer function writes them once the database is back
    deadline = time.monotonic() + WRITTEN_WITHIN_SECONDS
    while counts(server) != (1, 1):
        assert time.monotonic() < deadline, f"not written within {WRITTEN_WITHIN_SECONDS} s: {counts(server)}"
        time.sleep(0.5)
    deadline = time.monotonic() + WRITTEN_WITHIN_SECONDS
    while queues.depth("IngestBufferQueue"):
        assert time.monotonic() < deadline, "the queue was not emptied"
        time.sleep(0.5)
    assert queues.depth("IngestBufferDeadLetterQueue") == 0
