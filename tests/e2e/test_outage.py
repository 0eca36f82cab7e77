"""The outage test (issue 11 §2): a bounded burst of signed webhooks and tracker-shaped
beacons over real HTTP to the local stack (the template's functions in their own processes,
its queue on a local SQS server, the IngestBuffer function fed by it), while its PostgreSQL
is frozen and then killed, and started again.

Afterwards every request answered 2xx is stored exactly once, nothing was answered 500, and
the rollups count what was sent. A webhook answered 503 is sent again by its sender (the
emitter does) with the same ``webhook-id``; a beacon cannot be sent again, so none may be
answered anything but 2xx. The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import psycopg
import pytest

from funnel.platform.runtime import get_runtime, reset_runtime
from funnel.platform.signatures import sign
from funnel.readmodel.rollups import handle_event
from funnel_local.gateway import RunningGateway, start_gateway
from tests.conftest import ADMIN_KEY, REPO, SIGNING_SECRET, UNBOUNDED_CLIENTS, load_event
from tests.outage import OwnServer, own_server

pytestmark = pytest.mark.e2e

VISITS = 40  # each a page view, then its engagement: 80 beacon requests
SCANS = 40  # scan.completed webhooks of one tenant, after its tenant.created
MEDIA_PER_SCAN = 2
PROPERTY = "outage"
TENANT = "tenant-outage"
SENDERS = 6
FREEZE_SECONDS = 5.0
DRAINED_WITHIN_SECONDS = 120
# A browser, as the sample beacon names it (a script would be counted as a bot, not stored).
USER_AGENT = load_event("collect/beacon_page_view.json")["headers"]["user-agent"]


@dataclass
class Sent:
    """One request of the burst and what it was answered."""

    kind: str  # "beacon" or "webhook"
    path: str
    body: str
    webhook_id: str | None = None
    event_ids: tuple[str, ...] = ()
    answers: list[tuple[int, Any]] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.answers[0][0]

    @property
    def acknowledged(self) -> bool:
        return 200 <= self.answers[-1][0] < 300

    @property
    def queued(self) -> bool:
        return any(isinstance(body, dict) and body.get("queued") is True for _, body in self.answers)


@pytest.fixture(scope="module")
def server() -> Iterator[OwnServer]:
    with own_server() as started:
        yield started


@pytest.fixture(scope="module")
def gateway(server: OwnServer) -> Iterator[RunningGateway]:
    # The burst's property is configured, and its beacons, all from 127.0.0.1, are under
    # the per-client bound.
    env = {
        "DATABASE_URL": server.url,
        "ADMIN_API_KEY": ADMIN_KEY,
        "WEBHOOK_SIGNING_SECRETS": SIGNING_SECRET,
        "PROPERTY_IDS": PROPERTY,
        **UNBOUNDED_CLIENTS,
    }
    with start_gateway(
        REPO / "template.yaml",
        env_overrides=env,
        parameter_overrides={"WebhookRateLimit": "6000"},
        max_workers_per_function=4,
        run_queues=True,
    ) as running:
        queues = running.queues
        assert queues is not None
        # A failed batch comes back after 5 s (3 minutes in the template), so the test
        # does not wait for minutes; 20 receipts still take longer than the outage.
        boto3.client(
            "sqs",
            endpoint_url=queues.endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        ).set_queue_attributes(
            QueueUrl=queues.urls["IngestBufferQueue"], Attributes={"VisibilityTimeout": "5"}
        )
        yield running


def burst(now: datetime) -> list[Sent]:
    """The requests, interleaved: each visit's page view and engagement (as funnel.js sends
    them, text/plain), the tenant's creation and its scans (as the emitter sends them)."""
    beacons: list[Sent] = []
    for visit in range(VISITS):
        page_view = f"pv-outage-{visit:03d}"
        common = {
            "propertyId": PROPERTY,
            "visitorId": f"vis-outage-{visit:03d}",
            "path": f"/page/{visit % 5}",
        }
        at = (now - timedelta(seconds=VISITS - visit)).isoformat()
        view = {**common, "type": "page_view", "eventId": page_view, "occurredAt": at, "title": "Outage"}
        engaged = {
            **common,
            "type": "engagement",
            "eventId": f"eng-outage-{visit:03d}",
            "pageViewId": page_view,
            "occurredAt": at,
            "engagement": {"engagedTimeMs": 1000 + visit, "scrollDepthPercent": 50},
        }
        beacons.append(Sent("beacon", "/v1/events", json.dumps(view), event_ids=(page_view,)))
        beacons.append(
            Sent("beacon", "/v1/events", json.dumps({"events": [engaged]}), event_ids=(engaged["eventId"],))
        )
    created = now - timedelta(minutes=10)
    webhooks = [
        webhook("tenant.created", {"siteUrl": "https://outage.example.com"}, "created", created),
        *(
            webhook(
                "scan.completed",
                {
                    "jobId": f"job-{scan:03d}",
                    "mediaCount": MEDIA_PER_SCAN,
                    "identitiesDetected": 1,
                    "durationMs": 500,
                },
                f"scan-{scan:03d}",
                created + timedelta(seconds=scan + 1),
            )
            for scan in range(SCANS)
        ),
    ]
    interleaved: list[Sent] = []
    while beacons or webhooks:
        interleaved += beacons[:2] + webhooks[:1]
        beacons, webhooks = beacons[2:], webhooks[1:]
    return interleaved


