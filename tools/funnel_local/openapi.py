"""One OpenAPI document for every route of ``template.yaml``, generated from the code.

Each function with ``HttpApi`` routes names its handler module in the template; that
module's ``app`` (a :class:`funnel.platform.http.FunnelResolver`) generates its part of the
document from the same pydantic models that validate requests and shape answers. A
static-files function has no resolver: its module's ``ASSETS`` table (path, media type,
summary, headers) gives one ``GET`` per file, with its validator, headers and ``304``. The parts
are merged into one document and checked against the template: a route the template
declares must be served by its function's ``app``, and the reverse (an ``ANY`` route of a
path the ``app`` serves takes its other methods, answered 405, and is not an operation).
CORS preflights, which the resolver answers before routing, are described here. Each
operation gets the security requirements of its function's guards (one alternative per
kind of key its ``KeyGuard`` accepts, each with the Standard Webhooks signature where that
is checked too), API Gateway's 429 of route throttling, and
validation errors are described with the error shape the resolver actually answers
(Powertools' default ``HTTPValidationError`` is never sent).

``python -m funnel_local openapi`` writes the document to ``openapi.json`` at the
repository's root; ``--check`` fails when that file is not what the code generates. The
local gateway serves it live at ``/openapi.json`` and as a Swagger page at ``/swagger``
(:class:`LocalDocs`); those routes exist only locally, never in a deployed API.
"""

from __future__ import annotations

import importlib
import json
import threading
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Final

from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html
from werkzeug.wrappers import Request, Response

from funnel.platform.auth import ADMIN_KEY, METRICS_KEY, WEBHOOK_KEY, KeyKind
from funnel.platform.http import FunnelResolver, Guard, KeyGuard, require_webhook_signature
from funnel_local.postgres import REPO_ROOT
from funnel_local.template import SamTemplate

DOCUMENT_PATH: Final = REPO_ROOT / "openapi.json"
TITLE: Final = "Funnel API"
DESCRIPTION: Final = (
    "Funnel analytics: marketing-site beacons and leads, signed description-service webhooks, "
    "and admin metrics served from daily rollups. Every error is "
    '`{"ok": false, "error": "<code>", "details": ...}`. A JSON body nested deeper than 32 levels '
    "of objects and arrays is 400 `json_too_deep` on every route. A method a path does not serve "
    "is 405 `method_not_allowed`, with `Allow` naming the methods it does."
)
SERVERS: Final[list[dict[str, Any]]] = [
    {"url": "http://127.0.0.1:3000", "description": "make run (local gateway)"},
    {
        "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
        "description": "A deployed stack (see its ApiUrl output)",
        "variables": {"apiId": {"default": "apiId"}, "region": {"default": "us-east-1"}},
    },
]
SECURITY_SCHEMES: Final[dict[str, dict[str, Any]]] = {
    "adminKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-admin-key",
        "description": "The admin API key (ADMIN_API_KEY, or the AdminApiKeySecret output's secret): "
        "every route a key protects, the webhook's too unless the stack's WebhookRefusesAdminKey is true.",
    },
    "webhookKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-admin-key",
        "description": "A webhook key (WEBHOOK_API_KEYS, or the WebhookApiKeySecret output's secret; "
        "several may be valid at once, for rotation), in the same header as the admin key: the webhook "
        "route only, 401 anywhere else.",
    },
    "metricsKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A read-only metrics key (METRICS_API_KEYS, or the MetricsApiKeySecret output's "
        "secret; several may be valid at once, for rotation), as `Authorization: Bearer <key>`: "
        "GET /v1/metrics/* only, 401 anywhere else.",
    },
    "webhookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-signature",
        "description": "Standard Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds, within "
        "300 s) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, with a "
        "`whsec_` secret of 24 to 64 bytes). Without a valid signing secret configured, the route "
        "answers 503 `webhook_signing_not_configured`.",
    },
}
KEY_SCHEMES: Final[Mapping[KeyKind, str]] = {
    ADMIN_KEY: "adminKey",
    WEBHOOK_KEY: "webhookKey",
    METRICS_KEY: "metricsKey",
}
# Guards every request must pass besides its key, by their security scheme.
GUARD_SCHEMES: Final[Mapping[Guard, str]] = {require_webhook_signature: "webhookSignature"}
# API Gateway's own answer when a route's throttling bucket is empty (the template's
# DefaultRouteSettings, and WebhookRateLimit on the webhook): any route may get it.
_THROTTLED_BODY: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"message": {"type": "string", "const": "Too Many Requests"}},
    "required": ["message"],
}
THROTTLED: Final[dict[str, Any]] = {
    "description": "Throttled by API Gateway (route throttling); retry later",
    "content": {"application/json": {"schema": _THROTTLED_BODY}},
}
_VALIDATION_ERROR_REF: Final = "#/components/schemas/HTTPValidationError"
_ERROR_REF: Final = "#/components/schemas/ErrorResponse"
_REF_PREFIX: Final = "#/components/schemas/"


