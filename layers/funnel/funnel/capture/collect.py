"""The public collection endpoints' work, between the handler and the domain modules:
take what the handler read of the request (plain values: the body, the client, the
page's origin), run the domain function in one transaction, and count rejections for
ingest accounting."""

from __future__ import annotations

import html
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from funnel.capture import accounting
from funnel.capture.accounting import Kind, Outcome
from funnel.capture.beacons import BeaconRequest, ingest_beacons, site_hosts
from funnel.capture.identity import Client, DailySalts
from funnel.capture.leads import AlreadyCaptured, CaptureRequest, allowed_redirect, capture_lead
from funnel.capture.schemas import MAX_BATCH, BeaconEvent, EventsAccepted, LeadCapture
from funnel.platform.errors import DatabaseUnavailable, FunnelError, RateLimited, ValidationFailed
from funnel.platform.runtime import Runtime

logger = Logger(child=True)

LEADS_PATH = "/v1/leads/capture"
# The one property every refusal is counted under when the property it names is not
# configured (or cannot be read): not a valid property id, so it never meets a real one.
UNKNOWN_PROPERTY = "(unknown)"


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


# What the beacon path reads of a request's headers besides the user agent (the country
# CloudFront tells): a buffered request keeps it only, under this name.
VIEWER_COUNTRY = "cloudfront-viewer-country"


@dataclass(frozen=True)
class LeadReceived:
    queued: bool
    redirect: str | None


def receive_events(
    runtime: Runtime,
    events: list[BeaconEvent],
    salts: DailySalts,
    *,
    body: bytes,
    client: Client,
    origin: str | None,
    viewer_country: str | None,
) -> EventsAccepted:
    """Store a beacon request's events; when the database cannot take them in time, buffer
    the request (``"queued": true``) or, without a buffer, raise its 503.

    Parameters
    ----------
    events
        The request's validated events.
    body
        The body as received (what a buffered request keeps, validated again on replay).
    client
        Who sent it (the address is used, never stored).
    origin
        The ``Origin`` header as sent: its host is one of the site's own (a referral from
        it is a self-referral).
    viewer_country
        The ``cloudfront-viewer-country`` header as sent, or None.
    """
    require_configured((event.propertyId for event in events), runtime.settings.http.property_ids)
    headers = {VIEWER_COUNTRY: viewer_country} if viewer_country is not None else {}
    beacon = BeaconRequest(
        received_at=runtime.clock(),
        client=client,
        headers=headers,
        site_hosts=site_hosts(runtime.settings.http.allowed_origins, origin),
    )
    try:
        return store_events(runtime, events, beacon, salts)
    except DatabaseUnavailable as unavailable:
        # Imported here: only a request the database cannot take is buffered, and its
        # models are no part of the function's cold start.
        from funnel.platform import buffer

        message = buffer.BufferedEvents(
            receivedAt=beacon.received_at,
            body=body.decode("utf-8"),
            ip=client.ip,
            userAgent=client.user_agent,
            headers=headers,
            siteHosts=sorted(beacon.site_hosts),
        )
        buffer.hold(runtime.ingest_buffer(), buffer.BufferedRequest(message), unavailable)
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
    runtime: Runtime,
    capture: LeadCapture,
    salts: DailySalts,
    *,
    client: Client,
    request_id: str | None,
    origin: str | None,
) -> LeadReceived:
    """Store a capture, or buffer it when the database cannot take it in time; returns
    whether it was buffered and where a form post should send the browser (or None).

    Parameters
    ----------
    capture
        The validated capture.
    client
        Who sent it (the address is used, never stored).
    request_id
        API Gateway's request id, kept with the consent it records.
    origin
        The origin of the page it came from (by ``Origin``, else ``Referer``), checked
        against the site's before it gets here: its consent's evidence.
    """
    require_configured((capture.propertyId,), runtime.settings.http.property_ids)
    redirect = allowed_redirect(capture, runtime.settings.http.allowed_origins)
    captured = CaptureRequest(
        received_at=runtime.clock(),
        client=client,
        request_id=request_id,
        origin=origin,
    )
    try:
        store_lead(runtime, capture, captured, salts)
    except DatabaseUnavailable as unavailable:
        from funnel.platform import buffer

        message = buffer.BufferedLead(
            receivedAt=captured.received_at,
            capture=capture.model_dump(mode="json", exclude={"redirect"}),
            submissionId=captured.submission_id,
            ip=captured.client.ip,
            userAgent=captured.client.user_agent,
            requestId=captured.request_id,
            origin=captured.origin,
        )
        buffer.hold(runtime.ingest_buffer(), buffer.BufferedRequest(message), unavailable)
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


def count_rejection(runtime: Runtime, exc: FunnelError, *, kind: Kind, document: object) -> None:
    """Count a refused request's events or lead, by error code, for its property.

    Only client errors count (a 5xx is ours, and may mean the database is away); the
    property is read from ``document`` (as much of the body as could be read, None when
    nothing could) when it can be, ``default`` when the body names none, and is
    ``(unknown)`` when it cannot be read or is not configured: a caller can never make a
    counter of a name of its choosing.
    """
    if exc.status >= 500 or isinstance(exc, RateLimited):
        # (A client over its bound is refused before any work: counting it would be the
        # very write per request the bound spares the database.)
        return
    claimed, count = _claimed_property_and_count(document)
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


def _claimed_property_and_count(document: object) -> tuple[object, int]:
    if document is None:
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
