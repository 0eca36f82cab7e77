"""The public collection endpoints' work, between the handler and the domain modules:
build what the request tells, run the domain function in one transaction, and count
rejections for ingest accounting."""

from __future__ import annotations

import html
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger

from funnel.capture import accounting
from funnel.capture.accounting import Kind, Outcome
from funnel.capture.beacons import BeaconRequest, ingest_beacons, site_hosts
from funnel.capture.identity import Client, DailySalts
from funnel.capture.leads import AlreadyCaptured, CaptureRequest, allowed_redirect, capture_lead
from funnel.capture.schemas import MAX_BATCH, BeaconEvent, EventsAccepted, LeadCapture
from funnel.platform import buffer
from funnel.platform.buffer import BufferedEvents, BufferedLead, BufferedRequest
from funnel.platform.errors import DatabaseUnavailable, FunnelError, RateLimited, ValidationFailed
from funnel.platform.http import FORM, RawRequest, SiteOriginGuard, media_type, request_origin, strict_json
from funnel.platform.runtime import Runtime

logger = Logger(child=True)

LEADS_PATH = "/v1/leads/capture"
# The one property every refusal is counted under when the property it names is not
# configured (or cannot be read): not a valid property id, so it never meets a real one.
UNKNOWN_PROPERTY = "(unknown)"

require_site_origin = SiteOriginGuard(frozenset({LEADS_PATH}))
"""Lead capture writes consent: it is taken from the site's own pages only."""


def require_configured(property_ids: Iterable[str], properties: Collection[str]) -> None:
    """Refuse a request naming a property that is not configured (``PROPERTY_IDS``).

    Raises
    ------
    ValidationFailed
        ``unknown_property`` (422): nothing of the request is stored.
    """
    if not set(property_ids) <= set(properties):
        raise ValidationFailed(
            "unknown_property",
            details={"field": "propertyId", "msg": "not a property this API collects for"},
        )


# What the beacon path reads of a request's headers besides the user agent: a buffered
# request keeps these only.
BEACON_HEADERS = ("cloudfront-viewer-country",)


@dataclass(frozen=True)
class LeadReceived:
    queued: bool
    redirect: str | None


def client_of(request: RawRequest) -> Client:
    return Client(ip=request.source_ip, user_agent=request.headers.get("user-agent"))


def receive_events(
    runtime: Runtime, events: list[BeaconEvent], request: RawRequest, salts: DailySalts
) -> EventsAccepted:
    """Store a beacon request's events; when the database cannot take them in time, buffer
    the request (``"queued": true``) or, without a buffer, raise its 503."""
    require_configured((event.propertyId for event in events), runtime.settings.http.property_ids)
    beacon = BeaconRequest(
        received_at=runtime.clock(),
        client=client_of(request),
        headers=request.headers,
        site_hosts=site_hosts(runtime.settings.http.allowed_origins, request.headers.get("origin")),
    )
    try:
        return store_events(runtime, events, beacon, salts)
    except DatabaseUnavailable as unavailable:
        message = BufferedEvents(
            receivedAt=beacon.received_at,
            body=request.body.decode("utf-8"),
            ip=beacon.client.ip,
            userAgent=beacon.client.user_agent,
            headers={name: request.headers[name] for name in BEACON_HEADERS if name in request.headers},
            siteHosts=sorted(beacon.site_hosts),
        )
        buffer.hold(runtime.ingest_buffer(), BufferedRequest(message), unavailable)
    return EventsAccepted(accepted=0, duplicates=0, ignored=0, queued=True)


def store_events(
    runtime: Runtime, events: list[BeaconEvent], beacon: BeaconRequest, salts: DailySalts
) -> EventsAccepted:
    """Write a beacon request's events in one transaction (the live path, and a buffered
    request's replay), dated by the clock now."""
    written_at = runtime.clock()
    return runtime.database.run(
        lambda conn: ingest_beacons(conn, events, beacon, salts, written_at=written_at)
    )