class OpenApiError(ValueError):
    """The code and the template disagree, or two functions define a schema differently."""


def api_version() -> str:
    """The project's version (``pyproject.toml``), the document's ``info.version``."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    version: str = project["version"]
    return version


def _resolver(module_name: str, function_id: str) -> FunnelResolver:
    module = importlib.import_module(module_name)
    app = getattr(module, "app", None)
    if not isinstance(app, FunnelResolver):
        raise OpenApiError(
            f"{function_id}: {module_name} has no module-level FunnelResolver named app, nor static ASSETS"
        )
    return app


def _static_assets(module_name: str) -> Mapping[str, Any] | None:
    """The ``ASSETS`` table of a static-files handler (path -> file with ``content_type``
    and ``summary``), or None for a handler with a resolver."""
    module = importlib.import_module(module_name)
    assets: Mapping[str, Any] | None = getattr(module, "ASSETS", None)
    return assets if assets is not None and getattr(module, "app", None) is None else None


def _static_operation(path: str, asset: Any) -> dict[str, Any]:
    validator = {
        "description": "The file's validator; each encoding has its own",
        "schema": {"type": "string"},
    }
    cache = {"description": "How long a browser keeps the file", "schema": {"type": "string"}}
    return {
        "tags": ["assets"],
        "summary": asset.summary,
        "operationId": "get" + path.replace("/", "_").replace(".", "_").replace("-", "_"),
        "parameters": [
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "ETags of copies the browser holds: a current one is answered 304",
                "schema": {"type": "string"},
            },
            {
                "name": "Accept-Encoding",
                "in": "header",
                "required": False,
                "description": "With gzip, the file is sent gzipped (Content-Encoding: gzip)",
                "schema": {"type": "string"},
            },
        ],
        "responses": {
            "200": {
                "description": "The file",
                "headers": {
                    "ETag": validator,
                    "Cache-Control": cache,
                    **{
                        name: {"description": f"Always `{value}`", "schema": {"type": "string"}}
                        for name, value in asset.headers.items()
                    },
                },
                "content": {asset.content_type.split(";", 1)[0]: {"schema": {"type": "string"}}},
            },
            "304": {
                "description": "Not modified: the copy If-None-Match names is current",
                "headers": {"ETag": validator, "Cache-Control": cache},
            },
        },
    }


def _static_part(
    function_id: str, assets: Mapping[str, Any], declared: set[str], paths: dict[str, dict[str, Any]]
) -> None:
    """Add a static-files function's operations to ``paths``: one GET per file."""
    served = {f"GET {path}" for path in assets}
    if served - declared:
        raise OpenApiError(f"{function_id} serves {min(served - declared)}, not routed by template.yaml")
    # A file's other methods are answered 405 (see the document's description).
    declared = declared - {f"ANY {path}" for path in assets}
    if declared - served:
        raise OpenApiError(
            f"{function_id}: template.yaml routes {min(declared - served)}, not served by its ASSETS"
        )
    for path, asset in assets.items():
        paths.setdefault(path, {})["get"] = _static_operation(path, asset)


