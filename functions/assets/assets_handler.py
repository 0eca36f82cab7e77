"""Static files the API serves on its own origin: ``GET /funnel.js``, the tracker, and
``GET /dashboard``, the metrics dashboard (its page, script, styles and chart library).

Each file of :data:`ASSETS` is read, hashed and gzipped once per container. A request is
answered with the file (gzipped when the browser accepts it), a validator (``ETag``) and
cache headers, or with ``304 Not Modified`` when its ``If-None-Match`` names what the
browser already holds. The function needs no database, no secret and no layer: the
standard library only, so a cold start costs little more than starting Python.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

STATIC: Final = Path(__file__).resolve().parent / "static"
# The tag's address never changes (sites embed it once), so a browser keeps the file a day
# and then asks again with If-None-Match: a changed tracker reaches every visitor within a
# day, and an unchanged one costs a 304 without a body.
CACHE_CONTROL: Final = "public, max-age=86400, stale-while-revalidate=604800"
# The dashboard's files are revalidated on every load (a 304 when unchanged), so a deploy
# never shows a page with the script of another version; they are nobody else's to cache.
DASHBOARD_CACHE_CONTROL: Final = "private, no-cache"
# The dashboard runs only its own files: no inline script or style, nothing from another
# origin, requests to the API's own origin only, never inside a frame.
DASHBOARD_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TRACKER_HEADERS: Final = {
    # Sites that isolate themselves (Cross-Origin-Embedder-Policy) may still load it.
    "Cross-Origin-Resource-Policy": "cross-origin",
}
_DASHBOARD_HEADERS: Final = {
    "Content-Security-Policy": DASHBOARD_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# A gzip of the same bytes every time (no timestamp in its header), so its ETag is stable.
_GZIP_LEVEL: Final = 9


@dataclass(frozen=True)
class Asset:
    """A file under ``static/`` and how it is described (also in the OpenAPI document)."""

    file: str
    content_type: str
    summary: str
    cache_control: str = CACHE_CONTROL
    headers: Mapping[str, str] = field(default_factory=lambda: _TRACKER_HEADERS)


JAVASCRIPT: Final = "application/javascript; charset=utf-8"
CSS: Final = "text/css; charset=utf-8"


def _dashboard(file: str, content_type: str, summary: str) -> Asset:
    return Asset(f"dashboard/{file}", content_type, summary, DASHBOARD_CACHE_CONTROL, _DASHBOARD_HEADERS)


ASSETS: Final[Mapping[str, Asset]] = {
    "/funnel.js": Asset(
        file="funnel.js",
        content_type=JAVASCRIPT,
        summary="The tracker: one script tag sends page views, engagement, vitals, forms, events and leads",
    ),
    "/dashboard": _dashboard(
        "index.html",
        "text/html; charset=utf-8",
        "The dashboard: a property's funnel, traffic and service usage, read with a metrics key",
    ),
    "/dashboard/app.js": _dashboard("app.js", JAVASCRIPT, "The dashboard's script"),
    "/dashboard/app.css": _dashboard("app.css", CSS, "The dashboard's styles"),
    "/dashboard/uplot.min.js": _dashboard(
        "uplot.min.js", JAVASCRIPT, "uPlot, the dashboard's chart library (vendored, MIT)"
    ),
    "/dashboard/uplot.min.css": _dashboard("uplot.min.css", CSS, "uPlot's styles (vendored, MIT)"),
}


@dataclass(frozen=True)
class Representation:
    """The bytes sent for one encoding of a file, and their validator."""

    body: bytes
    etag: str


@dataclass(frozen=True)
class LoadedAsset:
    asset: Asset
    plain: Representation
    gzipped: Representation


def load_asset(asset: Asset, directory: Path = STATIC) -> LoadedAsset:
    """Read a file and prepare both its encodings; each is its own representation with its
    own strong validator, derived from the file's bytes alone."""
    body = (directory / asset.file).read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:32]
    return LoadedAsset(
        asset,
        plain=Representation(body, f'"{digest}"'),
        gzipped=Representation(gzip.compress(body, _GZIP_LEVEL, mtime=0), f'"{digest}-gzip"'),
    )


_FILES: Final = {path: load_asset(asset) for path, asset in ASSETS.items()}


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``gzip`` or ``*`` with q > 0)."""
    weights: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        coding, _, parameters = item.partition(";")
        weight = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        weights[coding.strip().lower()] = weight
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison of ``If-None-Match`` (a list, or ``*``) with an ETag."""
    if not if_none_match:
        return False
    candidates = [candidate.strip() for candidate in if_none_match.split(",")]
    return "*" in candidates or etag in (candidate.removeprefix("W/") for candidate in candidates)


def _error(status: int, code: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps({"ok": False, "error": code, "details": None}),
        "isBase64Encoded": False,
    }


def respond(event: Mapping[str, Any]) -> dict[str, Any]:
    """The HTTP API (payload 2.0) response to a request for a static file."""
    http = (event.get("requestContext") or {}).get("http") or {}
    loaded = _FILES.get(str(event.get("rawPath") or http.get("path") or ""))
    if loaded is None:
        return _error(404, "not_found")
    if str(http.get("method", "GET")).upper() != "GET":
        return _error(405, "method_not_allowed", {"Allow": "GET"})
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    gzipped = accepts_gzip(headers.get("accept-encoding"))
    chosen = loaded.gzipped if gzipped else loaded.plain
    common = {"ETag": chosen.etag, "Cache-Control": loaded.asset.cache_control, "Vary": "Accept-Encoding"}
    if etag_matches(headers.get("if-none-match"), chosen.etag):
        return {"statusCode": 304, "headers": common, "body": "", "isBase64Encoded": False}
    response_headers = {
        **common,
        "Content-Type": loaded.asset.content_type,
        "X-Content-Type-Options": "nosniff",
        **loaded.asset.headers,
    }
    if gzipped:
        response_headers["Content-Encoding"] = "gzip"
        body = base64.b64encode(chosen.body).decode("ascii")
    else:
        body = chosen.body.decode("utf-8")
    return {"statusCode": 200, "headers": response_headers, "body": body, "isBase64Encoded": gzipped}


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return respond(event)
