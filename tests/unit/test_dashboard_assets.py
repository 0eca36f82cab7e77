"""The dashboard's files (GET /dashboard and what it loads), served by the static-files
function: each with a strict Content-Security-Policy, no sniffing, no referrer, no framing,
revalidated on every load; the page runs no inline script or style and loads only files
this function serves; uPlot is vendored with its licence; and ``make run``'s banner gives
the dashboard's address."""

from __future__ import annotations

import base64
import gzip
import json
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from assets_handler import ASSETS, DASHBOARD_CACHE_CONTROL, DASHBOARD_CSP, lambda_handler
from funnel_local.cli import _site_lines
from funnel_local.template import load_template
from tests.builders import api_event
from tests.conftest import REPO

STATIC = REPO / "functions" / "assets" / "static"
DASHBOARD_PATHS = sorted(path for path in ASSETS if path.startswith("/dashboard"))


def get(path: str, headers: dict[str, str | None] | None = None) -> dict[str, object]:
    event = api_event("assets/get_dashboard", headers=headers)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    return lambda_handler(event, None)


@pytest.mark.parametrize("path", DASHBOARD_PATHS)
def test_every_dashboard_file_carries_the_security_and_cache_headers(path):
    # Given a browser asking for one of the dashboard's files
    response = get(path)

    # Then it gets the committed file, gzipped, with the page's policy and its validator
    headers = response["headers"]
    assert response["statusCode"] == 200
    assert gzip.decompress(base64.b64decode(response["body"])) == (STATIC / ASSETS[path].file).read_bytes()
    assert headers["Content-Security-Policy"] == DASHBOARD_CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert headers["Cache-Control"] == DASHBOARD_CACHE_CONTROL == "private, no-cache"
    assert headers["ETag"].endswith('-gzip"')


def test_the_policy_allows_only_the_pages_own_origin_and_denies_framing():
    directives = dict(item.strip().split(" ", 1) for item in DASHBOARD_CSP.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == directives["style-src"] == directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in DASHBOARD_CSP


def test_an_unchanged_page_is_revalidated_with_a_304():
    # Given the page a browser holds
    etag = get("/dashboard")["headers"]["ETag"]

    # When it loads the page again (no-cache: it always asks)
    again = get("/dashboard", {"if-none-match": etag})

    # Then the answer is 304 without a body
    assert again["statusCode"] == 304 and again["body"] == ""
    assert again["headers"]["Cache-Control"] == DASHBOARD_CACHE_CONTROL


def test_the_tracker_keeps_its_own_headers():
    tracker = get("/funnel.js")["headers"]
    assert tracker["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "Content-Security-Policy" not in tracker and "X-Frame-Options" not in tracker


class _Page(HTMLParser):
    """What the page's HTML loads and whether it has inline code or style."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes or any(name.startswith("on") for name in attributes):
            self.inline.append(f"<{tag}> attribute")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            if attributes.get("src"):
                self.loads.append(str(attributes["src"]))
            else:
                self.inline.append("<script> without src")
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.loads.append(str(attributes["href"]))


def test_the_page_loads_only_files_this_function_serves_and_nothing_inline():
    # Given the committed page
    page = _Page()
    page.feed((STATIC / "dashboard" / "index.html").read_text(encoding="utf-8"))

    # Then every script and stylesheet is one of the dashboard's routes, and nothing is inline
    assert page.inline == []
    assert sorted(page.loads) == [path for path in DASHBOARD_PATHS if path != "/dashboard"]


def test_uplot_is_vendored_with_its_licence_at_the_pinned_version():
    manifest = json.loads((REPO / "dashboard" / "package.json").read_text())
    lock = json.loads((REPO / "dashboard" / "package-lock.json").read_text())
    pinned = manifest["dependencies"]["uplot"]
    assert lock["packages"]["node_modules/uplot"]["version"] == pinned
    vendored = (STATIC / "dashboard" / "uplot.min.js").read_text(encoding="utf-8")
    assert vendored.startswith(f"/*! https://github.com/leeoniya/uPlot (v{pinned}) */")
    assert "MIT License" in (STATIC / "dashboard" / "uplot.LICENSE").read_text(encoding="utf-8")


def test_the_banner_gives_the_dashboards_address_once_it_is_served():
    # Given the template's routes, which serve GET /dashboard
    gateway = SimpleNamespace(template=load_template(REPO / "template.yaml"), url="http://127.0.0.1:3000")

    # When make run's banner says where to find things
    lines = _site_lines(gateway)  # type: ignore[arg-type]

    # Then the dashboard's line is its address, no longer marked "coming"
    assert "Dashboard: http://127.0.0.1:3000/dashboard (sign in with the metrics key)" in lines
    assert not any("coming" in line for line in lines)