def receive_lead(
    runtime: Runtime, capture: LeadCapture, request: RawRequest, salts: DailySalts
) -> LeadReceived:
    """Store a capture, or buffer it when the database cannot take it in time; returns
    whether it was buffered and where a form post should send the browser (or None)."""
    require_configured((capture.propertyId,), runtime.settings.http.property_ids)
    redirect = allowed_redirect(capture, runtime.settings.http.allowed_origins)
    captured = CaptureRequest(
        received_at=runtime.clock(),
        client=client_of(request),
        request_id=request.request_id,
        origin=request_origin(request.headers),
    )
    try:
        store_lead(runtime, capture, captured, salts)
    except DatabaseUnavailable as unavailable:
        message = BufferedLead(
            receivedAt=captured.received_at,
            capture=capture.model_dump(mode="json", exclude={"redirect"}),
            submissionId=captured.submission_id,
            ip=captured.client.ip,
            userAgent=captured.client.user_agent,
            requestId=captured.request_id,
            origin=captured.origin,
        )
        buffer.hold(runtime.ingest_buffer(), BufferedRequest(message), unavailable)
        return LeadReceived(queued=True, redirect=redirect)
    return LeadReceived(queued=False, redirect=redirect)


def store_lead(runtime: Runtime, capture: LeadCapture, captured: CaptureRequest, salts: DailySalts) -> None:
    """Write a capture in one transaction (the live path, and a buffered capture's replay),
    dated by the clock now; a submission stored already is left as it is."""
    written_at = runtime.clock()
    try:
        runtime.database.run(lambda conn: capture_lead(conn, capture, captured, salts, written_at=written_at))
    except AlreadyCaptured:
        logger.info("capture already stored", extra={"submission_id": captured.submission_id})


def count_rejection(exc: FunnelError, request: RawRequest, runtime: Runtime) -> None:
    """Count a refused request's events or lead, by error code, for its property.

    Only client errors count (a 5xx is ours, and may mean the database is away); the
    property is read from the body when it can be, ``default`` when the body names none,
    and is ``(unknown)`` when it cannot be read or is not configured: a caller can never
    make a counter of a name of its choosing.
    """
    if exc.status >= 500 or isinstance(exc, RateLimited):
        # (A client over its bound is refused before any work: counting it would be the
        # very write per request the bound spares the database.)
        return
    kind = Kind.LEAD if request.path.rstrip("/") == LEADS_PATH else Kind.EVENT
    claimed, count = _claimed_property_and_count(request)
    properties = runtime.settings.http.property_ids
    property_id = claimed if isinstance(claimed, str) and claimed in properties else UNKNOWN_PROPERTY
    runtime.database.run(
        lambda conn: accounting.add(
            conn,
            property_id=property_id,
            day=runtime.clock().date(),
            kind=kind,
            outcome=Outcome.REJECTED,
            count=count,
            code=exc.code[:64],
        )
    )


def _claimed_property_and_count(request: RawRequest) -> tuple[object, int]:
    try:
        text = request.body.decode("utf-8")
        document: object = dict(parse_qsl(text)) if media_type(request.headers) == FORM else strict_json(text)
    except (UnicodeDecodeError, ValueError):
        return UNKNOWN_PROPERTY, 1
    first: object = document
    count = 1
    if isinstance(document, dict) and isinstance(document.get("events"), list) and document["events"]:
        events = document["events"]
        count = min(len(events), MAX_BATCH)
        first = events[0]
    if not isinstance(first, dict):
        return UNKNOWN_PROPERTY, count
    return first.get("propertyId", "default"), count


# What a person whose browser posted a lead form reads when it is refused, by error code
# (anything else: the last entry). Nothing was recorded in every case.
_FORM_ERRORS: dict[str, tuple[str, str]] = {
    "origin_not_allowed": (
        "This form cannot be sent from this page",
        "Your details were not recorded: this form may only be sent from the site's own pages. "
        "To subscribe, please use the form on the site itself.",
    ),
    "rate_limited": (
        "Too many forms sent just now",
        "Your details were not recorded: too many forms were sent from your network in a short "
        "time. Please go back and send the form again in a minute.",
    ),
    "": (
        "Your details could not be recorded",
        "Your details were not recorded. Please go back, check the form and send it again.",
    ),
}
_RETRY = (
    "Please try again in a moment",
    "Your details were not recorded: we could not store them just now. Please go back and "
    "send the form again in a few minutes.",
)


def form_error_page(exc: FunnelError) -> str:
    """The page a browser shows when its plain HTML lead form is refused."""
    title, text = _RETRY if exc.status >= 500 else _FORM_ERRORS.get(exc.code, _FORM_ERRORS[""])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p><p><small>Error: {html.escape(exc.code)}</small></p></main></body></html>"
    )
