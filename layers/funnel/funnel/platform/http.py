"""HTTP plumbing shared by every API function: the resolver, the guards that run before
routing, and the one place where errors become responses.

Guards run before Powertools validates the request, so a caller who fails
authentication learns nothing about the schema: order is body size, then the guards
(a key by purpose, the signature), then JSON parsing and validation, then the route.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware, openapi_validation
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.metrics import MetricUnit

from funnel.platform.auth import ADMIN_KEY, METRICS_KEY, WEBHOOK_KEY, KeyKind, check_key
from funnel.platform.client_limits import Limit
from funnel.platform.errors import (
    ConfigurationError,
    Forbidden,
    FunnelError,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    SigningNotConfigured,
    UnknownQueryParameter,
    UnsupportedMediaType,
    ValidationFailed,
)
from funnel.platform.runtime import Runtime, get_runtime
from funnel.platform.settings import LOCAL_STAGE, HttpSettings, SecuritySettings
from funnel.platform.signatures import verify

logger = Logger(child=True)
metrics = Metrics()


@dataclass(frozen=True)
class RawRequest:
    """What guards see: lower-cased headers and the body bytes exactly as sent, with the
    path, the client's IP (used, never stored) and API Gateway's request id."""

    headers: Mapping[str, str]
    body: bytes
    path: str = ""
    source_ip: str | None = None
    request_id: str | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> RawRequest:
        """The request of an HTTP API event; ``headers``, when given, are its headers already
        lower-cased (the resolver reads them before it builds the request)."""
        if headers is None:
            headers = lower_cased_headers(event)
        context = event.get("requestContext") or {}
        http = context.get("http") or {}
        raw = event.get("body") or ""
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                raise MalformedRequest("invalid_body_encoding") from None
        else:
            body = raw.encode("utf-8", errors="surrogatepass")
        return cls(
            headers,
            body,
            path=str(event.get("rawPath") or http.get("path") or ""),
            source_ip=http.get("sourceIp"),
            request_id=context.get("requestId"),
        )


def lower_cased_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """An HTTP API event's headers with lower-cased names, and values that are valid
    Unicode (a lone surrogate becomes "?": no check or parser downstream has to cope)."""
    return {str(k).lower(): _valid_text(str(v)) for k, v in (event.get("headers") or {}).items()}


def _valid_text(value: str) -> str:
    if value.isascii():
        return value
    return value.encode("utf-8", "replace").decode("utf-8")


Guard = Callable[[RawRequest, Runtime], None]
RuntimeFactory = Callable[[], Runtime]


def _nothing_refused(security: SecuritySettings) -> Collection[KeyKind]:
    return ()


@dataclass(frozen=True)
class KeyGuard:
    """Guard: the request presents a key of one of ``kinds`` (keys by purpose, see
    :mod:`funnel.platform.auth`); a function's routes accept exactly the kinds its guard names.

    Parameters
    ----------
    kinds
        The kinds of key these routes accept, in the order the documentation lists them.
    refused
        Which of them the deployment's settings refuse here (the webhook route can refuse
        the admin key); their secrets are then not even read.
    metric
        When set, each accepted request adds 1 to ``<metric>With<Purpose>Key`` (for
        instance ``WebhooksWithAdminKey``), so operators see which keys are still in use.
    """

    kinds: tuple[KeyKind, ...]
    refused: Callable[[SecuritySettings], Collection[KeyKind]] = _nothing_refused
    metric: str | None = None

    def __call__(self, request: RawRequest, runtime: Runtime) -> None:
        refused = self.refused(runtime.settings.security)
        accepted = [(kind, runtime.api_keys(kind)) for kind in self.kinds if kind not in refused]
        kind = check_key(accepted, request.headers)
        if self.metric is not None:
            name = f"{self.metric}With{kind.purpose.capitalize()}Key"
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


def _admin_key_refused_on_webhook(security: SecuritySettings) -> Collection[KeyKind]:
    return (ADMIN_KEY,) if security.webhook_refuses_admin_key else ()


require_admin_key = KeyGuard((ADMIN_KEY,))
"""The admin routes: the admin key only."""
require_webhook_key = KeyGuard(
    (ADMIN_KEY, WEBHOOK_KEY), refused=_admin_key_refused_on_webhook, metric="Webhooks"
)
"""The webhook route: a webhook key, or the admin key unless ``WEBHOOK_REFUSES_ADMIN_KEY``."""
require_metrics_key = KeyGuard((ADMIN_KEY, METRICS_KEY), metric="MetricsReads")
"""The metrics routes: the admin key, or a read-only metrics key."""


def request_origin(headers: Mapping[str, str]) -> str | None:
    """The origin of the page a request came from: ``Origin``, or when a browser sent none,
    the scheme and host of ``Referer``; lower-cased. None when neither tells it, and for
    ``Origin: null`` (an opaque origin: a sandboxed frame, a ``file:`` page, a page whose
    referrer policy is ``no-referrer``), which no site can be shown to own."""
    origin = headers.get("origin")
    if origin is not None:
        origin = origin.strip().lower()
        return None if origin in ("", "null") else origin
    referer = headers.get("referer")
    if not referer:
        return None
    try:
        parts = urlsplit(referer.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True)
class SiteOriginGuard:
    """Guard: requests to ``paths`` come from a page of one of the site's origins
    (``ALLOWED_ORIGINS``), by ``Origin`` or else ``Referer`` (see :func:`request_origin`).

    Browsers set both and no page can forge them, so another site cannot make a visitor's
    browser post there (a forged consent, say); other clients can send any header, which
    is why this guards writes a browser could be tricked into, not who may call.
    """

    paths: frozenset[str]

    def __call__(self, request: RawRequest, runtime: Runtime) -> None:
        if request.path.rstrip("/") not in self.paths:
            return
        origin = request_origin(request.headers)
        allowed = {allowed.lower() for allowed in runtime.settings.http.allowed_origins}
        if origin is None or origin not in allowed:
            metrics.add_metric(name="RequestsFromOtherOrigins", unit=MetricUnit.Count, value=1)
            raise Forbidden(
                "origin_not_allowed",
                details="this route takes requests from the site's own pages only (Origin or Referer)",
            )


def require_webhook_signature(request: RawRequest, runtime: Runtime) -> None:
    """Guard: a valid Standard Webhooks signature.

    Without a valid signing secret the route answers every delivery 503
    ``webhook_signing_not_configured``, with one exception: nothing configured at all on
    the local stage (``STAGE`` unset, as in tests and in-process runs; the template sets
    ``dev`` or ``prod``, and ``make run`` always configures a secret), where deliveries are
    not checked. A blank or invalid secret is refused on every stage.
    """
    try:
        secrets = runtime.webhook_signing_secrets()
    except ConfigurationError as exc:
        _signing_not_configured(str(exc))
    if not secrets:
        if runtime.settings.stage == LOCAL_STAGE:
            return
        _signing_not_configured(f"no signing secret on stage {runtime.settings.stage}")
    verify(
        secrets,
        request.headers,
        request.body,
        now=runtime.clock().timestamp(),
        tolerance_seconds=runtime.settings.security.webhook_tolerance_seconds,
    )


def _signing_not_configured(reason: str) -> NoReturn:
    logger.error("webhook signing not configured", extra={"reason": reason})
    metrics.add_metric(name="WebhookSigningNotConfigured", unit=MetricUnit.Count, value=1)
    raise SigningNotConfigured()


def error_body(exc: FunnelError) -> dict[str, Any]:
    return {"ok": False, "error": exc.code, "details": exc.details, **exc.fields}


def _misconfigured(exc: ConfigurationError) -> ServiceUnavailable:
    logger.error("service misconfigured", extra={"reason": str(exc)})
    return ServiceUnavailable("service_misconfigured", retry_after_seconds=60)


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if math.isinf(number):
        # 1e400: Python reads it as infinity, which JSON cannot write back.
        raise _NotJson(f"{literal[:20]} is out of a double's range")
    return number


# One decoder for every request (json.loads with an argument builds a new one per call).
_STRICT_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays a request body may have (the body's own object or
array is level 1). No model here goes past 4; the limit bounds what validation, logging
and jsonb have to walk."""