def _throttled(app: FunnelResolver) -> dict[str, Any]:
    """The 429s a function's operations may answer: API Gateway's, and for a function that
    bounds each client (``funnel.platform.client_limits``) its own, with ``Retry-After`` (and as a
    page for a browser's form post where the function serves error pages)."""
    if not app.limits_clients:
        return THROTTLED
    content: dict[str, Any] = {
        "application/json": {"schema": {"oneOf": [{"$ref": _ERROR_REF}, _THROTTLED_BODY]}}
    }
    if app.serves_error_pages:
        content["text/html"] = {"schema": {"type": "string"}}
    return {
        "description": "This client (by hashed address) is over its bound (`rate_limited`, with "
        "`Retry-After` seconds), or API Gateway throttled the route (`Too Many Requests`); retry later",
        "headers": {
            "Retry-After": {
                "description": "Seconds until this client may send again (the client bound's answer)",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": content,
    }


def _preflight(path: str, throttled: dict[str, Any]) -> dict[str, Any]:
    return {
        "tags": ["collection"],
        "summary": "CORS preflight (answered for ALLOWED_ORIGINS before routing)",
        "operationId": "preflight" + path.replace("/", "_").replace("-", "_"),
        "parameters": [{"name": "Origin", "in": "header", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "204": {"description": "The origin is allowed; the Access-Control-Allow-* headers say what"},
            "403": {
                "description": "The origin is not allowed",
                "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
            },
            "429": throttled,
        },
    }


def _answer_validation_errors_as_sent(operation: dict[str, Any]) -> None:
    if "parameters" not in operation and "requestBody" not in operation:
        # Powertools gives every operation a 422; one that takes no input never sends it.
        operation.get("responses", {}).pop("422", None)
    for response in operation.get("responses", {}).values():
        for media in response.get("content", {}).values():
            if media.get("schema") == {"$ref": _VALIDATION_ERROR_REF}:
                media["schema"] = {"$ref": _ERROR_REF}


def _references(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        reference = value.get("$ref")
        if isinstance(reference, str) and reference.startswith(_REF_PREFIX):
            yield reference.removeprefix(_REF_PREFIX)
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _used_schemas(paths: Mapping[str, Any], schemas: Mapping[str, Any]) -> dict[str, Any]:
    """The schemas the paths reference, directly or through other schemas."""
    used: set[str] = set()
    pending = list(_references(paths))
    while pending:
        name = pending.pop()
        if name not in used:
            if name not in schemas:
                raise OpenApiError(f"no function's app defines the schema {name}")
            used.add(name)
            pending.extend(_references(schemas[name]))
    return {name: schemas[name] for name in sorted(used)}


def _merge_schema(schemas: dict[str, Any], name: str, definition: Any, function_id: str) -> None:
    if name in schemas and schemas[name] != definition:
        raise OpenApiError(f"{function_id} defines schema {name} differently from another function")
    schemas[name] = definition


def _security(app: FunnelResolver) -> list[dict[str, list[str]]]:
    """The operations' security requirements: one alternative per kind of key the guards
    accept, each together with the other guards' schemes (the signature)."""
    required: dict[str, list[str]] = {
        GUARD_SCHEMES[guard]: [] for guard in app.guards if guard in GUARD_SCHEMES
    }
    kinds = [kind for guard in app.guards if isinstance(guard, KeyGuard) for kind in guard.kinds]
    if not kinds:
        return [required] if required else []
    return [{KEY_SCHEMES[kind]: [], **required} for kind in kinds]


def _function_part(
    function_id: str, module_name: str, declared: set[str], paths: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Add one function's operations to ``paths``; return its component schemas."""
    app = _resolver(module_name, function_id)
    part = app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)
    security = _security(app)
    served = set()
    for path, item in part.get("paths", {}).items():
        for method, operation in item.items():
            route_key = f"{method.upper()} {path}"
            if route_key not in declared:
                raise OpenApiError(f"{function_id} serves {route_key}, not routed by template.yaml")
            served.add(route_key)
            _answer_validation_errors_as_sent(operation)
            operation["responses"]["429"] = _throttled(app)
            if security:
                operation["security"] = security
            paths.setdefault(path, {})[method] = operation
    for route_key in sorted(declared - served):
        method, _, path = route_key.partition(" ")
        if method == "ANY" and app.methods_of(path):
            # The path's other methods, answered 405 (see the document's description).
            continue
        if method != "OPTIONS":
            raise OpenApiError(f"{function_id}: template.yaml routes {route_key}, not served by its app")
        paths.setdefault(path, {})["options"] = _preflight(path, _throttled(app))
    schemas: dict[str, Any] = part.get("components", {}).get("schemas", {})
    return schemas


def build_document(template: SamTemplate) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every ``HttpApi`` route of ``template``.

    Raises
    ------
    OpenApiError
        When a function's handler module has neither a ``FunnelResolver`` ``app`` nor a
        static ``ASSETS`` table, a template route is not served by it (preflights aside) or
        it serves a route the template does not declare, two functions define one schema
        name differently, or a referenced schema is defined by none (validation errors
        refer to ``ErrorResponse``).
    """
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for function_id, spec in sorted(template.functions.items()):
        declared = {route.route_key for route in template.routes if route.function_id == function_id}
        if not declared:
            continue
        assets = _static_assets(spec.handler_module)
        if assets is not None:
            _static_part(function_id, assets, declared, paths)
        else:
            part = _function_part(function_id, spec.handler_module, declared, paths)
            for name, definition in part.items():
                _merge_schema(schemas, name, definition, function_id)
    ordered_paths = {path: dict(sorted(paths[path].items())) for path in sorted(paths)}
    operations = [operation for item in paths.values() for operation in item.values()]
    tags = {tag for operation in operations for tag in operation.get("tags", [])}
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": api_version(), "description": DESCRIPTION},
        "servers": SERVERS,
        "tags": [{"name": tag} for tag in sorted(tags)],
        "paths": ordered_paths,
        "components": {
            "schemas": _used_schemas(ordered_paths, schemas),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def render(document: Mapping[str, Any]) -> str:
    """The document as it is committed: indented JSON with a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def is_current(document: Mapping[str, Any], path: Path = DOCUMENT_PATH) -> bool:
    """Whether ``path`` holds exactly ``document``."""
    return path.is_file() and path.read_text(encoding="utf-8") == render(document)


SWAGGER_PATH: Final = "/swagger"
LIVE_DOCUMENT_PATH: Final = "/openapi.json"
# Swagger UI as Powertools bundles it, served from the package: the page needs no CDN.
_SWAGGER_ASSETS: Final = {
    f"{SWAGGER_PATH}/swagger-ui.min.css": ("swagger-ui.min.css", "text/css; charset=utf-8"),
    f"{SWAGGER_PATH}/swagger-ui-bundle.min.js": ("swagger-ui-bundle.min.js", "text/javascript"),
}


class LocalDocs:
    """The local gateway's documentation pages: ``GET /openapi.json`` (the document, with
    the gateway as its server) and ``GET /swagger`` (Swagger UI on it; ``?format=json``
    gives the document too, as Powertools' page asks). Generated on first request from the
    running code, so the page shows the models as they are now.

    Parameters
    ----------
    template
        The template the gateway serves.
    """

    def __init__(self, template: SamTemplate) -> None:
        self._template = template
        self._document: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _local_document(self, request: Request) -> dict[str, Any]:
        with self._lock:
            if self._document is None:
                self._document = build_document(self._template)
        server = {"url": request.host_url.rstrip("/"), "description": "this local gateway"}
        return {**self._document, "servers": [server]}

    def respond(self, request: Request) -> Response | None:
        """The page for a documentation request, or None for any other request."""
        if request.method != "GET":
            return None
        wants_document = request.path == LIVE_DOCUMENT_PATH or (
            request.path == SWAGGER_PATH and request.args.get("format") == "json"
        )
        if wants_document:
            return Response(render(self._local_document(request)), content_type="application/json")
        if request.path == SWAGGER_PATH:
            page = generate_swagger_html(
                spec=json.dumps(self._local_document(request)),
                swagger_js=f"{SWAGGER_PATH}/swagger-ui-bundle.min.js",
                swagger_css=f"{SWAGGER_PATH}/swagger-ui.min.css",
                swagger_base_url=SWAGGER_PATH,
                oauth2_config=None,
                persist_authorization=True,
            )
            return Response(page, content_type="text/html; charset=utf-8")
        asset = _SWAGGER_ASSETS.get(request.path)
        if asset is None:
            return None
        name, content_type = asset
        files = resources.files("aws_lambda_powertools.event_handler.openapi.swagger_ui")
        return Response(files.joinpath(name).read_bytes(), content_type=content_type)
