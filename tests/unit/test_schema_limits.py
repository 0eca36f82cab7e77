"""Every size, count and range the request schemas enforce, on both sides of its edge: the
last value accepted, and one unit past it refused, so a limit moved by one unit fails a
row here. (How each refusal reaches the client, a 422 that writes nothing, is tested per
route; these are the numbers.)"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from pydantic import TypeAdapter, ValidationError

from funnel.capture.schemas import CLICK_ID_NAMES, EventsBody, LeadCapture
from funnel.metrics.schemas import Day
from funnel.webhooks.schemas import WebhookDelivery
from tests.builders import sample_body

# A normalised address of 254 characters (RFC 5321's most): 64 + "@" + 189, and one of 255
# whose parts are each still within their own limits.
ADDRESS_254 = "a" * 64 + "@" + "b" * 61 + "." + "c" * 61 + "." + "d" * 61 + ".org"
ADDRESS_255 = "a" * 64 + "@b" + "b" * 61 + "." + "c" * 61 + "." + "d" * 61 + ".org"


def _changed(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``document`` with the dotted ``path`` set to ``value``."""
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
    return changed


def beacon(path: str, value: Any, **base: Any) -> dict[str, Any]:
    """The sample page view (or another type, from ``base``) with one field set."""
    event = {**sample_body("collect/beacon_page_view"), **base}
    return _changed(event, path, value)


def custom(path: str, value: Any) -> dict[str, Any]:
    return beacon(path, value, type="custom", name="demo", title=None)


def vitals(path: str, value: Any) -> dict[str, Any]:
    return beacon(path, value, type="web_vitals", vitals={})


def engagement(path: str, value: Any) -> dict[str, Any]:
    return beacon(path, value, type="engagement", engagement={})


def batch(count: int) -> dict[str, Any]:
    event = sample_body("collect/beacon_page_view")
    return {"events": [{**event, "eventId": f"evt_batch_{n:05d}"} for n in range(count)]}


def lead(path: str, value: Any) -> dict[str, Any]:
    return _changed(sample_body("collect/lead_capture_json"), path, value)


def webhook(sample: str, path: str, value: Any) -> dict[str, Any]:
    return _changed(sample_body(f"webhook_ingest/{sample}"), path, value)


def tenant(tenant_id: str) -> dict[str, Any]:
    """A delivery whose envelope and payload name this tenant."""
    return webhook("scan_completed", "payload.tenantId", tenant_id) | {"tenantId": tenant_id}


class Edge(NamedTuple):
    name: str
    validate: Callable[[Any], object]
    accepted: Any
    refused: Any


events = EventsBody.model_validate
leads = LeadCapture.model_validate
webhooks = WebhookDelivery.model_validate
day = TypeAdapter(Day).validate_python

