"""POST /v1/webhooks/description-service: tenant lifecycle and usage events from the
description service, authenticated by a webhook key (or the admin key, unless the
deployment refuses it here) and a Standard Webhooks signature."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.platform.error_docs import error_responses
from funnel.platform.http import FunnelResolver, require_webhook_key, require_webhook_signature
from funnel.platform.observability import Observability
from funnel.platform.schemas import RequestQueued
from funnel.webhooks.ingest import receive_webhook
from funnel.webhooks.schemas import WebhookAccepted, WebhookDelivery

# Traced by Lambda's Active tracing alone, without the X-Ray SDK (see funnel.platform.observability).
observability = Observability(api=True, traced=False)
metrics = observability.metrics
app = FunnelResolver(guards=[require_webhook_key, require_webhook_signature])


@app.post(
    "/v1/webhooks/description-service",
    summary="Receive a description-service webhook",
    tags=["webhooks"],
    responses={
        200: {
            "description": "Stored, or a redelivery of a stored event",
            "content": {"application/json": {"model": WebhookAccepted}},
        },
        202: {
            "description": "The database could not be reached in time (or did not answer the write): "
            "the delivery is buffered and stored once when it is back, by its `webhook-id` and the "
            "duplicate rule. No `eventId` yet: a redelivery of the same `webhook-id` once it is stored "
            "is answered 200 with it. Do not send it again",
            "content": {"application/json": {"model": RequestQueued}},
        },
        **error_responses(
            {
                400: "Not JSON, or nested deeper than 32 levels",
                401: "Missing or wrong key (x-admin-key) or signature",
                409: "webhook-id reused with another body",
                413: "Body over 256 KB",
                422: "Invalid event",
                503: "Database unavailable (`database_unavailable`: nothing stored), no answer after the "
                "write was sent (`write_outcome_unknown`: it may be stored; a retry with the same "
                "`webhook-id` is answered 200, as a duplicate if it was), or no valid signing secret or "
                "key configured (`webhook_signing_not_configured`, `webhook_auth_not_configured`); "
                "retry after `Retry-After` seconds",
            }
        ),
    },
)
def receive(delivery: Annotated[WebhookDelivery, Body()]) -> Response[str]:
    request = app.raw_request
    accepted = receive_webhook(
        app.runtime(), delivery.root, delivery_id=request.headers.get("webhook-id") or None, body=request.body
    )
    if accepted is None:
        return Response(202, content_types.APPLICATION_JSON, RequestQueued().model_dump_json())
    metrics.add_metric(
        name="WebhookDuplicates" if accepted.duplicate else "WebhooksStored", unit=MetricUnit.Count, value=1
    )
    return Response(200, content_types.APPLICATION_JSON, accepted.model_dump_json(exclude_none=True))


@observability.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
