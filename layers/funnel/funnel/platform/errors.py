"""Domain errors. Each carries its HTTP status and error code; ``funnel.platform.http`` maps them
to ``{"ok": false, "error": code, "details": ...}`` in one place."""

from __future__ import annotations

from typing import Any


class FunnelError(Exception):
    """Base of every error that becomes an HTTP answer."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        code: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self.code = code or type(self).code
        self.details = details
        self.headers = headers or {}
        # Members of the answer beside ok, error and details, for a client to act on.
        self.fields = fields or {}
        super().__init__(self.code)


class MalformedRequest(FunnelError):
    status = 400
    code = "invalid_json"


class UnknownQueryParameter(MalformedRequest):
    """A query string naming a parameter the route does not take (a misspelt one would
    otherwise be ignored and answered as if it were absent); ``accepted`` lists those it
    takes."""

    code = "unknown_query_parameter"

    def __init__(self, unknown: list[str], accepted: list[str]) -> None:
        super().__init__(details={"unknown": unknown}, fields={"accepted": accepted})


class Unauthorized(FunnelError):
    status = 401
    code = "unauthorized"


class InvalidSignature(Unauthorized):
    """A webhook whose Standard Webhooks signature does not check out."""

    code = "invalid_signature"

    def __init__(self, reason: str) -> None:
        super().__init__(details={"reason": reason})
        self.reason = reason


class Forbidden(FunnelError):
    status = 403
    code = "forbidden"


class NotFound(FunnelError):
    status = 404
    code = "not_found"


class MethodNotAllowed(FunnelError):
    """A method the path does not serve; ``Allow`` names those it does (RFC 9110 §15.5.6)."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(details={"allowed": allowed}, headers={"Allow": ", ".join(allowed)})


class Conflict(FunnelError):
    status = 409
    code = "conflict"


class PayloadTooLarge(FunnelError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(FunnelError):
    status = 415
    code = "unsupported_media_type"


class ValidationFailed(FunnelError):
    status = 422
    code = "validation_failed"


class RateLimited(FunnelError):
    status = 429
    code = "rate_limited"


class ServiceUnavailable(FunnelError):
    status = 503
    code = "service_unavailable"

    def __init__(self, code: str | None = None, *, retry_after_seconds: int = 5, details: Any = None) -> None:
        super().__init__(code, details=details, headers={"Retry-After": str(retry_after_seconds)})


class KeyNotConfigured(ServiceUnavailable):
    """No key that a route accepts is configured; the code names the kind
    (``admin_auth_not_configured``, ``webhook_auth_not_configured``...)."""

    code = "auth_not_configured"


class SigningNotConfigured(ServiceUnavailable):
    """The webhook route has no valid signing secret, outside a local run: it refuses every
    delivery rather than take one it cannot verify (an operator's fix, so a long retry)."""

    code = "webhook_signing_not_configured"

    def __init__(self) -> None:
        super().__init__(retry_after_seconds=60)


class DatabaseUnavailable(ServiceUnavailable):
    """The database refused the connection or did not answer within the deadline.

    ``in_doubt``: a write was sent (its COMMIT, or an autocommit statement) and no answer
    came, so it may have committed: the answer is ``write_outcome_unknown``, and a retry of
    the same idempotent request (the same ``webhook-id``, the same event ids) tells.
    """

    code = "database_unavailable"

    def __init__(self, *, in_doubt: bool = False) -> None:
        super().__init__(
            "write_outcome_unknown" if in_doubt else None,
            details={"retry": "send the same request again"} if in_doubt else None,
        )
        self.in_doubt = in_doubt


class ConfigurationError(Exception):
    """The deployment is misconfigured (a bad secret, an unreadable setting): an operator's
    problem, never a client's, so it is logged with detail and answered as 503."""
