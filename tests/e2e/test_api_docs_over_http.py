"""The local gateway's documentation: the OpenAPI document of every route and a Swagger page
on it, served from the running code and the Swagger UI that Powertools bundles (no CDN)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from funnel_local.gateway import RunningGateway, start_gateway
from tests.conftest import ADMIN_KEY, REPO

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(database_url: str) -> Iterator[RunningGateway]:
    with start_gateway(
        REPO / "template.yaml", env_overrides={"DATABASE_URL": database_url, "ADMIN_API_KEY": ADMIN_KEY}
    ) as running:
        yield running


def fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_the_document_is_the_committed_one_with_the_gateway_as_its_server(gateway):
    status, content_type, body = fetch(f"{gateway.url}/openapi.json")
    assert (status, content_type) == (200, "application/json")
    served = json.loads(body)
    committed = json.loads((REPO / "openapi.json").read_text())
    assert served["servers"] == [{"url": gateway.url, "description": "this local gateway"}]
    assert {**served, "servers": committed["servers"]} == committed


def test_the_swagger_page_loads_its_assets_from_the_gateway(gateway):
    status, content_type, page = fetch(f"{gateway.url}/swagger")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    html = page.decode()
    assert "SwaggerUIBundle" in html and "/v1/metrics/summary" in html
    # Every script and style sheet it names is served here, not by a CDN
    assets = re.findall(r"(?:src|href)='([^']+)'", html)
    assert sorted(assets) == ["/swagger/swagger-ui-bundle.min.js", "/swagger/swagger-ui.min.css"]
    for asset in assets:
        status, content_type, body = fetch(f"{gateway.url}{asset}")
        assert status == 200 and len(body) > 10_000
        assert content_type.startswith("text/javascript" if asset.endswith(".js") else "text/css")
    # The URL the page reports for its document answers with it
    status, _, body = fetch(f"{gateway.url}/swagger?format=json")
    assert status == 200 and json.loads(body)["info"]["title"] == "Funnel API"


def test_the_documentation_routes_are_get_only_and_other_paths_stay_404(gateway):
    assert fetch(f"{gateway.url}/openapi.json", method="POST")[0] == 404
    assert fetch(f"{gateway.url}/swagger/other.js")[0] == 404
