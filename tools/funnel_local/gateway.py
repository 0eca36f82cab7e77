"""A local API Gateway HTTP API in front of the template's functions.

Every ``HttpApi`` route of ``template.yaml`` is served with Werkzeug's threaded server.
Each request becomes a payload format 2.0 event, runs in the route's function (see
:mod:`funnel_local.workers`), and the function's result becomes the HTTP response, by the
rules API Gateway documents for format 2.0:

* header names are lower-cased and repeated headers comma-joined; ``Cookie`` moves to
  ``cookies``; repeated query parameters are comma-joined; ``rawPath`` and
  ``rawQueryString`` are the request's own;
* the body is text for ``text/*``, ``application/json``, ``application/xml``,
  ``application/javascript`` and ``+json`` types, and base64 (``isBase64Encoded``) for
  everything else, form posts included (API Gateway base64-encodes those too); a request
  without a body has no ``body``;
* a result with a ``statusCode`` is the response (``cookies`` become ``Set-Cookie``
  headers, ``isBase64Encoded`` bodies are decoded); any other result is sent as a 200
  ``application/json`` response whose body is the result as JSON.

API Gateway's own answers are reproduced too: 404 ``Not Found`` for no route, 429 ``Too
Many Requests`` when a route's token bucket (its template throttling) is empty, 500
``Internal Server Error`` when the function raises, times out or returns a malformed
response, and 503 ``Service Unavailable`` when the integration timeout (``TimeoutInMillis``,
30 s at most) runs out first.

Beyond the template's routes, and only here, ``GET /openapi.json`` and ``GET /swagger``
document every route (:class:`funnel_local.openapi.LocalDocs`). On request, the template's
schedules fire into the same worker pools (:mod:`funnel_local.scheduler`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from funnel_local.openapi import LocalDocs
from funnel_local.queues import LocalQueues
from funnel_local.scheduler import Scheduler, override_schedules
from funnel_local.template import PSEUDO_PARAMETERS, HttpRoute, SamTemplate, ThrottleSettings, load_template
from funnel_local.workers import DEFAULT_MAX_WORKERS, FunctionPool, Invocation, Outcome, log_function_error

logger = logging.getLogger(__name__)

# Stands in for the random id of a deployed API; the sample events under events/ use it too.
LOCAL_API_ID: Final = "local"
# HTTP APIs refuse payloads over 10 MB.
MAX_BODY_BYTES: Final = 10 * 1024 * 1024
_TEXT_MEDIA_TYPES: Final = frozenset({"application/json", "application/xml", "application/javascript"})
_PATH_VARIABLE: Final = re.compile(r"^\{([^{}]+)\}$")


class MalformedLambdaResponse(ValueError):
    """A function returned a ``statusCode`` response that API Gateway would reject."""


class TokenBucket:
    """API Gateway's throttling: ``burst_limit`` tokens, refilled at ``rate_limit`` per second.

    Parameters
    ----------
    settings
        The route's rate and burst.
    clock
        Monotonic seconds; injectable so tests need not sleep.
    """

    def __init__(self, settings: ThrottleSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = settings.rate_limit
        self._capacity = float(settings.burst_limit)
        self._tokens = self._capacity
        self._clock = clock
        self._updated: float = clock()
        self._lock = threading.Lock()

    def try_take(self) -> bool:
        """Take a token if one is left; False means the request is throttled."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class RouteTable:
    """Matches a method and a path to a route, as API Gateway selects routes.

    ``{name}`` matches one path segment and ``{name+}`` the rest of the path; the most
    specific route wins, and ``ANY`` routes take every method a route of the same path does
    not name (Werkzeug takes the first rule that matches, so those come last).
    """

    def __init__(self, routes: Iterable[HttpRoute]) -> None:
        self._entries: list[tuple[HttpRoute, dict[str, str]]] = []
        rules = []
        ordered = sorted(routes, key=lambda route: route.method == "ANY")
        for index, route in enumerate(ordered):
            pattern, aliases = _werkzeug_pattern(route.path)
            self._entries.append((route, aliases))
            methods = None if route.method == "ANY" else [route.method]
            rules.append(Rule(pattern, endpoint=index, methods=methods))
        self._map = Map(rules, merge_slashes=False, redirect_defaults=False)

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        """The route for a request and its path parameters, or None (a 404)."""
        try:
            endpoint, arguments = self._map.bind("localhost").match(path, method=method)
        except HTTPException:
            return None
        route, aliases = self._entries[endpoint]
        # Werkzeug lets HEAD through to GET rules; API Gateway does not.
        if method == "HEAD" and route.method == "GET":
            return None
        return route, {aliases[alias]: value for alias, value in arguments.items()}


