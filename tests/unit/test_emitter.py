"""funnel_emitter against a scripted HTTP server on 127.0.0.1, with a fake clock and sleep.

No test waits for a retry delay: the injected sleep records the delay and moves the fake
clock on, so each attempt's ``webhook-timestamp`` shows whether it was taken afresh.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import socket
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from funnel.platform.signatures import verify
from funnel_emitter import WebhookEmitter, __version__, sign
from tests.emitter_fakes import (
    ADMIN_KEY,
    DROP,
    HANG,
    SCAN_PAYLOAD,
    SECRET,
    START,
    FakeTime,
    Reply,
    ScriptedServer,
    scripted_server,
)

EMAIL = "owner@example.org"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as srv:
        yield srv


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def emitter(server: ScriptedServer, fake_time: FakeTime) -> WebhookEmitter:
    return make_emitter(server.url, fake_time)


@pytest.fixture
def closed_port_url() -> str:
    # Bind then release a port so nothing listens on it: connecting is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/webhooks/description-service"


def make_emitter(url: str, fake_time: FakeTime, **overrides: Any) -> WebhookEmitter:
    options: dict[str, Any] = {
        "signing_secret": SECRET,
        "admin_key": ADMIN_KEY,
        "timeout": 5.0,
        "sleep": fake_time.sleep,
        "clock": fake_time.clock,
    }
    return WebhookEmitter(url, **{**options, **overrides})


def send_scan(emitter: WebhookEmitter, **kwargs: Any) -> Any:
    return emitter.send("scan.completed", "tenant-1", SCAN_PAYLOAD, **kwargs)


def timestamps(server: ScriptedServer) -> list[int]:
    return [int(request.headers["webhook-timestamp"]) for request in server.received]


# --- signing -------------------------------------------------------------------------


def test_sign_reproduces_the_standard_webhooks_test_vector() -> None:
    # Given the vector published with the Standard Webhooks specification
    # When it is signed
    signature = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
    # Then the published signature comes out, for text and bytes bodies alike
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') == signature


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64"])
def test_sign_rejects_a_malformed_secret(secret: str) -> None:
    # Given a secret without the whsec_ prefix or with broken base64, Then signing refuses it
    with pytest.raises(ValueError, match="whsec_"):
        sign(secret, "msg_1", 1614265330, "{}")


def test_a_delivery_verifies_with_funnels_own_verifier(
    server: ScriptedServer, emitter: WebhookEmitter, fake_time: FakeTime
) -> None:
    # Given Funnel answers 200
    server.script.append(Reply(200, {"ok": True, "eventId": "evt-1"}))
    # When an event is sent
    result = send_scan(emitter)
    # Then the receiving side's Standard Webhooks check accepts it and returns its id
    request = server.received[0]
    assert verify([SECRET], request.headers, request.body, now=fake_time.now, tolerance_seconds=300) == (
        result.webhook_id
    )
    assert request.headers["webhook-timestamp"] == str(int(START))
    # And the answer is reported
    assert (result.ok, result.status, result.body, result.attempts, result.error) == (
        True,
        200,
        {"ok": True, "eventId": "evt-1"},
        1,
        None,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = False  # type: ignore[misc]


def test_a_delivery_carries_the_auth_content_and_agent_headers(
    server: ScriptedServer, emitter: WebhookEmitter
) -> None:
    # Given Funnel answers 200
    server.script.extend([Reply(), Reply()])
    # When two events are sent without a caller-chosen id
    first = send_scan(emitter)
    second = send_scan(emitter)
    # Then each request is a POST to the URL with the admin key, JSON and agent headers
    request = server.received[0]
    assert (request.method, request.path) == ("POST", "/v1/webhooks/description-service")
    assert request.headers["x-admin-key"] == ADMIN_KEY
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"funnel-emitter/{__version__}"
    # And each event gets its own msg_<hex> id
    assert re.fullmatch(r"msg_[0-9a-f]{32}", first.webhook_id)
    assert first.webhook_id != second.webhook_id
    assert [r.headers["webhook-id"] for r in server.received] == [first.webhook_id, second.webhook_id]


def test_a_caller_supplied_webhook_id_is_sent(server: ScriptedServer, emitter: WebhookEmitter) -> None:
    # Given a re-send of an event whose id the caller kept
    server.script.append(Reply())
    # When it is sent with that id
    result = send_scan(emitter, webhook_id="msg_kept-from-last-time")
    # Then the request and the result carry it
    assert server.received[0].headers["webhook-id"] == "msg_kept-from-last-time"
    assert result.webhook_id == "msg_kept-from-last-time"


def test_an_injected_opener_sends_the_requests(server: ScriptedServer, fake_time: FakeTime) -> None:
    # Given an opener whose handler sees every outgoing request
    seen: list[str] = []

    class Spy(urllib.request.BaseHandler):
        def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
            seen.append(request.get_header("Webhook-id") or "")
            return request

    server.script.append(Reply())
    emitter = make_emitter(server.url, fake_time, opener=urllib.request.build_opener(Spy()))
    # When an event is sent
    result = send_scan(emitter)
    # Then it went through that opener
    assert seen == [result.webhook_id]
    assert result.ok


# --- envelope ------------------------------------------------------------------------


def test_the_body_is_the_compact_envelope_with_a_utc_z_time(
    server: ScriptedServer, emitter: WebhookEmitter
) -> None:
    # Given an event that happened at 14:00 in UTC+2
    server.script.append(Reply())
    occurred = datetime(2026, 2, 13, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    # When it is sent
    send_scan(emitter, occurred_at=occurred)
    # Then the body is compact JSON with the time converted to UTC and marked Z
    assert server.received[0].body == (
        b'{"eventType":"scan.completed","tenantId":"tenant-1","occurredAt":"2026-02-13T12:00:00Z",'
        b'"payload":{"jobId":"job-9","mediaCount":3,"identitiesDetected":2,"durationMs":900}}'
    )


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        ("2026-02-13T12:00:00Z", "2026-02-13T12:00:00Z"),
        ("2026-02-13T07:00:00-05:00", "2026-02-13T12:00:00Z"),
        ("2026-02-13T12:00:00.250000+00:00", "2026-02-13T12:00:00.250000Z"),
    ],
)
def test_occurred_at_accepts_iso_strings_with_an_offset(
    server: ScriptedServer, emitter: WebhookEmitter, occurred_at: str, expected: str
) -> None:
    # Given an ISO-8601 string with Z or an offset
    server.script.append(Reply())
    # When it is sent as occurred_at
    send_scan(emitter, occurred_at=occurred_at)
    # Then the envelope carries the same moment in UTC with a Z
    assert json.loads(server.received[0].body)["occurredAt"] == expected


def test_occurred_at_defaults_to_now_from_the_clock(server: ScriptedServer, emitter: WebhookEmitter) -> None:
    # Given no occurred_at, When an event is sent
    server.script.append(Reply())
    send_scan(emitter)
    # Then the injected clock's now is used
    assert json.loads(server.received[0].body)["occurredAt"] == "2026-02-14T00:00:00Z"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event_type": "tenant.deleted"}, "unknown event type"),
        ({"tenant_id": ""}, "tenantId"),
        ({"occurred_at": datetime(2026, 2, 13, 12, 0)}, "timezone-aware"),
        ({"occurred_at": "2026-02-13T12:00:00"}, "timezone-aware"),
        ({"occurred_at": "yesterday"}, "ISO-8601"),
        ({"webhook_id": "msg with space"}, "webhook_id"),
        ({"webhook_id": ""}, "webhook_id"),
        ({"payload": {"ratio": float("nan")}}, "JSON"),
    ],
)
def test_invalid_events_are_rejected_before_anything_is_sent(
    server: ScriptedServer, emitter: WebhookEmitter, kwargs: dict[str, Any], message: str
) -> None:
    # Given an otherwise valid event with one bad part
    event: dict[str, Any] = {"event_type": "tenant.created", "tenant_id": "tenant-1", "payload": {}}
    event.update(kwargs)
    positional = (event.pop("event_type"), event.pop("tenant_id"), event.pop("payload"))
    # When it is sent, Then ValueError names the problem
    with pytest.raises(ValueError, match=message):
        emitter.send(*positional, **event)
    # And nothing reached the server
    assert server.received == []


@pytest.mark.parametrize(
    ("url", "overrides", "message"),
    [
        ("file:///etc/passwd", {}, "http"),
        ("http://127.0.0.1:9/hook", {"signing_secret": "plain-text"}, "whsec_"),
        ("http://127.0.0.1:9/hook", {"admin_key": ""}, "admin_key"),
        ("http://127.0.0.1:9/hook", {"timeout": 0}, "timeout"),
        ("http://127.0.0.1:9/hook", {"retry_delays": (1.0, -1.0)}, "negative"),
    ],
)
def test_a_misconfigured_emitter_fails_at_construction(
    fake_time: FakeTime, url: str, overrides: dict[str, Any], message: str
) -> None:
    # Given a bad URL, secret, admin key, timeout or delay, Then the constructor refuses it
    with pytest.raises(ValueError, match=message):
        make_emitter(url, fake_time, **overrides)


# --- retries -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_transient_statuses_are_retried_with_the_same_id_and_body_until_giving_up(
    server: ScriptedServer, emitter: WebhookEmitter, fake_time: FakeTime, status: int
) -> None:
    # Given Funnel keeps answering a transient error
    server.script.extend([Reply(status, {"ok": False, "error": "busy"})] * 4)
    # When an event is sent
    result = send_scan(emitter)
    # Then it was tried 4 times, 1 s, 5 s and 30 s apart, and reported as failed
    assert fake_time.sleeps == [1.0, 5.0, 30.0]
    assert (result.ok, result.status, result.attempts, result.error) == (False, status, 4, f"HTTP {status}")
    assert result.body == {"ok": False, "error": "busy"}
    # And every attempt carried the same id and body but its own, valid, timestamp
    assert {r.headers["webhook-id"] for r in server.received} == {result.webhook_id}
    assert len({r.body for r in server.received}) == 1
    assert timestamps(server) == [int(START), int(START) + 1, int(START) + 6, int(START) + 36]
    for request, now in zip(server.received, timestamps(server), strict=True):
        assert verify([SECRET], request.headers, request.body, now=now, tolerance_seconds=0)


def test_a_refused_connection_is_retried_then_reported(
    closed_port_url: str, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    # Given nothing listens at the URL
    caplog.set_level(logging.INFO, logger="funnel_emitter")
    emitter = make_emitter(closed_port_url, fake_time)
    # When an event is sent
    result = send_scan(emitter)
    # Then the 4 attempts were 1 s, 5 s and 30 s apart and no status came back
    assert fake_time.sleeps == [1.0, 5.0, 30.0]
    assert (result.ok, result.status, result.body, result.attempts) == (False, None, None, 4)
    assert result.error is not None
    assert "refused" in result.error.lower()
    # And each attempt used the same webhook id
    assert {record.webhook_id for record in caplog.records} == {result.webhook_id}


def test_a_dropped_connection_and_a_timeout_are_retried(server: ScriptedServer, fake_time: FakeTime) -> None:
    # Given the first answer never comes, the second connection is closed unanswered,
    # and the third attempt succeeds
    server.script.extend([HANG, DROP, Reply()])
    emitter = make_emitter(server.url, fake_time, timeout=0.2)
    # When an event is sent
    result = send_scan(emitter)
    # Then it was delivered on the third attempt after waiting 1 s and 5 s
    assert (result.ok, result.status, result.attempts) == (True, 200, 3)
    assert fake_time.sleeps == [1.0, 5.0]
    assert len({(r.headers["webhook-id"], r.body) for r in server.received}) == 1


def test_success_after_one_retry_stops_retrying(
    server: ScriptedServer, emitter: WebhookEmitter, fake_time: FakeTime
) -> None:
    # Given one 503 and then a 200
    server.script.extend([Reply(503), Reply(200, {"ok": True, "eventId": "evt-2"}), Reply(200)])
    # When an event is sent
    result = send_scan(emitter)
    # Then the second attempt's answer is the result and no third request was made
    assert (result.ok, result.status, result.body, result.attempts) == (
        True,
        200,
        {"ok": True, "eventId": "evt-2"},
        2,
    )
    assert fake_time.sleeps == [1.0]
    assert len(server.received) == 2


@pytest.mark.parametrize("status", [400, 401, 409, 413, 422])
def test_client_errors_are_not_retried(
    server: ScriptedServer, emitter: WebhookEmitter, fake_time: FakeTime, status: int
) -> None:
    # Given Funnel rejects the event
    server.script.extend([Reply(status, {"ok": False, "error": "rejected"}), Reply(200)])
    # When it is sent
    result = send_scan(emitter)
    # Then there was a single attempt, no wait, and the rejection is reported
    assert (result.ok, result.status, result.attempts, result.error) == (False, status, 1, f"HTTP {status}")
    assert result.body == {"ok": False, "error": "rejected"}
    assert fake_time.sleeps == []
    assert len(server.received) == 1


def test_a_redirect_is_not_followed(server: ScriptedServer, emitter: WebhookEmitter) -> None:
    # Given Funnel's URL redirects elsewhere
    server.script.extend([Reply(302, {}, {"location": server.url + "/elsewhere"}), Reply(200)])
    # When an event is sent
    result = send_scan(emitter)
    # Then the admin key went nowhere else and the delivery failed without a retry
    assert [r.path for r in server.received] == ["/v1/webhooks/description-service"]
    assert (result.ok, result.status, result.attempts) == (False, 302, 1)


def test_a_non_json_answer_leaves_the_body_empty(server: ScriptedServer, emitter: WebhookEmitter) -> None:
    # Given a 2xx answer whose body is not a JSON object
    server.script.append(Reply(202, b"accepted"))
    # When an event is sent, Then it counts as delivered with no body
    result = send_scan(emitter)
    assert (result.ok, result.status, result.body) == (True, 202, None)


@pytest.mark.parametrize(
    ("reply", "expected_wait"),
    [
        (Reply(429, headers={"Retry-After": "10"}), 10.0),
        (Reply(503, headers={"Retry-After": "0"}), 1.0),
        (Reply(429, headers={"Retry-After": "3600"}), 60.0),
        (Reply(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), 1.0),
        (Reply(500, headers={"Retry-After": "10"}), 1.0),
    ],
    ids=["longer-than-scheduled", "shorter-than-scheduled", "capped", "http-date-ignored", "not-on-500"],
)
def test_retry_after_stretches_the_wait_for_429_and_503(
    server: ScriptedServer, emitter: WebhookEmitter, fake_time: FakeTime, reply: Reply, expected_wait: float
) -> None:
    # Given a transient error carrying Retry-After, then success
    server.script.extend([reply, Reply()])
    # When an event is sent
    result = send_scan(emitter)
    # Then the wait is the longer of the schedule and Retry-After (at most 60 s), and
    # only 429 and 503 are taken at their word
    assert fake_time.sleeps == [expected_wait]
    assert (result.ok, result.attempts) == (True, 2)


def test_custom_retry_delays_set_the_number_of_attempts(server: ScriptedServer, fake_time: FakeTime) -> None:
    # Given an emitter that retries once after 2 s
    emitter = make_emitter(server.url, fake_time, retry_delays=(2.0,))
    server.script.extend([Reply(500)] * 3)
    # When Funnel keeps failing, Then it gives up after 2 attempts
    result = send_scan(emitter)
    assert (result.ok, result.attempts) == (False, 2)
    assert fake_time.sleeps == [2.0]


# --- logging -------------------------------------------------------------------------


def test_every_attempt_is_logged_without_secrets_or_payload(
    server: ScriptedServer, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a 503, then a dropped connection, then success
    caplog.set_level(logging.DEBUG, logger="funnel_emitter")
    server.script.extend([Reply(503), DROP, Reply()])
    emitter = make_emitter(server.url, fake_time)
    # When a tenant.created event with an email is sent
    result = emitter.send("tenant.created", "tenant-1", {"email": EMAIL, "siteUrl": "https://example.org"})
    # Then each attempt left one record on the funnel_emitter logger with structured fields
    records = [record for record in caplog.records if record.name == "funnel_emitter"]
    assert [(r.levelno, r.attempt, r.status, r.will_retry, r.webhook_id, r.event_type) for r in records] == [
        (logging.WARNING, 1, 503, True, result.webhook_id, "tenant.created"),
        (logging.WARNING, 2, None, True, result.webhook_id, "tenant.created"),
        (logging.INFO, 3, 200, False, result.webhook_id, "tenant.created"),
    ]
    assert records[0].error == "HTTP 503"
    assert "RemoteDisconnected" in records[1].error
    assert records[2].error is None
    assert all(isinstance(r.elapsed_ms, int) and r.elapsed_ms >= 0 for r in records)
    # And no record holds the secret, its key, the admin key or the payload
    forbidden = [SECRET, SECRET.removeprefix("whsec_"), ADMIN_KEY, EMAIL, "example.org"]
    for record in records:
        text = record.getMessage() + repr(vars(record))
        assert not [value for value in forbidden if value in text]


def test_giving_up_is_logged_as_an_error(
    server: ScriptedServer, emitter: WebhookEmitter, caplog: pytest.LogCaptureFixture
) -> None:
    # Given Funnel fails every attempt
    caplog.set_level(logging.INFO, logger="funnel_emitter")
    server.script.extend([Reply(500)] * 4)
    # When an event is sent
    send_scan(emitter)
    # Then the last of the 4 records says it gave up, at ERROR
    records = [record for record in caplog.records if record.name == "funnel_emitter"]
    assert [(r.attempt, r.levelname, r.will_retry) for r in records] == [
        (1, "WARNING", True),
        (2, "WARNING", True),
        (3, "WARNING", True),
        (4, "ERROR", False),
    ]
    assert "giving up" in records[-1].getMessage()
