"""Public collection from the marketing site: page and form beacons (``POST /v1/events``,
JSON or sendBeacon's text/plain) and lead capture (``POST /v1/leads/capture``, JSON or a
plain HTML form answered with a redirect). CORS for the site's origins only."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.capture import collect
from funnel.capture.accounting import Kind
from funnel.capture.collect import LEADS_PATH, VIEWER_COUNTRY, form_error_page, receive_events, receive_lead
from funnel.capture.identity import Client, DailySalts
from funnel.capture.schemas import EventsAccepted, EventsBody, LeadCapture, LeadCaptured
from funnel.platform.body import FORM, JSON, TEXT, media_type, readable_document
from funnel.platform.client_limits import public_limit
from funnel.platform.error_docs import HTML_PAGE, JSON_ERROR, error_responses
from funnel.platform.errors import FunnelError
from funnel.platform.http import FunnelResolver, RawRequest, SiteOriginGuard, request_origin
from funnel.platform.observability import Observability
from funnel.platform.runtime import Runtime
from funnel.platform.schemas import RequestQueued

# Traced by Lambda's Active tracing alone, without the X-Ray SDK (see funnel.platform.observability).
observability = Observability(api=True, traced=False)
metrics = observability.metrics


def count_rejection(exc: FunnelError, request: RawRequest, runtime: Runtime) -> None:
    """Ingest accounting of a refused request: its kind by path, its property and count from
    as much of its body as can be read."""
    kind = Kind.LEAD if request.path.rstrip("/") == LEADS_PATH else Kind.EVENT
    document = readable_document(request.body, media_type(request.headers))
    collect.count_rejection(runtime, exc, kind=kind, document=document)


app = FunnelResolver(
    # Lead capture writes consent: it is taken from the site's own pages only.
    guards=[SiteOriginGuard(frozenset({LEADS_PATH}))],
    accept=frozenset({JSON, TEXT, FORM}),
    cors=True,
    on_reject=count_rejection,
    error_page=form_error_page,
    client_limit=public_limit,
)
salts = DailySalts()

_ERROR_DESCRIPTIONS = {
    400: "Not JSON, nested deeper than 32 levels, or not a readable form",
    413: "Body over 256 KB",
    415: "Not JSON, text/plain or an urlencoded form",
    422: "Invalid events or lead, or a property that is not configured (`unknown_property`)",
    503: "Database unavailable (`database_unavailable`), or no answer after the write was sent "
    "(`write_outcome_unknown`); retry after `Retry-After` seconds",
}
ERRORS = error_responses(_ERROR_DESCRIPTIONS)
# A lead's errors are the same, plus 403 for a request not from the site's pages; a
# browser's plain form post gets each as a page saying so (`Accept: text/html`).
LEAD_ERRORS = error_responses(
    {
        status: f"{description} (a page, for a browser's plain HTML form post)"
        for status, description in sorted(
            {
                **_ERROR_DESCRIPTIONS,
                403: "Not from a page of an `AllowedOrigins` origin, by `Origin` or else `Referer` "
                "(`origin_not_allowed`)",
            }.items()
        )
    },
    {**JSON_ERROR, **HTML_PAGE},
)
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
    request = app.raw_request
    accepted = receive_events(
        app.runtime(),
        body.events(),
        salts,
        body=request.body,
        client=_client(request),
        origin=request.headers.get("origin"),
        viewer_country=request.headers.get(VIEWER_COUNTRY),
    )
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
    request = app.raw_request
    received = receive_lead(
        app.runtime(),
        body,
        salts,
        client=_client(request),
        request_id=request.request_id,
        origin=request_origin(request.headers),
    )
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


def _client(request: RawRequest) -> Client:
    return Client(ip=request.source_ip, user_agent=request.headers.get("user-agent"))


@observability.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