def _werkzeug_pattern(path: str) -> tuple[str, dict[str, str]]:
    """A Werkzeug rule for an API Gateway path, and the parameter name of each rule variable."""
    segments = []
    aliases = {}
    for position, segment in enumerate(path.split("/")):
        variable = _PATH_VARIABLE.match(segment)
        if variable is None:
            segments.append(segment)
            continue
        # API Gateway names need not be Python identifiers; Werkzeug's must.
        alias = f"p{position}"
        name = variable.group(1)
        if name.endswith("+"):
            aliases[alias] = name[:-1]
            segments.append(f"<path:{alias}>")
        else:
            aliases[alias] = name
            segments.append(f"<{alias}>")
    return "/".join(segments), aliases


def is_text_content_type(content_type: str | None) -> bool:
    """Whether API Gateway passes a body of this type as text rather than base64."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in _TEXT_MEDIA_TYPES or media_type.endswith("+json")


def _wsgi_text(value: str) -> str:
    """Undo WSGI's latin-1 transport of request bytes, for the rare non-ASCII request line."""
    return value.encode("latin-1").decode("utf-8", "replace")


def new_request_id() -> str:
    """An id shaped like API Gateway's (16 base64 characters, the last one ``=``)."""
    return base64.b64encode(os.urandom(11)).decode()


def _trace_id(now: dt.datetime) -> str:
    return f"Root=1-{int(now.timestamp()):08x}-{os.urandom(12).hex()}"


def build_event(
    request: Request,
    route: HttpRoute,
    path_parameters: Mapping[str, str],
    *,
    request_id: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends a function for ``request``.

    Parameters
    ----------
    request
        The HTTP request as received.
    route
        The route it matched.
    path_parameters
        Values of the route's ``{name}`` and ``{name+}`` segments.
    request_id
        The request's id (``requestContext.requestId``, and the ``apigw-requestid`` header).
    now
        When the request arrived (UTC).

    Returns
    -------
    dict
        The event; keys API Gateway leaves out when empty (``cookies``,
        ``queryStringParameters``, ``pathParameters``, ``body``) are left out.
    """
    environ = request.environ
    raw_target = _wsgi_text(environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path)
    raw_path = urlsplit(raw_target).path or "/"
    raw_query = _wsgi_text(environ.get("QUERY_STRING", ""))

    headers = {name.lower(): _wsgi_text(value) for name, value in request.headers.items()}
    cookie_header = headers.pop("cookie", "")
    cookies = [cookie.strip() for cookie in cookie_header.split(";") if cookie.strip()]
    source_ip = request.remote_addr or ""
    forwarded_for = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded_for}, {source_ip}" if forwarded_for else source_ip
    headers["x-forwarded-port"] = str(environ.get("SERVER_PORT", ""))
    headers["x-forwarded-proto"] = request.scheme
    headers["x-amzn-trace-id"] = _trace_id(now)

    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    domain_name = urlsplit(f"//{headers.get('host', '')}").hostname or ""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": PSEUDO_PARAMETERS["AWS::AccountId"],
        "apiId": LOCAL_API_ID,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "sourceIp": source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    data = request.get_data()
    is_base64 = False
    if data:
        if is_text_content_type(request.content_type):
            event["body"] = data.decode("utf-8", "replace")
        else:
            event["body"] = base64.b64encode(data).decode()
            is_base64 = True
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["isBase64Encoded"] = is_base64
    return event


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedLambdaResponse(f"header values must be strings, got {value!r}")


def lambda_result_response(result: Any) -> Response:
    """The HTTP response API Gateway makes of a function's format 2.0 result.

    Parameters
    ----------
    result
        What the handler returned, decoded from JSON.

    Returns
    -------
    Response
        The result itself when it has a ``statusCode``; otherwise a 200 ``application/json``
        response carrying the result as JSON.

    Raises
    ------
    MalformedLambdaResponse
        When a ``statusCode`` result has a bad status, headers, cookies or body.
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        return Response(json.dumps(result), status=200, content_type="application/json")

    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int | str) or not str(status).isdigit():
        raise MalformedLambdaResponse(f"statusCode must be an integer, got {status!r}")
    if not 100 <= int(status) <= 599:
        raise MalformedLambdaResponse(f"statusCode {status} is not an HTTP status")
    headers = result.get("headers") or {}
    cookies = result.get("cookies") or []
    body = result.get("body")
    if not isinstance(headers, dict):
        raise MalformedLambdaResponse("headers must be an object")
    if not isinstance(cookies, list) or not all(isinstance(cookie, str) for cookie in cookies):
        raise MalformedLambdaResponse("cookies must be a list of strings")
    if body is not None and not isinstance(body, str):
        raise MalformedLambdaResponse("body must be a string")
    if "multiValueHeaders" in result:
        logger.warning("multiValueHeaders is not part of the format 2.0 response and is ignored")

    if result.get("isBase64Encoded") and body:
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise MalformedLambdaResponse("isBase64Encoded is set but body is not base64") from exc
    else:
        data = (body or "").encode()
    response = Response(data, status=int(status))
    for name, value in headers.items():
        response.headers[name] = _header_text(value)
    for cookie in cookies:
        response.headers.add("Set-Cookie", cookie)
    return response


