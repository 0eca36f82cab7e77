"""Admin lead operations (x-admin-key): ``POST /v1/leads/delete`` erases a lead by email
(PIPEDA) and ``POST /v1/leads/unsubscribe-link`` gives the mailing tool a lead's signed
unsubscribe link (CASL)."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.platform.http import FunnelResolver, require_admin_key
from funnel.platform.observability import traced_handler
from funnel.platform.schemas import ErrorResponse
from funnel.privacy.deletion import delete_lead_by_email
from funnel.privacy.schemas import (
    DeleteLeadRequest,
    LeadDeleted,
    RemovedCounts,
    UnsubscribeLinkCreated,
    UnsubscribeLinkRequest,
)
from funnel.privacy.unsubscribe import unsubscribe_link

logger = Logger()
metrics = Metrics()
app = FunnelResolver(guards=[require_admin_key])

_ERRORS: dict[int, OpenAPIResponse] = {
    400: {
        "description": "Not JSON, empty, or nested deeper than 32 levels",
        "content": {"application/json": {"model": ErrorResponse}},
    },
    401: {
        "description": "Missing or wrong x-admin-key",
        "content": {"application/json": {"model": ErrorResponse}},
    },
    422: {
        "description": "Invalid email or unknown field",
        "content": {"application/json": {"model": ErrorResponse}},
    },
    503: {
        "description": "Database unavailable or admin key not configured; retry",
        "content": {"application/json": {"model": ErrorResponse}},
    },
}


def _request_id() -> str:
    return app.current_event.request_context.request_id


def _request_base_url() -> str:
    """The API's own address, as this request reached it (the default stage has no path)."""
    return f"https://{app.current_event.request_context.domain_name}"


@app.post(
    "/v1/leads/delete",
    summary="Delete everything held about an email address",
    tags=["leads"],
    responses={
        200: {
            "description": "Deleted, or no lead had this address (deleted: false)",
            "content": {"application/json": {"model": LeadDeleted}},
        },
        **_ERRORS,
    },
)
def delete_lead(request: Annotated[DeleteLeadRequest, Body()]) -> dict[str, Any]:
    deletion = delete_lead_by_email(app.runtime(), request.email, request_id=_request_id())
    metrics.add_metric(name="LeadsDeleted", unit=MetricUnit.Count, value=int(deletion.found))
    removed = RemovedCounts.model_validate(deletion.removed) if deletion.found else None
    answer = LeadDeleted(deleted=deletion.found, removed=removed)
    return answer.model_dump(mode="json", exclude_none=True)


@app.post(
    "/v1/leads/unsubscribe-link",
    summary="The signed unsubscribe link of a lead",
    tags=["leads"],
    responses={
        200: {
            "description": "The link, for List-Unsubscribe and the email footer",
            "content": {"application/json": {"model": UnsubscribeLinkCreated}},
        },
        404: {
            "description": "No lead has this address",
            "content": {"application/json": {"model": ErrorResponse}},
        },
        **_ERRORS,
    },
)
def create_unsubscribe_link(request: Annotated[UnsubscribeLinkRequest, Body()]) -> dict[str, Any]:
    link = unsubscribe_link(
        app.runtime(), request.email, request_id=_request_id(), request_base_url=_request_base_url()
    )
    metrics.add_metric(name="UnsubscribeLinksIssued", unit=MetricUnit.Count, value=1)
    return UnsubscribeLinkCreated(url=link.url, expiresOn=link.expires_on).model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@traced_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
