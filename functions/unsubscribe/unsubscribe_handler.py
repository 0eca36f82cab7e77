"""The public unsubscribe link (CASL, RFC 8058): ``GET /v1/unsubscribe?token=`` shows a
confirmation page and changes nothing; ``POST /v1/unsubscribe`` (the page's form, or a
mail client's one-click request) withdraws consent. Answers are HTML pages, one-click
answers short text; a bad or expired link gets a page with status 400 or 410; a body the
resolver refuses before the form is read gets the JSON error shape."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.platform.http import FORM, JSON, MULTIPART, TEXT, FunnelResolver
from funnel.platform.schemas import ErrorResponse
from funnel.privacy.schemas import UnsubscribeForm
from funnel.privacy.unsubscribe import show_confirmation, submit

# Traced by Lambda's Active tracing alone, without the X-Ray SDK (see funnel.platform.observability).
logger = Logger()
metrics = Metrics()
app = FunnelResolver(accept=frozenset({FORM, MULTIPART, JSON, TEXT}))

_PAGE: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
    "text/html": {"schema": {"type": "string"}}
}
# The form's answers are pages; a one-click request (List-Unsubscribe=One-Click) gets short
# text; a body refused before the form is read (not JSON, too large, of another media
# type...) gets the JSON error every route sends.
_ONE_CLICK: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
    **_PAGE,
    "text/plain": {"schema": {"type": "string"}},
}
_ERROR: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
    "application/json": {"model": ErrorResponse}
}
Token = Annotated[str | None, Query(description="the signed token of the link")]


@app.get(
    "/v1/unsubscribe",
    summary="Unsubscribe confirmation page (changes nothing)",
    tags=["unsubscribe"],
    responses={
        200: {"description": "The confirmation page, with its button", "content": _PAGE},
        400: {"description": "The link is not valid", "content": _PAGE},
        410: {"description": "The link has expired", "content": _PAGE},
    },
)
def confirmation(token: Token = None) -> Response[str]:
    page = show_confirmation(app.runtime(), token)
    metrics.add_metric(name="UnsubscribePagesShown", unit=MetricUnit.Count, value=1)
    return page.response()


@app.post(
    "/v1/unsubscribe",
    summary="Unsubscribe: the confirmation form, or an RFC 8058 one-click request",
    tags=["unsubscribe"],
    responses={
        200: {"description": "Unsubscribed (also when already unsubscribed)", "content": _ONE_CLICK},
        400: {
            "description": "The link is not valid (a page, or text for one-click), or the body is "
            "empty, not JSON or nested too deeply (JSON)",
            "content": {**_ONE_CLICK, **_ERROR},
        },
        410: {"description": "The link has expired", "content": _ONE_CLICK},
        413: {"description": "Body over 256 KB", "content": _ERROR},
        415: {"description": "Not a form, JSON or text/plain", "content": _ERROR},
        422: {"description": "A JSON body that is not an object of strings", "content": _ERROR},
        503: {
            "description": "Database unavailable or the service misconfigured; try again",
            "content": {**_ONE_CLICK, **_ERROR},
        },
    },
)
def unsubscribe(form: Annotated[UnsubscribeForm, Body()], token: Token = None) -> Response[str]:
    page = submit(
        app.runtime(), form, query_token=token, request_id=app.current_event.request_context.request_id
    )
    metrics.add_metric(
        name="Unsubscribes" if page.status == 200 else "UnsubscribesRefused", unit=MetricUnit.Count, value=1
    )
    return page.response()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