def webhook(event_type: str, payload: dict[str, Any], name: str, occurred: datetime) -> Sent:
    body = {
        "eventType": event_type,
        "tenantId": TENANT,
        "occurredAt": occurred.isoformat(),
        "payload": payload,
    }
    return Sent(
        "webhook", "/v1/webhooks/description-service", json.dumps(body), webhook_id=f"msg-outage-{name}"
    )


def send(gateway: RunningGateway, sent: Sent) -> None:
    if sent.kind == "beacon":
        headers = {"content-type": "text/plain;charset=UTF-8", "user-agent": USER_AGENT}
    else:
        assert sent.webhook_id is not None
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "x-admin-key": ADMIN_KEY,
            "webhook-id": sent.webhook_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(SIGNING_SECRET, sent.webhook_id, stamp, sent.body),
        }
    request = urllib.request.Request(
        gateway.url + sent.path, data=sent.body.encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            sent.answers.append((response.status, json.loads(response.read() or b"null")))
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            body = json.loads(text)
        except ValueError:
            body = text.decode(errors="replace")
        sent.answers.append((error.code, body))


def send_all(pool: ThreadPoolExecutor, gateway: RunningGateway, requests: list[Sent]) -> list[Future[None]]:
    return [pool.submit(send, gateway, sent) for sent in requests]


def wait(futures: list[Future[None]]) -> None:
    for future in futures:
        future.result(timeout=120)


def roll_up(server: OwnServer, first: date, last: date, monkeypatch: pytest.MonkeyPatch) -> None:
    """Roll the days up as an operator's backfill does (``make rollups-backfill``)."""
    monkeypatch.setenv("DATABASE_URL", server.url)
    monkeypatch.delenv("DB_DEADLINE_MS", raising=False)
    reset_runtime()
    try:
        report = handle_event(get_runtime(), {"from": first.isoformat(), "to": last.isoformat()})
    finally:
        reset_runtime()
    assert report["ok"] is True and report["complete"] is True, json.dumps(report)


def test_nothing_acknowledged_is_lost_and_nothing_is_500_while_the_database_freezes_and_crashes(
    gateway, server, monkeypatch
):
    now = datetime.now(UTC).replace(microsecond=0)
    requests = burst(now)
    quarter = len(requests) // 4
    normal, frozen, killed, recovered = (
        requests[:quarter],
        requests[quarter : 2 * quarter],
        requests[2 * quarter : 3 * quarter],
        requests[3 * quarter :],
    )
    queues = gateway.queues
    assert queues is not None

    # Given the local stack under a burst of beacons and webhooks
    with ThreadPoolExecutor(SENDERS) as pool:
        wait(send_all(pool, gateway, normal))
        try:
            # When its database freezes in the middle of the burst, and then crashes
            with server.frozen(at_most=FREEZE_SECONDS + 10):
                in_flight = send_all(pool, gateway, frozen)
                time.sleep(FREEZE_SECONDS)
                server.kill()
            wait(in_flight)
            wait(send_all(pool, gateway, killed))
        finally:
            server.start()
        # And the rest of the burst comes once it is back
        wait(send_all(pool, gateway, recovered))
        # And a sender sends again what was answered 503 (same webhook-id)
        refused = [sent for sent in requests if not sent.acknowledged and sent.answers[-1][0] == 503]
        wait(send_all(pool, gateway, refused))

    # Then, once the buffer is drained (nothing left to write, nothing dead-lettered)
    deadline = time.monotonic() + DRAINED_WITHIN_SECONDS
    while queues.depth("IngestBufferQueue"):
        assert time.monotonic() < deadline, "the ingest buffer was not drained"
        time.sleep(0.5)
    assert queues.depth("IngestBufferDeadLetterQueue") == 0

    with psycopg.connect(server.url, autocommit=True) as conn:
        events = Counter(
            dict(
                conn.execute(
                    "SELECT client_event_id, count(*) FROM events WHERE property_id = %s GROUP BY 1",
                    (PROPERTY,),
                )
            )
        )
        scans = Counter(
            dict(
                conn.execute(
                    "SELECT coalesce(nullif(subject_id, ''), event_type), count(*) FROM tenant_events "
                    "WHERE tenant_id = %s GROUP BY 1",
                    (TENANT,),
                )
            )
        )

    beacons = [sent for sent in requests if sent.kind == "beacon"]
    webhooks = [sent for sent in requests if sent.kind == "webhook"]
    statuses = Counter(status for sent in requests for status, _ in sent.answers)
    acknowledged = [sent for sent in requests if sent.acknowledged]
    stored_beacons = [sent for sent in beacons if all(events[event_id] == 1 for event_id in sent.event_ids)]
    stored_webhooks = [
        sent
        for sent in webhooks
        if scans[json.loads(sent.body)["payload"].get("jobId", "tenant.created")] == 1
    ]
    lost = [sent for sent in acknowledged if sent not in stored_beacons and sent not in stored_webhooks]
    figures = {
        "sent": len(requests),
        "2xx": sum(200 <= sent.first < 300 for sent in requests),
        "queued": sum(sent.queued for sent in requests),
        "503 then sent again": len(refused),
        "2xx in the end": len(acknowledged),
        "stored": len(stored_beacons) + len(stored_webhooks),
        "lost": len(lost),
        "statuses": dict(sorted(statuses.items())),
    }
    print("\noutage test figures:", json.dumps(figures))

    # Nothing was answered 500 (or any 5xx but a 503 with Retry-After), no beacon needed a
    # retry it cannot make, and every request ended acknowledged
    assert not [status for status in statuses if status >= 500 and status != 503], figures
    assert all(sent.acknowledged for sent in beacons), figures
    assert len(acknowledged) == len(requests), figures
    # Every acknowledged request is stored exactly once
    assert lost == [], figures
    assert set(events.values()) == {1} and len(events) == 2 * VISITS
    assert set(scans.values()) == {1} and len(scans) == SCANS + 1
    # Something was actually buffered (the outage happened during the burst)
    assert figures["queued"] > 0, figures

    # And the rollups count what was sent (of the day, or of both days should the burst
    # straddle midnight: each visitor has one page view, so one day)
    roll_up(server, (now - timedelta(days=1)).date(), now.date(), monkeypatch)
    with psycopg.connect(server.url, autocommit=True) as conn:
        traffic = conn.execute(
            "SELECT sum(total_page_views), sum(total_sessions), sum(unique_visitors) "
            "FROM daily_metric_rollups WHERE property_id = %s",
            (PROPERTY,),
        ).fetchone()
        usage = conn.execute(
            "SELECT sum(scans_completed), sum(media_processed) FROM service_usage_rollups "
            "WHERE tenant_id = %s",
            (TENANT,),
        ).fetchone()
    assert traffic == (VISITS, VISITS, VISITS)
    assert usage == (SCANS, SCANS * MEDIA_PER_SCAN)
