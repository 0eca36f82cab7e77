"""POST /v1/webhooks/description-service: tenant lifecycle and usage events from the
description service, authenticated by a webhook key (or the admin key, unless the
deployment refuses it here) and a Standard Webhooks signature."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.platform.http import FunnelResolver, require_webhook_key, require_webhook_signature
from funnel.platform.schemas import ErrorResponse, RequestQueued
from funnel.webhooks.ingest import receive_webhook
from funnel.webhooks.schemas import WebhookAccepted, WebhookDelivery

# Traced by Lambda's Active tracing alone, without the X-Ray SDK (see funnel.platform.observability).
logger = Logger()
metrics = Metrics()
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
        400: {
            "description": "Not JSON, or nested deeper than 32 levels",
            "content": {"application/json": {"model": ErrorResponse}},
        },
        401: {
            "description": "Missing or wrong key (x-admin-key) or signature",
            "content": {"application/json": {"model": ErrorResponse}},
        },
        409: {
            "description": "webhook-id reused with another body",
            "content": {"application/json": {"model": ErrorResponse}},
        },
        413: {"description": "Body over 256 KB", "content": {"application/json": {"model": ErrorResponse}}},
        422: {"description": "Invalid event", "content": {"application/json": {"model": ErrorResponse}}},
        503: {
            "description": "Database unavailable (`database_unavailable`: nothing stored), no answer "
            "after the write was sent (`write_outcome_unknown`: it may be stored; a retry with the same "
            "`webhook-id` is answered 200, as a duplicate if it was), or no valid signing secret or "
            "key configured (`webhook_signing_not_configured`, `webhook_auth_not_configured`); "
            "retry after `Retry-After` seconds",
            "content": {"application/json": {"model": ErrorResponse}},
        },
    },
)
def receive(delivery: Annotated[WebhookDelivery, Body()]) -> Response[str]:
    accepted = receive_webhook(app.runtime(), delivery.root, app.raw_request)
    if accepted is None:
        return Response(202, content_types.APPLICATION_JSON, RequestQueued().model_dump_json())
    metrics.add_metric(
        name="WebhookDuplicates" if accepted.duplicate else "WebhooksStored", unit=MetricUnit.Count, value=1
    )
    return Response(200, content_types.APPLICATION_JSON, accepted.model_dump_json(exclude_none=True))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
