"""The typed events: what they send, and every mistake they catch before anything is sent.

Each limit is tested on both sides of its edge. Standard library and pytest only; the
agreement with Funnel's own models is in test_emitter_contract.py.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from funnel_emitter import (
    ApiKeyCreated,
    ClusterCreated,
    Event,
    InvalidEvent,
    ScanCompleted,
    ScanFailed,
    SuggestionResolved,
    TenantCreated,
    WebhookEmitter,
)
from funnel_emitter.events import EARLIEST_OCCURRED_AT, envelope_body, event_from_payload
from tests.emitter_fakes import ADMIN_KEY, SECRET, START

UTC = timezone.utc  # noqa: UP017 - these tests also run on Python 3.10, before datetime.UTC
NOW = datetime.fromtimestamp(START, tz=UTC)
WHEN = datetime(2026, 2, 13, 12, 0, tzinfo=UTC)


def scan(**changes: Any) -> ScanCompleted:
    fields: dict[str, Any] = {
        "tenant_id": "tenant-1",
        "job_id": "job-1",
        "media_count": 3,
        "identities_detected": 2,
        "duration_ms": 900,
    }
    return ScanCompleted(**{**fields, **changes})


# --- what is sent ----------------------------------------------------------------------


def test_each_event_sends_its_fields_by_their_json_names() -> None:
    # Given one event of each type, with every field set
    events: list[tuple[Event, dict[str, Any]]] = [
        (
            TenantCreated(
                tenant_id="t-1", site_url="https://a.example", email="A@Example.org", created_at=WHEN
            ),
            {"siteUrl": "https://a.example", "email": "A@Example.org", "createdAt": "2026-02-13T12:00:00Z"},
        ),
        (
            ApiKeyCreated(tenant_id="t-1", key_prefix="ak_1", rate_limit_tier="free", created_at=WHEN),
            {"keyPrefix": "ak_1", "rateLimitTier": "free", "createdAt": "2026-02-13T12:00:00Z"},
        ),
        (
            scan(suggestions_generated=4, completed_at=WHEN),
            {
                "jobId": "job-1",
                "mediaCount": 3,
                "identitiesDetected": 2,
                "durationMs": 900,
                "suggestionsGenerated": 4,
                "completedAt": "2026-02-13T12:00:00Z",
            },
        ),
        (
            ScanFailed(tenant_id="t-1", job_id="j-2", media_count=1, error_message="timeout", failed_at=WHEN),
            {"jobId": "j-2", "mediaCount": 1, "errorMessage": "timeout", "failedAt": "2026-02-13T12:00:00Z"},
        ),
        (
            ClusterCreated(
                tenant_id="t-1", cluster_id="c-1", identity_count=2, algorithm="graph", created_at=WHEN
            ),
            {
                "clusterId": "c-1",
                "identityCount": 2,
                "algorithm": "graph",
                "createdAt": "2026-02-13T12:00:00Z",
            },
        ),
        (
            SuggestionResolved(tenant_id="t-1", suggestion_id="s-1", resolution="accepted", resolved_at=WHEN),
            {"suggestionId": "s-1", "resolution": "accepted", "resolvedAt": "2026-02-13T12:00:00Z"},
        ),
    ]
    # When their payloads are built, Then each field has its camelCase name and times are UTC "Z"
    for event, expected in events:
        assert event.payload() == expected


def test_unset_optional_fields_are_left_out_and_extra_fields_are_sent_last() -> None:
    # Given a scan with no optional field and a field Funnel does not know yet
    event = scan(extra={"gpu": "a100"})
    # When its payload is built, Then only the set fields and the extra one are there
    assert list(event.payload()) == ["jobId", "mediaCount", "identitiesDetected", "durationMs", "gpu"]


def test_the_envelope_is_compact_json_with_occurred_at_in_utc() -> None:
    # Given an event that happened at 14:00 in UTC+2
    occurred = datetime(2026, 2, 13, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    # When its body is built
    body = envelope_body(scan(), occurred, now=NOW)
    # Then the envelope holds the type, the tenant and the moment in UTC with a Z
    assert body == (
        b'{"eventType":"scan.completed","tenantId":"tenant-1","occurredAt":"2026-02-13T12:00:00Z",'
        b'"payload":{"jobId":"job-1","mediaCount":3,"identitiesDetected":2,"durationMs":900}}'
    )


def test_a_payload_given_by_json_names_builds_the_same_event() -> None:
    # Given a scan.completed payload as a dict, its time as an ISO string with an offset
    payload = {**scan().payload(), "completedAt": "2026-02-13T07:00:00-05:00", "gpu": "a100"}
    # When it is turned into a typed event
    event = event_from_payload("scan.completed", "tenant-1", payload)
    # Then it is the typed scan, the unknown field kept as extra
    assert event == scan(completed_at=WHEN)
    assert event.extra == {"gpu": "a100"}
    assert event.payload()["completedAt"] == "2026-02-13T12:00:00Z"


def test_typed_events_are_frozen() -> None:
    # Given a typed event, Then it cannot be changed after its checks passed
    with pytest.raises(dataclasses.FrozenInstanceError):
        scan().media_count = -1  # type: ignore[misc]


# --- what is caught -------------------------------------------------------------------


def test_a_missing_field_of_a_typed_event_fails_at_construction() -> None:
    # Given a scan.completed without identities_detected and duration_ms, Then it cannot be built
    with pytest.raises(TypeError, match="identities_detected"):
        ScanCompleted(tenant_id="t-1", job_id="j-1", media_count=3)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("event_type", "payload", "message"),
    [
        (
            "scan.completed",
            {"jobId": "j", "mediaCount": 1, "durationMs": 1},
            "identitiesDetected is required",
        ),
        ("scan.failed", {"mediaCount": 1}, "jobId is required"),
        ("apikey.created", {}, "keyPrefix is required"),
        ("cluster.created", {"clusterId": "c"}, "identityCount is required"),
        ("suggestion.resolved", {"suggestionId": "s"}, "resolution is required"),
        ("tenant.deleted", {}, "unknown event type"),
        ("scan.failed", {"jobId": "j", "mediaCount": 1, "tenantId": "someone-else"}, "tenantId differs"),
        ("scan.failed", {"jobId": "j", "mediaCount": 1, "failedAt": "2026-02-13T12:00:00"}, "timezone-aware"),
        ("scan.failed", {"jobId": "j", "mediaCount": 1, "failedAt": "yesterday"}, "ISO-8601"),
        ("scan.failed", {"jobId": "j", "mediaCount": 1, "failedAt": 0}, "must be a datetime"),
    ],
)
def test_a_payload_given_by_json_names_is_checked(
    event_type: str, payload: dict[str, Any], message: str
) -> None:
    # Given a payload with a field missing, mistyped or naming another tenant
    # When it is turned into an event, Then InvalidEvent names the problem
    with pytest.raises(InvalidEvent, match=message):
        event_from_payload(event_type, "tenant-1", payload)


ID_MAX = "a" * 128
COUNT_MAX = 1_000_000_000


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({"job_id": ID_MAX}, True),
        ({"job_id": ID_MAX + "a"}, False),
        ({"job_id": "j"}, True),
        ({"job_id": ""}, False),
        ({"job_id": "job 1"}, False),
        ({"job_id": "-job"}, False),
        ({"job_id": "a._:@/-9"}, True),
        ({"tenant_id": ID_MAX}, True),
        ({"tenant_id": ID_MAX + "a"}, False),
        ({"media_count": COUNT_MAX}, True),
        ({"media_count": COUNT_MAX + 1}, False),
        ({"media_count": 0}, True),
        ({"media_count": -1}, False),
        ({"media_count": "3"}, False),
        ({"media_count": 3.0}, False),
        ({"media_count": True}, False),
        ({"duration_ms": None}, False),
        ({"suggestions_generated": None}, True),
        ({"suggestions_generated": COUNT_MAX + 1}, False),
        ({"completed_at": WHEN}, True),
        ({"completed_at": WHEN.replace(tzinfo=None)}, False),
        ({"completed_at": "2026-02-13T12:00:00Z"}, False),
        ({"extra": {"mediaCount": 4}}, False),
        ({"extra": {"payload": 1}}, False),
    ],
)
def test_scan_completed_fields_are_checked_at_their_limits(changes: dict[str, Any], accepted: bool) -> None:
    # Given a scan.completed with one field at, or one unit past, what Funnel accepts
    # When it is built, Then it is accepted exactly when Funnel would accept it
    if accepted:
        scan(**changes)
    else:
        with pytest.raises(InvalidEvent):
            scan(**changes)


@pytest.mark.parametrize(
    ("build", "accepted"),
    [
        (lambda: ApiKeyCreated(tenant_id="t", key_prefix="k" * 32), True),
        (lambda: ApiKeyCreated(tenant_id="t", key_prefix="k" * 33), False),
        (lambda: ApiKeyCreated(tenant_id="t", key_prefix=""), False),
        (lambda: ApiKeyCreated(tenant_id="t", key_prefix="ak_\x00"), False),
        (lambda: ApiKeyCreated(tenant_id="t", key_prefix="ak", rate_limit_tier="r" * 64), True),
        (lambda: ApiKeyCreated(tenant_id="t", key_prefix="ak", rate_limit_tier="r" * 65), False),
        (lambda: ApiKeyCreated(tenant_id="t", key_prefix="ak", rate_limit_tier="  free  "), True),
        (lambda: ApiKeyCreated(tenant_id="t", key_prefix="ak", rate_limit_tier="   "), False),
        (lambda: ScanFailed(tenant_id="t", job_id="j", media_count=1, error_message="e" * 2000), True),
        (lambda: ScanFailed(tenant_id="t", job_id="j", media_count=1, error_message="e" * 2001), False),
        (lambda: ScanFailed(tenant_id="t", job_id="j", media_count=1, error_message="\ud800"), False),
        (lambda: SuggestionResolved(tenant_id="t", suggestion_id="s", resolution="x" * 64), True),
        (lambda: SuggestionResolved(tenant_id="t", suggestion_id="s", resolution="x" * 65), False),
        (lambda: ClusterCreated(tenant_id="t", cluster_id="c", identity_count=COUNT_MAX), True),
        (lambda: ClusterCreated(tenant_id="t", cluster_id="c", identity_count=COUNT_MAX + 1), False),
        (lambda: TenantCreated(tenant_id="t", site_url="https://e.example/" + "p" * 2030), True),
        (lambda: TenantCreated(tenant_id="t", site_url="https://e.example/" + "p" * 2031), False),
        (lambda: TenantCreated(tenant_id="t", site_url="ftp://e.example/"), False),
        (lambda: TenantCreated(tenant_id="t", site_url="https:///no-host"), False),
        (lambda: TenantCreated(tenant_id="t", site_url="https://e.example:99999/"), False),
        (lambda: TenantCreated(tenant_id="t", email="Ada@Example.org"), True),
        (lambda: TenantCreated(tenant_id="t", email="ada@example"), False),
        (lambda: TenantCreated(tenant_id="t", email="ada..b@example.org"), False),
        (lambda: TenantCreated(tenant_id="t", email="not an address"), False),
    ],
)
def test_every_event_checks_its_fields(build: Any, accepted: bool) -> None:
    # Given an event with a field at, or one unit past, what Funnel accepts
    # When it is built, Then it is accepted exactly when Funnel would accept it
    if accepted:
        build()
    else:
        with pytest.raises(InvalidEvent):
            build()


@pytest.mark.parametrize(
    ("occurred_at", "accepted"),
    [
        (EARLIEST_OCCURRED_AT, True),
        (EARLIEST_OCCURRED_AT - timedelta(microseconds=1), False),
        (NOW + timedelta(hours=1), True),
        (NOW + timedelta(hours=1, microseconds=1), False),
        (WHEN.replace(tzinfo=None), False),
    ],
)
def test_occurred_at_is_checked_at_funnels_limits(occurred_at: datetime, accepted: bool) -> None:
    # Given an occurredAt at, or just past, Funnel's floor (2020) and its one hour of skew
    # When the body is built, Then it is accepted exactly inside them
    if accepted:
        envelope_body(scan(), occurred_at, now=NOW)
    else:
        with pytest.raises(InvalidEvent, match="occurredAt"):
            envelope_body(scan(), occurred_at, now=NOW)


def test_nothing_is_sent_for_an_invalid_event() -> None:
    # Given an emitter of an address nothing listens on (the unit tier refuses any
    # connection, so a send would fail this test)
    emitter = WebhookEmitter("http://127.0.0.1:9/hook", signing_secret=SECRET, admin_key=ADMIN_KEY)
    # When events Funnel would refuse are sent, Then InvalidEvent (a ValueError) is raised first
    with pytest.raises(ValueError, match="identitiesDetected is required"):
        emitter.send("scan.completed", "tenant-1", {"jobId": "j", "mediaCount": 1, "durationMs": 1})
    with pytest.raises(ValueError, match="not valid JSON"):
        emitter.send(scan(extra={"ratio": float("nan")}))
    with pytest.raises(ValueError, match="cannot be encoded"):
        emitter.send(scan(extra={"when": object()}))
    with pytest.raises(TypeError, match="either a typed event"):
        emitter.send(scan(), "tenant-1", {})  # type: ignore[call-overload]