EDGES = [
    # beacons
    Edge("batch of 100 events, not 101", events, batch(100), batch(101)),
    Edge("batch of 1 event, not 0", events, batch(1), batch(0)),
    Edge("eventId of 8 characters, not 7", events, beacon("eventId", "e" * 8), beacon("eventId", "e" * 7)),
    Edge("eventId of 128, not 129", events, beacon("eventId", "e" * 128), beacon("eventId", "e" * 129)),
    Edge("visitorId of 128, not 129", events, beacon("visitorId", "v" * 128), beacon("visitorId", "v" * 129)),
    Edge(
        "propertyId of 128, not 129", events, beacon("propertyId", "p" * 128), beacon("propertyId", "p" * 129)
    ),
    Edge("path of 4096, not 4097", events, beacon("path", "/" * 4096), beacon("path", "/" * 4097)),
    Edge("title of 512, not 513", events, beacon("title", "t" * 512), beacon("title", "t" * 513)),
    Edge(
        "referrer of 2048, not 2049", events, beacon("referrer", "r" * 2048), beacon("referrer", "r" * 2049)
    ),
    Edge(
        "utm value of 255, not 256", events, beacon("utm.source", "u" * 255), beacon("utm.source", "u" * 256)
    ),
    Edge("utm value of 1, not blank", events, beacon("utm.source", " u "), beacon("utm.source", "  ")),
    Edge(
        "10 click ids, not 11",
        events,
        beacon("clickIds", list(CLICK_ID_NAMES)),
        beacon("clickIds", [*CLICK_ID_NAMES, "gclid"]),
    ),
    Edge("event name of 64, not 65", events, custom("name", "n" * 64), custom("name", "n" * 65)),
    Edge(
        "20 properties, not 21",
        events,
        custom("properties", {f"p{n}": n for n in range(20)}),
        custom("properties", {f"p{n}": n for n in range(21)}),
    ),
    Edge(
        "property name of 64, not 65",
        events,
        custom("properties", {"k" * 64: 1}),
        custom("properties", {"k" * 65: 1}),
    ),
    Edge(
        "property text of 256, not 257",
        events,
        custom("properties", {"k": "v" * 256}),
        custom("properties", {"k": "v" * 257}),
    ),
    Edge(
        "a vital of 600000 ms, not 600001",
        events,
        vitals("vitals.lcp", 600_000),
        vitals("vitals.lcp", 600_001),
    ),
    Edge("a vital of 0 ms, not -1", events, vitals("vitals.ttfb", 0), vitals("vitals.ttfb", -1)),
    Edge("CLS of 100, not more", events, vitals("vitals.cls", 100), vitals("vitals.cls", 100.001)),
    Edge("CLS of 0, not less", events, vitals("vitals.cls", 0), vitals("vitals.cls", -0.001)),
    Edge(
        "engaged time of 24 h, not a ms more",
        events,
        engagement("engagement.engagedTimeMs", 86_400_000),
        engagement("engagement.engagedTimeMs", 86_400_001),
    ),
    Edge(
        "scroll depth of 100 %, not 101",
        events,
        engagement("engagement.scrollDepthPercent", 100),
        engagement("engagement.scrollDepthPercent", 101),
    ),
    Edge(
        "scroll depth of 0 %, not -1",
        events,
        engagement("engagement.scrollDepthPercent", 0),
        engagement("engagement.scrollDepthPercent", -1),
    ),
    # lead captures
    Edge("an address of 254, not 255", leads, lead("email", ADDRESS_254), lead("email", ADDRESS_255)),
    Edge(
        "an address sent as 320 characters, not 321",
        leads,
        lead("email", " " * 66 + ADDRESS_254),
        lead("email", " " * 67 + ADDRESS_254),
    ),
    Edge("formId of 128, not 129", leads, lead("formId", "f" * 128), lead("formId", "f" * 129)),
    Edge(
        "consent wording of 64, not 65",
        leads,
        lead("consentWordingVersion", "w" * 64),
        lead("consentWordingVersion", "w" * 65),
    ),
    Edge(
        "30 form fields, not 31",
        leads,
        lead("fields", {f"f{n}": "x" for n in range(30)}),
        lead("fields", {f"f{n}": "x" for n in range(31)}),
    ),
    Edge(
        "a field of 2000, not 2001",
        leads,
        lead("fields", {"f": "x" * 2000}),
        lead("fields", {"f": "x" * 2001}),
    ),
    Edge(
        "a field name of 64, not 65", leads, lead("fields", {"f" * 64: "x"}), lead("fields", {"f" * 65: "x"})
    ),
    Edge(
        "a redirect of 2048, not 2049",
        leads,
        lead("redirect", "https://www.example.com/" + "r" * 2024),
        lead("redirect", "https://www.example.com/" + "r" * 2025),
    ),
    # webhooks
    Edge("tenantId of 128, not 129", webhooks, tenant("t" * 128), tenant("t" * 129)),
    Edge(
        "jobId of 128, not 129",
        webhooks,
        webhook("scan_completed", "payload.jobId", "j" * 128),
        webhook("scan_completed", "payload.jobId", "j" * 129),
    ),
    Edge(
        "a count of 1e9, not 1e9 + 1",
        webhooks,
        webhook("scan_completed", "payload.mediaCount", 1_000_000_000),
        webhook("scan_completed", "payload.mediaCount", 1_000_000_001),
    ),
    Edge(
        "a count of 0, not -1",
        webhooks,
        webhook("scan_completed", "payload.durationMs", 0),
        webhook("scan_completed", "payload.durationMs", -1),
    ),
    Edge(
        "a key prefix of 32, not 33",
        webhooks,
        webhook("apikey_created", "payload.keyPrefix", "k" * 32),
        webhook("apikey_created", "payload.keyPrefix", "k" * 33),
    ),
    Edge(
        "a key prefix of 1, not 0",
        webhooks,
        webhook("apikey_created", "payload.keyPrefix", "k"),
        webhook("apikey_created", "payload.keyPrefix", ""),
    ),
    Edge(
        "a rate-limit tier of 64, not 65",
        webhooks,
        webhook("apikey_created", "payload.rateLimitTier", "r" * 64),
        webhook("apikey_created", "payload.rateLimitTier", "r" * 65),
    ),
    Edge(
        "an error message of 2000, not 2001",
        webhooks,
        webhook("scan_failed", "payload.errorMessage", "e" * 2000),
        webhook("scan_failed", "payload.errorMessage", "e" * 2001),
    ),
    Edge(
        "a site URL of 2048, not 2049",
        webhooks,
        webhook("tenant_created", "payload.siteUrl", "https://example.com/" + "s" * 2028),
        webhook("tenant_created", "payload.siteUrl", "https://example.com/" + "s" * 2029),
    ),
    Edge(
        "a resolution of 64, not 65",
        webhooks,
        webhook("suggestion_resolved", "payload.resolution", "r" * 64),
        webhook("suggestion_resolved", "payload.resolution", "r" * 65),
    ),
    # metrics
    Edge("a window from 2000-01-01, not 1999-12-31", day, "2000-01-01", "1999-12-31"),
]


@pytest.mark.parametrize("edge", EDGES, ids=[edge.name for edge in EDGES])
def test_a_limit_accepts_its_last_value_and_refuses_one_unit_more(edge):
    edge.validate(edge.accepted)
    with pytest.raises(ValidationError):
        edge.validate(edge.refused)
