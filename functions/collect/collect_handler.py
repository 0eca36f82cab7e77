"""Public collection from the marketing site: page and form beacons (``POST /v1/events``,
JSON or sendBeacon's text/plain) and lead capture (``POST /v1/leads/capture``, JSON or a
plain HTML form answered with a redirect). CORS for the site's origins only."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.capture.collect import (
    count_rejection,
    form_error_page,
    receive_events,
    receive_lead,
    require_site_origin,
)
from funnel.capture.identity import DailySalts
from funnel.capture.schemas import EventsAccepted, EventsBody, LeadCapture, LeadCaptured
from funnel.platform.client_limits import public_limit
from funnel.platform.http import FORM, JSON, TEXT, FunnelResolver
from funnel.platform.schemas import ErrorResponse, RequestQueued

# Traced by Lambda's Active tracing alone, without the X-Ray SDK (see funnel.platform.observability).
logger = Logger()
metrics = Metrics()
app = FunnelResolver(
    guards=[require_site_origin],
    accept=frozenset({JSON, TEXT, FORM}),
    cors=True,
    on_reject=count_rejection,
    error_page=form_error_page,
    client_limit=public_limit,
)
salts = DailySalts()

ERRORS: dict[int, OpenAPIResponse] = {
    status: {"description": description, "content": {"application/json": {"model": ErrorResponse}}}
    for status, description in [
        (400, "Not JSON, nested deeper than 32 levels, or not a readable form"),
        (413, "Body over 256 KB"),
        (415, "Not JSON, text/plain or an urlencoded form"),
        (422, "Invalid events or lead, or a property that is not configured (`unknown_property`)"),
        (
            503,
            "Database unavailable (`database_unavailable`), or no answer after the write was sent "
            "(`write_outcome_unknown`); retry after `Retry-After` seconds",
        ),
    ]
}
# A lead's errors are the same, plus 403 for a request not from the site's pages; a
# browser's plain form post gets each as a page saying so (`Accept: text/html`).
LEAD_ERRORS: dict[int, OpenAPIResponse] = {
    status: {
        "description": f"{description} (a page, for a browser's plain HTML form post)",
        "content": {
            "application/json": {"model": ErrorResponse},
            "text/html": {"schema": {"type": "string"}},
        },
    }
    for status, description in sorted(
        [
            *((status, str(response["description"])) for status, response in ERRORS.items()),
            (
                403,
                "Not from a page of an `AllowedOrigins` origin, by `Origin` or else `Referer` "
                "(`origin_not_allowed`)",
            ),
        ]
    )
}
THANK_YOU = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Thank you</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Thank you</h1><p>We received your details.</p></main></body></html>"""


@app.post(
    "/v1/events",
    summary="Page and form beacons: one event or a batch of up to 100",
    tags=["collection"],
    responses={
        202: {
            "description": "Accepted: stored, or (`queued: true`) buffered while the database could "
            "not be reached in time, and stored once when it is back",
            "content": {"application/json": {"model": EventsAccepted}},
        },
        **ERRORS,
    },
)
def post_events(body: Annotated[EventsBody, Body()]) -> Response[str]:
    accepted = receive_events(app.runtime(), body.events(), app.raw_request, salts)
    if not accepted.queued:
        metrics.add_metric(name="EventsStored", unit=MetricUnit.Count, value=accepted.accepted)
        metrics.add_metric(name="EventDuplicates", unit=MetricUnit.Count, value=accepted.duplicates)
        metrics.add_metric(name="BotEventsIgnored", unit=MetricUnit.Count, value=accepted.ignored)
    return Response(202, content_types.APPLICATION_JSON, accepted.model_dump_json(exclude_none=True))


@app.post(
    "/v1/leads/capture",
    summary="Capture a lead (JSON, or an HTML form answered with 303 See Other)",
    tags=["collection"],
    responses={
        201: {"description": "Captured", "content": {"application/json": {"model": LeadCaptured}}},
        202: {
            "description": "The database could not be reached in time: the capture is buffered and "
            "stored once when it is back (a form post is answered 303 or 200 as when stored)",
            "content": {"application/json": {"model": RequestQueued}},
        },
        303: {"description": "Form post captured; go to the form's redirect"},
        **LEAD_ERRORS,
    },
)
def capture_lead(body: Annotated[LeadCapture, Body()]) -> Response[str]:
    received = receive_lead(app.runtime(), body, app.raw_request, salts)
    if not received.queued:
        metrics.add_metric(name="LeadsCaptured", unit=MetricUnit.Count, value=1)
    if not app.form_post:
        if received.queued:
            return Response(202, content_types.APPLICATION_JSON, RequestQueued().model_dump_json())
        return Response(201, content_types.APPLICATION_JSON, LeadCaptured().model_dump_json())
    # A buffered form post is kept: the person sees the same page either way.
    if received.redirect is not None:
        return Response(303, content_types.TEXT_HTML, "", headers={"Location": received.redirect})
    return Response(200, "text/html; charset=utf-8", THANK_YOU)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
