"""The emitter's typed events agree with Funnel's webhook models (funnel.webhooks.schemas).

Whatever the emitter builds, Funnel validates; whatever Funnel refuses at a field's limit,
the emitter refuses before sending (so it never becomes a dead event in an outbox). When
either side changes a field, a name, a limit or which fields are required, a test here
fails.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from funnel.webhooks.ingest import EARLIEST_EVENT, MAX_CLOCK_SKEW
from funnel.webhooks.schemas import EVENT_TYPES as SERVER_EVENT_TYPES
from funnel.webhooks.schemas import WebhookDelivery
from funnel_emitter import (
    EVENT_TYPES,
    ApiKeyCreated,
    ClusterCreated,
    Event,
    InvalidEvent,
    ScanCompleted,
    ScanFailed,
    SuggestionResolved,
    TenantCreated,
)
from funnel_emitter.events import (
    EARLIEST_OCCURRED_AT,
    EVENT_CLASSES,
    envelope_body,
    event_from_payload,
    site_url,
    wire_name,
)
from funnel_emitter.events import MAX_CLOCK_SKEW as EMITTER_CLOCK_SKEW

NOW = datetime(2026, 2, 14, tzinfo=UTC)
WHEN = datetime(2026, 2, 13, 12, 0, tzinfo=UTC)


def server_payload_model(event_type: str) -> type[BaseModel]:
    """The payload model Funnel picks for ``event_type`` (the discriminated union's arm)."""
    for arm in WebhookDelivery.model_fields["root"].annotation.__args__:  # type: ignore[union-attr]
        if arm.model_fields["eventType"].annotation.__args__ == (event_type,):
            return arm.model_fields["payload"].annotation  # type: ignore[no-any-return]
    raise AssertionError(f"Funnel has no model for {event_type}")


def server_accepts(event_type: str, payload: dict[str, Any]) -> bool:
    body = {
        "eventType": event_type,
        "tenantId": "tenant-1",
        "occurredAt": "2026-02-13T12:00:00Z",
        "payload": payload,
    }
    try:
        WebhookDelivery.model_validate_json(json.dumps(body))
    except ValidationError:
        return False
    return True


def emitter_accepts(event_type: str, payload: dict[str, Any]) -> bool:
    try:
        event_from_payload(event_type, "tenant-1", payload)
    except InvalidEvent:
        return False
    return True


FULL_EVENTS: list[Event] = [
    TenantCreated(
        tenant_id="tenant-1", site_url="https://a.example/x", email="Ada@Example.org", created_at=WHEN
    ),
    ApiKeyCreated(tenant_id="tenant-1", key_prefix="ak_live_1", rate_limit_tier="free", created_at=WHEN),
    ScanCompleted(
        tenant_id="tenant-1",
        job_id="job-1",
        media_count=3,
        identities_detected=2,
        duration_ms=900,
        suggestions_generated=4,
        completed_at=WHEN,
    ),
    ScanFailed(
        tenant_id="tenant-1", job_id="job-2", media_count=1, error_message="GPU timeout", failed_at=WHEN
    ),
    ClusterCreated(
        tenant_id="tenant-1", cluster_id="c-1", identity_count=2, algorithm="graph", created_at=WHEN
    ),
    SuggestionResolved(tenant_id="tenant-1", suggestion_id="s-1", resolution="accepted", resolved_at=WHEN),
]
MINIMAL_EVENTS: list[Event] = [
    TenantCreated(tenant_id="tenant-1"),
    ApiKeyCreated(tenant_id="tenant-1", key_prefix="a"),
    ScanCompleted(tenant_id="tenant-1", job_id="j", media_count=0, identities_detected=0, duration_ms=0),
    ScanFailed(tenant_id="tenant-1", job_id="j", media_count=0),
    ClusterCreated(tenant_id="tenant-1", cluster_id="c", identity_count=0),
    SuggestionResolved(tenant_id="tenant-1", suggestion_id="s", resolution="r"),
]


def test_both_sides_know_the_same_six_event_types() -> None:
    # Given the emitter's event types and Funnel's, Then they are the same six
    assert EVENT_TYPES == set(SERVER_EVENT_TYPES) == set(EVENT_CLASSES)
    assert len(EVENT_TYPES) == 6


@pytest.mark.parametrize("event_type", sorted(EVENT_CLASSES))
def test_each_event_declares_funnels_fields_with_the_same_required_ones(event_type: str) -> None:
    # Given the emitter's dataclass and Funnel's payload model for one event type
    ours = {
        wire_name(spec.name): spec.default is dataclasses.MISSING
        and spec.default_factory is dataclasses.MISSING
        for spec in dataclasses.fields(EVENT_CLASSES[event_type])
        if spec.name not in ("tenant_id", "extra")
    }
    model = server_payload_model(event_type)
    theirs = {name: info.is_required() for name, info in model.model_fields.items() if name != "tenantId"}
    # Then they name the same fields and require the same ones
    assert ours == theirs


@pytest.mark.parametrize("event", FULL_EVENTS + MINIMAL_EVENTS, ids=lambda event: event.event_type)
def test_every_typed_event_validates_against_funnels_model(event: Event) -> None:
    # Given a typed event, with every field or only the required ones
    # When the emitter builds its body
    body = envelope_body(event, WHEN, now=NOW)
    # Then Funnel's model accepts it, with the same type, tenant, moment and field values
    delivery = WebhookDelivery.model_validate_json(body).root
    assert (delivery.eventType, delivery.tenantId, delivery.occurredAt) == (
        event.event_type,
        "tenant-1",
        WHEN,
    )
    parsed = delivery.payload.model_dump(mode="json", exclude_none=True, exclude={"tenantId"})
    sent = event.payload()
    if "siteUrl" in sent:
        assert parsed.pop("siteUrl") == sent.pop("siteUrl")
    if "email" in sent:
        assert parsed.pop("email") == sent.pop("email").lower()
    for name in [name for name in sent if name.endswith("At")]:
        assert datetime.fromisoformat(parsed.pop(name).replace("Z", "+00:00")) == WHEN
        assert sent.pop(name) == "2026-02-13T12:00:00Z"
    assert parsed == sent


def test_times_are_sent_as_iso_8601_strings_with_a_zone() -> None:
    # Given every typed event with its time set, When its body is built
    for event in FULL_EVENTS:
        document = json.loads(envelope_body(event, WHEN, now=NOW))
        times = [document["occurredAt"]] + [v for k, v in document["payload"].items() if k.endswith("At")]
        # Then every time is a string in UTC marked Z, never a number
        assert times
        assert all(isinstance(value, str) and value.endswith("Z") for value in times)


def test_the_occurred_at_limits_are_funnels() -> None:
    # Given the emitter's plausibility window for occurredAt, Then it is the server's
    assert EARLIEST_OCCURRED_AT == EARLIEST_EVENT
    assert EMITTER_CLOCK_SKEW == MAX_CLOCK_SKEW


ID_MAX = "a" * 128
COUNT_MAX = 1_000_000_000
SCAN = {"jobId": "j", "mediaCount": 1, "identitiesDetected": 1, "durationMs": 1}
FAILED = {"jobId": "j", "mediaCount": 1}


@pytest.mark.parametrize(
    ("event_type", "payload", "accepted"),
    [
        ("scan.completed", {**SCAN, "jobId": ID_MAX}, True),
        ("scan.completed", {**SCAN, "jobId": ID_MAX + "a"}, False),
        ("scan.completed", {**SCAN, "jobId": ""}, False),
        ("scan.completed", {**SCAN, "jobId": "job 1"}, False),
        ("scan.completed", {**SCAN, "jobId": "_job"}, False),
        ("scan.completed", {**SCAN, "jobId": "a._:@/-9"}, True),
        ("scan.completed", {**SCAN, "jobId": "job\n"}, False),
        ("scan.completed", {**SCAN, "mediaCount": COUNT_MAX}, True),
        ("scan.completed", {**SCAN, "mediaCount": COUNT_MAX + 1}, False),
        ("scan.completed", {**SCAN, "mediaCount": 0}, True),
        ("scan.completed", {**SCAN, "mediaCount": -1}, False),
        ("scan.completed", {**SCAN, "mediaCount": "3"}, False),
        ("scan.completed", {**SCAN, "mediaCount": 3.5}, False),
        ("scan.completed", {**SCAN, "mediaCount": True}, False),
        ("scan.completed", {**SCAN, "durationMs": None}, False),
        ("scan.completed", {**SCAN, "suggestionsGenerated": COUNT_MAX}, True),
        ("scan.completed", {**SCAN, "suggestionsGenerated": COUNT_MAX + 1}, False),
        ("scan.completed", {**SCAN, "completedAt": "2026-02-13T12:00:00+05:30"}, True),
        ("scan.completed", {**SCAN, "completedAt": "2026-02-13T12:00:00"}, False),
        ("scan.completed", {key: value for key, value in SCAN.items() if key != "durationMs"}, False),
        ("scan.failed", {**FAILED, "errorMessage": "e" * 2000}, True),
        ("scan.failed", {**FAILED, "errorMessage": "e" * 2001}, False),
        ("scan.failed", {**FAILED, "errorMessage": "nul\x00"}, False),
        ("apikey.created", {"keyPrefix": "k" * 32}, True),
        ("apikey.created", {"keyPrefix": "k" * 33}, False),
        ("apikey.created", {"keyPrefix": ""}, False),
        ("apikey.created", {"keyPrefix": "ak", "rateLimitTier": "r" * 64}, True),
        ("apikey.created", {"keyPrefix": "ak", "rateLimitTier": "r" * 65}, False),
        ("apikey.created", {"keyPrefix": "ak", "rateLimitTier": " " + "r" * 64 + " "}, True),
        ("apikey.created", {"keyPrefix": "ak", "rateLimitTier": "   "}, False),
        ("cluster.created", {"clusterId": "c", "identityCount": COUNT_MAX}, True),
        ("cluster.created", {"clusterId": "c", "identityCount": COUNT_MAX + 1}, False),
        ("cluster.created", {"clusterId": "c", "identityCount": 2, "algorithm": ""}, False),
        ("suggestion.resolved", {"suggestionId": "s", "resolution": "x" * 64}, True),
        ("suggestion.resolved", {"suggestionId": "s", "resolution": "x" * 65}, False),
        ("suggestion.resolved", {"suggestionId": "s" * 129, "resolution": "x"}, False),
        ("tenant.created", {"siteUrl": "https://e.example/" + "p" * 2030}, True),
        ("tenant.created", {"siteUrl": "https://e.example/" + "p" * 2031}, False),
        ("tenant.created", {"siteUrl": "ftp://e.example/"}, False),
        ("tenant.created", {"siteUrl": "https://e.example:99999/"}, False),
        ("tenant.created", {"siteUrl": "e.example"}, False),
        ("tenant.created", {"email": "Ada@Example.org"}, True),
        ("tenant.created", {"email": "ada+tag@xn--bcher-kva.example"}, True),
        ("tenant.created", {"email": "ada@bücher.example"}, True),
        ("tenant.created", {"email": "ada@example"}, False),
        ("tenant.created", {"email": "ada@example.123"}, False),
        ("tenant.created", {"email": ".ada@example.org"}, False),
        ("tenant.created", {"email": "a" * 64 + "@example.org"}, True),
        ("tenant.created", {"email": "a" * 65 + "@example.org"}, False),
        (
            "tenant.created",
            {"email": "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 56 + ".org"},
            True,
        ),
        (
            "tenant.created",
            {"email": "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 57 + ".org"},
            False,
        ),
        ("tenant.created", {"email": "not an address"}, False),
        ("tenant.created", {"createdAt": "2026-02-13T12:00:00Z"}, True),
        ("tenant.created", {"createdAt": "2026-02-13"}, False),
    ],
)
def test_at_each_limit_the_emitter_refuses_exactly_what_funnel_refuses(
    event_type: str, payload: dict[str, Any], accepted: bool
) -> None:
    # Given a payload with one field at, or one unit past, a limit
    # When both the emitter and Funnel's model judge it, Then both give the expected verdict
    assert (emitter_accepts(event_type, payload), server_accepts(event_type, payload)) == (accepted, accepted)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost",
        "HTTPS://E.EXAMPLE",
        "https://user:pw@e.example/",
        "https://[::1]/",
        "http://1.2.3.4/",
        "https://exé.example/é?q=1#f",
        "https://e.example/%zz",
        "https://e.example/a b",
        " https://e.example",
        "https:///nohost",
        "https://exa mple.com",
    ],
)
def test_every_site_url_the_emitter_accepts_funnel_accepts(url: str) -> None:
    # Given a site URL, When the emitter accepts it, Then so does Funnel (the emitter
    # refuses a few malformed ones Funnel would repair, never the other way round)
    try:
        site_url("siteUrl", url)
    except InvalidEvent:
        return
    assert server_accepts("tenant.created", {"siteUrl": url})


def test_the_occurred_at_window_matches_the_server_on_both_sides() -> None:
    # Given occurredAt values at the floor and one microsecond before it
    floor, before = EARLIEST_EVENT, EARLIEST_EVENT - timedelta(microseconds=1)
    event = ScanFailed(tenant_id="tenant-1", job_id="j", media_count=1)
    # Then the emitter builds the first and refuses the second
    envelope_body(event, floor, now=NOW)
    with pytest.raises(InvalidEvent):
        envelope_body(event, before, now=NOW)


def pins(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of a requirements file's ``name==version`` lines."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_the_emitters_test_runner_uses_the_projects_pinned_versions() -> None:
    # Given the emitter's test requirements and the project's lock
    repo = Path(__file__).resolve().parents[2]
    emitter, project = pins(repo / "emitter/requirements-test.txt"), pins(repo / "requirements-dev.txt")
    # Then pytest is there, and every package both pin has the same version in both
    assert {"pytest", "pytest-timeout"} <= emitter.keys()
    assert {name: version for name, version in emitter.items() if project.get(name, version) != version} == {}


def test_a_whole_float_count_is_refused_by_the_typed_emitter_and_read_as_an_integer_by_funnel():
    # Given a count sent as 3.0: JSON has one kind of number, so Funnel reads it as 3, while
    # the emitter's typed events take an int
    payload = {**SCAN, "mediaCount": 3.0}

    # Then the emitter is stricter than Funnel there, never looser
    assert (emitter_accepts("scan.completed", payload), server_accepts("scan.completed", payload)) == (
        False,
        True,
    )