def _message(status: int, message: str) -> Response:
    """One of API Gateway's own answers."""
    return Response(json.dumps({"message": message}), status=status, content_type="application/json")


class HttpApiGateway:
    """The WSGI application: API Gateway HTTP API behaviour in front of function pools.

    Parameters
    ----------
    routes
        The routes to serve.
    pools
        A worker pool for each function the routes name, by logical id.
    docs
        The local documentation pages, answered for requests no route matches.
    """

    def __init__(
        self, routes: Sequence[HttpRoute], pools: Mapping[str, FunctionPool], docs: LocalDocs | None = None
    ) -> None:
        self._routes = RouteTable(routes)
        self._pools = pools
        self._docs = docs
        self._buckets = {
            (route.api_id, route.route_key): TokenBucket(route.throttle)
            for route in routes
            if route.throttle is not None
        }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request_id = new_request_id()
        started = time.monotonic()
        try:
            response = self._respond(request, request_id)
        except Exception:
            logger.exception("gateway failure", extra={"requestId": request_id})
            response = _message(500, "Internal Server Error")
        response.headers["apigw-requestid"] = request_id
        # The fields of the template's access log: no source IP or user agent.
        logger.info(
            "request",
            extra={
                "requestId": request_id,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "latencyMs": round((time.monotonic() - started) * 1000),
            },
        )
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def _respond(self, request: Request, request_id: str) -> Response:
        match = self._routes.match(request.method, request.path)
        if match is None:
            page = self._docs.respond(request) if self._docs is not None else None
            return page if page is not None else _message(404, "Not Found")
        route, path_parameters = match
        bucket = self._buckets.get((route.api_id, route.route_key))
        if bucket is not None and not bucket.try_take():
            return _message(429, "Too Many Requests")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return _message(413, "Request Entity Too Large")

        event = build_event(
            request, route, path_parameters, request_id=request_id, now=dt.datetime.now(dt.UTC)
        )
        invocation = self._pools[route.function_id].invoke(
            event, wait_seconds=route.integration_timeout_seconds
        )
        return self._integration_response(route, invocation)

    def _integration_response(self, route: HttpRoute, invocation: Invocation) -> Response:
        context = {
            "routeKey": route.route_key,
            "function": route.function_id,
            "lambdaRequestId": invocation.request_id,
        }
        if invocation.outcome is Outcome.SUCCEEDED:
            try:
                return lambda_result_response(invocation.result)
            except MalformedLambdaResponse as exc:
                logger.error("malformed Lambda response: %s", exc, extra=context)
                return _message(500, "Internal Server Error")
        if invocation.outcome is Outcome.NOT_AWAITED:
            logger.error(
                "integration timed out",
                extra={**context, "timeoutSeconds": route.integration_timeout_seconds},
            )
            return _message(503, "Service Unavailable")
        log_function_error(invocation, extra=context)
        return _message(500, "Internal Server Error")


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its own access log (the gateway logs each request)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


