"""HTTP plumbing shared by every API function: the resolver, the guards that run before
routing, and the one place where errors become responses.

Guards run before Powertools validates the request, so a caller who fails
authentication learns nothing about the schema: order is body size, then the guards
(admin key, signature), then JSON parsing and validation, then the route.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.metrics import MetricUnit

from funnel.auth import check_admin_key
from funnel.errors import (
    ConfigurationError,
    FunnelError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationFailed,
)
from funnel.runtime import Runtime, get_runtime
from funnel.signatures import verify

logger = Logger(child=True)
metrics = Metrics()


@dataclass(frozen=True)
class RawRequest:
    """What guards see: lower-cased headers and the body bytes exactly as sent."""

    headers: Mapping[str, str]
    body: bytes

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> RawRequest:
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        raw = event.get("body") or ""
        if event.get("isBase64Encoded"):
            try:
                return cls(headers, base64.b64decode(raw, validate=True))
            except (binascii.Error, ValueError):
                raise MalformedRequest("invalid_body_encoding") from None
        return cls(headers, raw.encode("utf-8", errors="surrogatepass"))


Guard = Callable[[RawRequest, Runtime], None]
RuntimeFactory = Callable[[], Runtime]


def require_admin_key(request: RawRequest, runtime: Runtime) -> None:
    """Guard: the ``x-admin-key`` header matches the configured admin key."""
    check_admin_key(runtime.admin_api_key(), request.headers.get("x-admin-key"))


def require_webhook_signature(request: RawRequest, runtime: Runtime) -> None:
    """Guard: a valid Standard Webhooks signature, whenever signing secrets are configured."""
    secrets = runtime.webhook_signing_secrets()
    if secrets:
        verify(
            secrets,
            request.headers,
            request.body,
            now=runtime.clock().timestamp(),
            tolerance_seconds=runtime.settings.security.webhook_tolerance_seconds,
        )


def error_body(exc: FunnelError) -> dict[str, Any]:
    return {"ok": False, "error": exc.code, "details": exc.details}


def _misconfigured(exc: ConfigurationError) -> ServiceUnavailable:
    logger.error("service misconfigured", extra={"reason": str(exc)})
    return ServiceUnavailable("service_misconfigured", retry_after_seconds=60)


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


_TAG_ERRORS = {"union_tag_invalid", "union_tag_not_found"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def from_validation_error(exc: RequestValidationError) -> FunnelError:
    """Map Powertools' validation error to ours: 400 for a body that is not JSON, 422 with
    the allowed values for an unknown discriminator (``unknown_event_type``), 422 with
    the failing fields otherwise. Input values are never echoed (they may be personal)."""
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return MalformedRequest(details="the body is not valid JSON")
    if any(
        error.get("type") == "missing"
        and tuple(error.get("loc", ()))[:1] == ("body",)
        and len(error.get("loc", ())) <= 2
        for error in errors
    ):
        return MalformedRequest(details="the body is empty")
    for error in errors:
        if error.get("type") in _TAG_ERRORS:
            ctx = error.get("ctx") or {}
            discriminator = str(ctx.get("discriminator", "type")).strip("'")
            allowed = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
            return ValidationFailed(
                f"unknown_{_snake(discriminator)}",
                details={"field": discriminator, "received": ctx.get("tag"), "allowed": allowed},
            )
    return ValidationFailed(
        details=[
            {
                "loc": ".".join(str(part) for part in error.get("loc", ())[1:] if part != "body")
                or str(error.get("loc", ("",))[0]),
                "msg": error.get("msg"),
                "type": error.get("type"),
            }
            for error in errors
        ]
    )


class FunnelResolver(APIGatewayHttpResolver):
    """An HTTP API resolver with request validation, guards and our error shape.

    Parameters
    ----------
    guards
        Checks run on every request of this function before routing and validation; a
        function is one boundary of trust, so its guards apply to all its routes.
    runtime
        Where settings, secrets and the database come from (tests pass their own).
    """

    def __init__(self, *, guards: Sequence[Guard] = (), runtime: RuntimeFactory = get_runtime) -> None:
        super().__init__(enable_validation=True, serializer=_json)
        self._guards = tuple(guards)
        self.runtime = runtime
        self.exception_handler(FunnelError)(self._funnel_error)
        self.exception_handler(RequestValidationError)(self._validation_error)
        self.exception_handler(ConfigurationError)(self._configuration_error)
        self.not_found()(self._not_found)

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        try:
            self._admit(RawRequest.from_event(event))
        except FunnelError as exc:
            return self._reject(exc)
        except ConfigurationError as exc:
            return self._reject(_misconfigured(exc))
        return super().resolve(event, context)

    def _admit(self, request: RawRequest) -> None:
        runtime = self.runtime()
        limit = runtime.settings.http.max_body_bytes
        if len(request.body) > limit:
            raise PayloadTooLarge(details={"maxBytes": limit})
        try:
            # Every route takes text (JSON, or a form, which is ASCII); anything else would
            # fail deep inside the framework.
            request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedRequest("invalid_body_encoding", details="the body is not UTF-8") from None
        for guard in self._guards:
            guard(request, runtime)

    @staticmethod
    def _log_rejection(exc: FunnelError) -> None:
        logger.info("request rejected", extra={"status": exc.status, "error": exc.code})
        metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)

    def _reject(self, exc: FunnelError) -> dict[str, Any]:
        self._log_rejection(exc)
        return {
            "statusCode": exc.status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON, **exc.headers},
            "body": _json(error_body(exc)),
            "isBase64Encoded": False,
        }

    def _funnel_error(self, exc: FunnelError) -> Response:
        self._log_rejection(exc)
        return Response(
            status_code=exc.status,
            content_type=content_types.APPLICATION_JSON,
            body=_json(error_body(exc)),
            headers=exc.headers,
        )

    def _validation_error(self, exc: RequestValidationError) -> Response:
        return self._funnel_error(from_validation_error(exc))

    def _configuration_error(self, exc: ConfigurationError) -> Response:
        return self._funnel_error(_misconfigured(exc))

    def _not_found(self, exc: Exception) -> Response:
        return self._funnel_error(NotFound())
