"""The OpenAPI documentation of the routes' error answers: a route names its statuses and
what each means, and gets the JSON error body ``funnel.platform.http`` sends for every
error (:class:`~funnel.platform.schemas.ErrorResponse`), plus the other media types it
answers some errors with (an HTML page, short text).

Beside the resolver rather than in it: documentation only, read when the OpenAPI document
is built, and cheap to import on the ingest path (no more than the handlers import today).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)

from funnel.platform.schemas import ErrorResponse

type Content = dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel]

JSON_ERROR: Final[Content] = {"application/json": {"model": ErrorResponse}}
"""The body of every error the resolver answers: ``{"ok": false, "error": code, "details"}``."""
HTML_PAGE: Final[Content] = {"text/html": {"schema": {"type": "string"}}}
"""A page, for a person's browser."""
PLAIN_TEXT: Final[Content] = {"text/plain": {"schema": {"type": "string"}}}
"""Short text, for a mail client's one-click request."""


def error_response(description: str, content: Content = JSON_ERROR) -> OpenAPIResponse:
    """One documented error status: what it means and what it is answered with (the JSON
    error body unless ``content`` says otherwise, in the order given)."""
    return {"description": description, "content": {**content}}


def error_responses(
    descriptions: Mapping[int, str], content: Content = JSON_ERROR
) -> dict[int, OpenAPIResponse]:
    """The documented errors of a route, in the order of ``descriptions``: each status with
    its description, answered with ``content`` (the JSON error body by default)."""
    return {status: error_response(description, content) for status, description in descriptions.items()}