@dataclass
class RunningGateway:
    """A gateway serving in a background thread; also a context manager that stops it."""

    template: SamTemplate
    url: str
    port: int
    _server: BaseWSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _pools: Mapping[str, FunctionPool] = field(repr=False)
    scheduler: Scheduler | None = None
    queues: LocalQueues | None = None

    def stop(self) -> None:
        """Fire no more schedules, poll no more queues, stop accepting requests, then stop
        every worker."""
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.queues is not None:
            self.queues.stop()
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()
        for pool in self._pools.values():
            pool.close()

    def __enter__(self) -> RunningGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_gateway(
    template_path: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    env_overrides: Mapping[str, str] | Callable[[str], Mapping[str, str]],
    parameter_overrides: Mapping[str, str] | None = None,
    max_workers_per_function: int = DEFAULT_MAX_WORKERS,
    run_schedules: bool = False,
    schedule_overrides: Mapping[str, str] | None = None,
    run_queues: bool = False,
) -> RunningGateway:
    """Serve every ``HttpApi`` route of a template, in a background thread; and, if asked,
    run its ``Schedule`` events through the same worker pools (:mod:`funnel_local.scheduler`)
    and its queues and ``SQS`` events (:mod:`funnel_local.queues`).

    Parameters
    ----------
    template_path
        The SAM template.
    host, port
        Where to listen; port 0 picks a free port (see :attr:`RunningGateway.port`).
    env_overrides
        Environment values laid over the template's, for every function; or a function of
        the gateway's URL returning them (for values that name the gateway itself, known
        only once it listens, as with port 0).
    parameter_overrides
        Template parameter values replacing the defaults.
    max_workers_per_function
        Concurrent invocations of one function before requests wait for a worker.
    run_schedules
        Fire the template's schedules too (see :attr:`RunningGateway.scheduler`).
    schedule_overrides
        Other expressions for some schedules (see
        :func:`funnel_local.scheduler.override_schedules`).
    run_queues
        Create the template's queues on a local SQS server, point the functions at them,
        and deliver each ``SQS`` event's messages to its function (see
        :attr:`RunningGateway.queues`).

    Returns
    -------
    RunningGateway
        Stop it with :meth:`RunningGateway.stop`, or use it as a context manager.
    """
    template = load_template(template_path, parameter_overrides)
    schedules = override_schedules(template.schedules, schedule_overrides or {}) if run_schedules else ()
    routed = {route.function_id for route in template.routes}
    scheduled = {schedule.function_id for schedule in schedules if schedule.enabled}
    queues = LocalQueues(template) if run_queues and template.queues else None
    consumers = {event.function_id for event in template.queue_events} if queues is not None else set()
    # Filled once the server listens and its URL is known, before it serves anything.
    pools: dict[str, FunctionPool] = {}
    app = HttpApiGateway(template.routes, pools, docs=LocalDocs(template))
    server = make_server(host, port, app, threaded=True, request_handler=_QuietRequestHandler)
    actual_port = server.server_port
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{actual_port}"
    overrides = env_overrides(url) if callable(env_overrides) else env_overrides
    pools.update(
        {
            function_id: FunctionPool(
                template.functions[function_id],
                {
                    **overrides,
                    **(queues.environment(template.functions[function_id]) if queues is not None else {}),
                },
                max_workers=max_workers_per_function,
            )
            for function_id in sorted(routed | scheduled | consumers)
        }
    )
    thread = threading.Thread(target=server.serve_forever, name="funnel-local-gateway", daemon=True)
    thread.start()
    scheduler = Scheduler(schedules, pools) if run_schedules else None
    if scheduler is not None:
        scheduler.start()
    if queues is not None:
        queues.start_polling(pools)
    return RunningGateway(
        template=template,
        url=url,
        port=actual_port,
        _server=server,
        _thread=thread,
        _pools=pools,
        scheduler=scheduler,
        queues=queues,
    )