class JsonTooDeep(json.JSONDecodeError):
    """A body nested deeper than :data:`MAX_JSON_DEPTH` (a 400 ``json_too_deep``)."""

    def __init__(self, document: str) -> None:
        super().__init__(f"the body is nested deeper than {MAX_JSON_DEPTH} levels", document, 0)


def _nesting_fits(node: dict[str, Any] | list[Any], room: int) -> bool:
    """Whether no container inside ``node`` is more than ``room`` levels below it.

    It visits each container's values once and goes no deeper than the limit; a webhook
    takes about a microsecond, a batch of 100 events a fraction of its parsing time.
    """
    for child in node.values() if type(node) is dict else node:
        if (type(child) is dict or type(child) is list) and (room == 0 or not _nesting_fits(child, room - 1)):
            return False
    return True


def strict_json(text: str | bytes) -> Any:
    """Parse a request body as JSON, refusing what PostgreSQL's jsonb or Python cannot
    hold: ``NaN``, ``Infinity`` and numbers beyond a double (Python's parser accepts them,
    jsonb refuses them), integers of more digits than Python converts, and nesting deeper
    than :data:`MAX_JSON_DEPTH` (:class:`JsonTooDeep`). Each is malformed JSON (400) here
    rather than a failed write or a crash later."""
    try:
        document = text if isinstance(text, str) else text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("the body is not UTF-8", "", exc.start) from exc
    try:
        value = _STRICT_DECODER.decode(document)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise JsonTooDeep(document) from None
    except ValueError as exc:  # _NotJson, and int() refusing thousands of digits
        raise json.JSONDecodeError(str(exc)[:200], document, 0) from None
    if (type(value) is dict or type(value) is list) and not _nesting_fits(value, MAX_JSON_DEPTH - 1):
        raise JsonTooDeep(document)
    return value


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def from_validation_error(exc: RequestValidationError) -> FunnelError:
    """Map Powertools' validation error to ours: 400 for a body that is not JSON
    (``json_too_deep`` for one nested deeper than :data:`MAX_JSON_DEPTH`); 422 with
    the allowed values for an unknown discriminator (an unknown ``eventType`` is
    ``unknown_event_type``); 422 with the failing fields otherwise (a missing
    ``eventType`` among them). Input values are never echoed (they may be personal)."""
    errors = list(exc.errors())
    if isinstance(exc.__cause__, JsonTooDeep):
        return MalformedRequest("json_too_deep", details={"maxDepth": MAX_JSON_DEPTH})
    if any(error.get("type") == "json_invalid" for error in errors):
        return MalformedRequest(details="the body is not valid JSON")
    for error in errors:
        if error.get("type") == "union_tag_invalid":
            ctx = error.get("ctx") or {}
            field = str(ctx.get("discriminator", "type")).strip("'")
            return ValidationFailed(
                f"unknown_{_snake(field)}",
                details={
                    "field": field,
                    "received": ctx.get("tag"),
                    "allowed": re.findall(r"'([^']*)'", str(ctx.get("expected_tags", ""))),
                },
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


JSON = "application/json"
TEXT = "text/plain"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_FORM_FIELDS = 200
# Where Powertools keeps a route's validated arguments in the resolver's context.
_ROUTE_ARGS = "_route_args"
RejectionHook = Callable[[FunnelError, RawRequest, Runtime], None]
ErrorPage = Callable[[FunnelError], str]
ClientLimitOf = Callable[[str, HttpSettings], tuple[str, Limit]]
HTML = "text/html; charset=utf-8"


def browser_form_post(headers: Mapping[str, str]) -> bool:
    """Whether a browser posted a plain HTML form: an urlencoded or multipart body, from a
    client that takes HTML (browsers navigating to a form's action accept ``text/html``)."""
    return media_type(headers) in (FORM, MULTIPART) and "text/html" in headers.get("accept", "").lower()


_NESTED = re.compile(r"^([A-Za-z0-9_]+)\[([^\[\]]*)\]$")


def form_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Form fields as a JSON object: ``a=1`` is ``{"a": "1"}``, ``fields[b]=2`` is
    ``{"fields": {"b": "2"}}`` (one level, as HTML forms name grouped inputs); the last of
    repeated names wins.

    Raises
    ------
    MalformedRequest
        ``invalid_form`` for a name used both as a field and as a group.
    """
    fields: dict[str, Any] = {}
    for name, value in pairs:
        nested = _NESTED.match(name)
        if nested:
            group = fields.setdefault(nested.group(1), {})
            if not isinstance(group, dict):
                raise MalformedRequest(
                    "invalid_form", details=f"{nested.group(1)} is both a field and a group"
                )
            group[nested.group(2)] = value
        else:
            if isinstance(fields.get(name), dict):
                raise MalformedRequest("invalid_form", details=f"{name} is a field and a group")
            fields[name] = value
    return fields


def urlencoded_pairs(body: bytes) -> list[tuple[str, str]]:
    """An urlencoded body's fields, at most ``MAX_FORM_FIELDS``."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise MalformedRequest("invalid_form", details="too many form fields") from None


def multipart_pairs(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """A ``multipart/form-data`` body's text fields (uploaded files are not fields)."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body
    )
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise MalformedRequest("invalid_form", details="not a multipart body")
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        if len(pairs) == MAX_FORM_FIELDS:
            raise MalformedRequest("invalid_form", details="too many form fields")
        payload = part.get_payload(decode=True)
        pairs.append((name, payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""))
    return pairs


def _method(event: Mapping[str, Any]) -> str:
    return str((event.get("requestContext") or {}).get("http", {}).get("method", "")).upper()


def media_type(headers: Mapping[str, str]) -> str:
    """The media type of ``content-type`` without parameters, lower-cased ("" when absent)."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


class FunnelResolver(APIGatewayHttpResolver):
    """An HTTP API resolver with request validation, guards, CORS and our error shape.

    Parameters
    ----------
    guards
        Checks run on every request of this function before routing and validation; a
        function is one boundary of trust, so its guards apply to all its routes.
    accept
        Body media types the function takes. ``text/plain`` (what ``navigator.sendBeacon``
        sends) is read as JSON; an urlencoded form becomes a JSON object of its fields and
        the route sees ``form_post`` in the context. Anything else is 415 before routing.
    cors
        Answer preflights and add CORS headers for origins in ``ALLOWED_ORIGINS``; only
        for the public collection function, never for admin routes.
    on_reject
        Called with every rejection (a guard's or validation's), for ingest accounting.
    error_page
        When set, a browser's plain form post (see :func:`browser_form_post`) that is
        refused is answered with this HTML page of the error (same status and headers):
        the person who sent it sees a page saying what happened, not JSON.
    client_limit
        For public functions: the group and bound of a request path
        (:func:`funnel.platform.client_limits.public_limit`). Each client (by hashed address) over
        its group's bound is answered 429 ``rate_limited`` with ``Retry-After`` before
        anything else is done, preflights included; nothing is counted or stored.
    strict_query
        Refuse a query string naming a parameter the route does not declare (400
        ``unknown_query_parameter`` with the ``accepted`` names), after the guards, before
        validation.
    runtime
        Where settings, secrets and the database come from (tests pass their own).
    """

    def __init__(
        self,
        *,
        guards: Sequence[Guard] = (),
        accept: frozenset[str] = frozenset({JSON}),
        cors: bool = False,
        on_reject: RejectionHook | None = None,
        error_page: ErrorPage | None = None,
        client_limit: ClientLimitOf | None = None,
        strict_query: bool = False,
        runtime: RuntimeFactory = get_runtime,
    ) -> None:
        super().__init__(enable_validation=True, serializer=_json, json_body_deserializer=strict_json)
        _memoize_body_shape_check()
        self.use([_unprintable_route_arguments])
        self._guards = tuple(guards)
        self._accept = accept
        self._cors_for_site = cors
        self._on_reject = on_reject
        self._error_page = error_page
        self._client_limit = client_limit
        self._strict_query = strict_query
        self.runtime = runtime
        self.exception_handler(FunnelError)(self._funnel_error)
        self.exception_handler(RequestValidationError)(self._validation_error)
        self.exception_handler(RequestUnsupportedContentType)(self._unsupported_content_type)
        self.exception_handler(ConfigurationError)(self._configuration_error)
        self.not_found()(self._not_found)

    @property
    def guards(self) -> tuple[Guard, ...]:
        """The checks every request of this function passes before routing (for the
        OpenAPI document's security requirements)."""
        return self._guards

    def methods_of(self, path: str) -> list[str]:
        """The methods this function serves at ``path`` (the template routes the others to it
        with ``ANY``, so they are 405 with ``Allow``, not API Gateway's 404); empty for a
        path it does not serve. A function that answers CORS preflights serves OPTIONS too."""
        methods = {
            route.method.upper()
            for route in (*self._static_routes, *self._dynamic_routes)
            if route.rule.match(path)
        }
        if methods and self._cors_for_site:
            methods.add("OPTIONS")
        return sorted(methods)

    def query_parameters_of(self, method: str, path: str) -> list[str] | None:
        """The query parameters the route of ``method`` and ``path`` declares, by their
        names on the wire; None when no route serves them."""
        for route in (*self._static_routes, *self._dynamic_routes):
            if route.method.upper() == method and route.rule.match(path):
                return sorted(str(param.alias) for param in route.dependant.query_params)
        return None

    @property
    def limits_clients(self) -> bool:
        """Whether each client is bounded (429 with ``Retry-After``; for the OpenAPI document)."""
        return self._client_limit is not None

    @property
    def serves_error_pages(self) -> bool:
        """Whether a browser's refused form post gets a page (for the OpenAPI document)."""
        return self._error_page is not None

    @property
    def raw_request(self) -> RawRequest:
        """The request as received (before any form or text conversion)."""
        request = self.context.get("raw_request")
        return (
            request
            if isinstance(request, RawRequest)
            else RawRequest.from_event(self.current_event.raw_event)
        )

    @property
    def form_post(self) -> bool:
        """Whether the body arrived as an urlencoded form (answered with a redirect)."""
        return bool(self.context.get("form_post"))

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        headers = lower_cased_headers(event)
        origin = headers.get("origin")
        if self._client_limit is not None:
            refused = self._over_client_limit(event, headers)
            if refused is not None:
                return self._with_cors(refused, origin)
        method = _method(event)
        if self._cors_for_site and method == "OPTIONS":
            return self._preflight(origin)
        allowed = self.methods_of(str(event.get("rawPath") or ""))
        if allowed and method not in allowed:
            # Not a rejected event or lead: nothing is counted, only answered.
            return self._with_cors(self._reject(MethodNotAllowed(allowed), None), origin)
        request: RawRequest | None = None
        try:
            request = RawRequest.from_event(event, headers)
            self._admit(request)
            if self._strict_query:
                self._check_query(event, method)
            prepared = self._as_json(event, request)
        except FunnelError as exc:
            response = self._reject(exc, request)
        except ConfigurationError as exc:
            response = self._reject(_misconfigured(exc), request)
        else:
            self.append_context(
                raw_request=request, form_post=media_type(request.headers) in (FORM, MULTIPART)
            )
            response = super().resolve(prepared, context)
        return self._with_cors(response, origin)

    def _over_client_limit(
        self, event: Mapping[str, Any], headers: Mapping[str, str]
    ) -> dict[str, Any] | None:
        """The 429 of a client over its bound, or None to go on (the bound taken)."""
        assert self._client_limit is not None
        try:
            runtime = self.runtime()
        except ConfigurationError:
            return None  # answered 503 further on
        path = str(event.get("rawPath") or "")
        group, limit = self._client_limit(path, runtime.settings.http)
        source_ip = ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp")
        retry_after = runtime.client_limiter.take(group, source_ip, limit, now=runtime.clock().timestamp())
        if not retry_after:
            return None
        metrics.add_metric(name="ClientRateLimited", unit=MetricUnit.Count, value=1)
        refused = RateLimited(
            details={"retryAfterSeconds": retry_after}, headers={"Retry-After": str(retry_after)}
        )
        # Headers only: the body is not even decoded.
        return self._reject(refused, RawRequest(headers, b"", path=path))

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
        kind = media_type(request.headers)
        if request.body and kind and kind not in self._accept:
            raise UnsupportedMediaType(details={"contentType": kind[:100], "accepted": sorted(self._accept)})
        for guard in self._guards:
            guard(request, runtime)

    def _check_query(self, event: Mapping[str, Any], method: str) -> None:
        accepted = self.query_parameters_of(method, str(event.get("rawPath") or ""))
        if accepted is None:
            return
        unknown = sorted(set(event.get("queryStringParameters") or {}) - set(accepted))
        if unknown:
            raise UnknownQueryParameter([name[:64] for name in unknown[:20]], accepted)

    @staticmethod
    def _as_json(event: Mapping[str, Any], request: RawRequest) -> Mapping[str, Any]:
        """The event Powertools validates: forms and beacon text rewritten as a JSON body,
        and JSON whose type Powertools would not recognise (`Application/JSON`) relabelled."""
        kind = media_type(request.headers)
        if not request.body:
            body = ""
        elif kind == TEXT:
            body = request.body.decode("utf-8")
        elif kind == FORM:
            body = _json(form_fields(urlencoded_pairs(request.body)))
        elif kind == MULTIPART:
            body = _json(form_fields(multipart_pairs(request.body, request.headers["content-type"])))
        elif event.get("isBase64Encoded"):
            body = request.body.decode("utf-8")
        elif str((event.get("headers") or {}).get("content-type", JSON)).startswith(JSON):
            return event
        else:
            # JSON, in a case Powertools does not recognise ("Application/JSON")
            body = request.body.decode("utf-8")
        headers = {**(event.get("headers") or {}), "content-type": JSON}
        return {**event, "headers": headers, "body": body, "isBase64Encoded": False}

    def _preflight(self, origin: str | None) -> dict[str, Any]:
        if not origin or origin not in self.runtime().settings.http.allowed_origins:
            return self._reject(Forbidden("origin_not_allowed"), None)
        metrics.add_metric(name="CorsPreflightsAllowed", unit=MetricUnit.Count, value=1)
        return {
            "statusCode": 204,
            "headers": {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "content-type",
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            },
            "body": "",
            "isBase64Encoded": False,
        }

    def _with_cors(self, response: dict[str, Any], origin: str | None) -> dict[str, Any]:
        if not self._cors_for_site or not origin:
            return response
        try:
            allowed = origin in self.runtime().settings.http.allowed_origins
        except ConfigurationError:
            allowed = False
        headers = {**(response.get("headers") or {}), "Vary": "Origin"}
        if allowed:
            headers["Access-Control-Allow-Origin"] = origin
        return {**response, "headers": headers}

    def _log_rejection(self, exc: FunnelError, request: RawRequest | None) -> None:
        logger.info("request rejected", extra={"status": exc.status, "error": exc.code})
        metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
        if self._on_reject is not None and request is not None:
            try:
                self._on_reject(exc, request, self.runtime())
            except Exception:
                # Accounting must never turn a clear 4xx into a 500.
                logger.exception("rejection accounting failed")

    def _error_content(self, exc: FunnelError, request: RawRequest | None) -> tuple[str, str]:
        """The media type and body of an error's answer: JSON, or a page for a browser."""
        if self._error_page is not None and request is not None and browser_form_post(request.headers):
            return HTML, self._error_page(exc)
        return content_types.APPLICATION_JSON, _json(error_body(exc))

    def _reject(self, exc: FunnelError, request: RawRequest | None) -> dict[str, Any]:
        self._log_rejection(exc, request)
        content_type, body = self._error_content(exc, request)
        return {
            "statusCode": exc.status,
            "headers": {"Content-Type": content_type, **exc.headers},
            "body": body,
            "isBase64Encoded": False,
        }

    def _funnel_error(self, exc: FunnelError) -> Response:
        request = self.raw_request
        self._log_rejection(exc, request)
        content_type, body = self._error_content(exc, request)
        return Response(status_code=exc.status, content_type=content_type, body=body, headers=exc.headers)

    def _validation_error(self, exc: RequestValidationError) -> Response:
        # An empty body explains only the body's errors; a bad query string stays a 422.
        about_body = any(error.get("loc", ("",))[:1] == ("body",) for error in exc.errors())
        if about_body and not self.raw_request.body.strip():
            return self._funnel_error(MalformedRequest("empty_body", details="the body is empty"))
        return self._funnel_error(from_validation_error(exc))

    def _unsupported_content_type(self, exc: RequestUnsupportedContentType) -> Response:
        kind = media_type(self.current_event.headers)
        return self._funnel_error(UnsupportedMediaType(details={"contentType": kind[:100]}))

    def _configuration_error(self, exc: ConfigurationError) -> Response:
        return self._funnel_error(_misconfigured(exc))

    def _not_found(self, exc: Exception) -> Response:
        return self._funnel_error(NotFound())


class _RouteArguments(dict[str, Any]):
    """A route's validated arguments, printed by name only.

    Powertools formats the arguments into a debug message before every route call, at any
    log level; printed in full they would cost a walk of every model on every request
    (about 15 µs for a webhook) and would put request bodies, emails among them, into that
    message.
    """

    def __repr__(self) -> str:
        return f"<validated arguments: {', '.join(self)}>"


def _unprintable_route_arguments(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """Middleware (after validation, before the route): see :class:`_RouteArguments`."""
    app.context[_ROUTE_ARGS] = _RouteArguments(app.context.get(_ROUTE_ARGS) or {})
    return next_middleware(app)


def _memoize_body_shape_check() -> None:
    """Ask Powertools' "is this body annotation a sequence?" once per annotation.

    Its request validation walks the body's annotation on every request to decide whether
    a form's list values must be unwrapped; for a discriminated union of six models that
    walk is a few dozen ``issubclass`` calls, about a third of the resolver's own time.
    The answer depends only on the annotation (a type, immutable once a model is built),
    so it is remembered; an annotation that cannot be hashed is walked as before.
    """
    check = openapi_validation._is_or_contains_sequence
    if getattr(check, "memoized", False):
        return
    remembered = functools.lru_cache(maxsize=256)(check)

    @functools.wraps(check)
    def is_or_contains_sequence(annotation: Any) -> bool:
        try:
            return remembered(annotation)
        except TypeError:
            return check(annotation)

    is_or_contains_sequence.memoized = True  # type: ignore[attr-defined]
    openapi_validation._is_or_contains_sequence = is_or_contains_sequence
