"""Admin lead operations (x-admin-key): ``POST /v1/leads/delete`` erases a lead by email
(PIPEDA) and ``POST /v1/leads/unsubscribe-link`` gives the mailing tool a lead's signed
unsubscribe link (CASL)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.platform.error_docs import error_response, error_responses
from funnel.platform.http import FunnelResolver, require_admin_key
from funnel.platform.observability import Observability
from funnel.privacy.deletion import delete_lead_by_email
from funnel.privacy.schemas import (
    DeleteLeadRequest,
    LeadDeleted,
    RemovedCounts,
    UnsubscribeLinkCreated,
    UnsubscribeLinkRequest,
)
from funnel.privacy.unsubscribe import unsubscribe_link

observability = Observability(api=True, traced=True)
metrics = observability.metrics
app = FunnelResolver(guards=[require_admin_key])

_ERRORS = error_responses(
    {
        400: "Not JSON, empty, or nested deeper than 32 levels",
        401: "Missing or wrong x-admin-key",
        422: "Invalid email or unknown field",
        503: "Database unavailable or admin key not configured; retry",
    }
)


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
        404: error_response("No lead has this address"),
        **_ERRORS,
    },
)
def create_unsubscribe_link(request: Annotated[UnsubscribeLinkRequest, Body()]) -> dict[str, Any]:
    link = unsubscribe_link(
        app.runtime(), request.email, request_id=_request_id(), request_base_url=_request_base_url()
    )
    metrics.add_metric(name="UnsubscribeLinksIssued", unit=MetricUnit.Count, value=1)
    return UnsubscribeLinkCreated(url=link.url, expiresOn=link.expires_on).model_dump(mode="json")


@observability.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
