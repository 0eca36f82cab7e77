"""The OpenAPI document: generated from the handlers' models for every route of
template.yaml, valid OpenAPI 3.1, with each route's keys by purpose as its security, and
committed as openapi.json exactly as the code generates it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from assets_handler import ASSETS
from funnel_local.cli import main
from funnel_local.openapi import DOCUMENT_PATH, OpenApiError, build_document, render
from funnel_local.template import SamTemplate, load_template

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> SamTemplate:
    return load_template(REPO / "template.yaml")


@pytest.fixture(scope="module")
def document(template: SamTemplate) -> dict[str, Any]:
    return build_document(template)


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_the_committed_document_is_what_the_code_generates(document):
    # `python -m funnel_local openapi` writes it; CI runs --check too
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == render(document)


def test_the_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_every_route_of_the_template_is_documented(template, document):
    # (ANY routes take a path's other methods, which are answered 405)
    assert set(operations(document)) == {
        route.route_key for route in template.routes if route.method != "ANY"
    }


def test_each_route_names_the_keys_of_its_purpose_and_public_routes_nothing(template, document):
    security = {key: operation.get("security") for key, operation in operations(document).items()}
    schemes = document["components"]["securitySchemes"]
    assert {
        name: {k: v for k, v in scheme.items() if k != "description"} for name, scheme in schemes.items()
    } == {
        "adminKey": {"type": "apiKey", "in": "header", "name": "x-admin-key"},
        "webhookKey": {"type": "apiKey", "in": "header", "name": "x-admin-key"},
        "metricsKey": {"type": "http", "scheme": "bearer"},
        "webhookSignature": {"type": "apiKey", "in": "header", "name": "webhook-signature"},
    }
    # Admin routes: the admin key alone
    for route in ("POST /v1/leads/delete", "POST /v1/leads/unsubscribe-link"):
        assert security[route] == [{"adminKey": []}]
    # Metrics: the admin key, or a metrics key
    for route in ("GET /v1/metrics/summary", "GET /v1/metrics/service-usage", "GET /v1/metrics/now"):
        assert security[route] == [{"adminKey": []}, {"metricsKey": []}]
    # The webhook: the admin key or a webhook key, with the signature either way
    assert security["POST /v1/webhooks/description-service"] == [
        {"adminKey": [], "webhookSignature": []},
        {"webhookKey": [], "webhookSignature": []},
    ]
    for route in ("POST /v1/events", "POST /v1/leads/capture", "GET /v1/unsubscribe", "GET /v1/health"):
        assert security[route] is None


def test_the_metrics_query_strings_are_documented_with_their_types(document):
    summary = operations(document)["GET /v1/metrics/summary"]
    parameters = {parameter["name"]: parameter for parameter in summary["parameters"]}
    assert list(parameters) == [
        "from",
        "to",
        "period",
        "propertyId",
        "compareTo",
        "includeFunnel",
        "includeBreakdowns",
        "top",
        "format",
        "table",
    ]
    top = parameters["top"]["schema"]
    assert (top["type"], top["minimum"], top["maximum"], top["default"]) == ("integer", 1, 100, 10)
    period = {"type": "string", "enum": ["today", "7d", "30d", "90d", "month", "last_month"]}
    assert period in parameters["period"]["schema"]["anyOf"]
    assert all(parameter["in"] == "query" and not parameter["required"] for parameter in parameters.values())
    day = next(option for option in parameters["from"]["schema"]["anyOf"] if option["type"] == "string")
    assert day["format"] == "date" and "2000-01-01" in day["description"] and "366" in day["description"]
    assert parameters["compareTo"]["schema"]["type"] == "boolean"
    usage = operations(document)["GET /v1/metrics/service-usage"]
    group_by = next(parameter for parameter in usage["parameters"] if parameter["name"] == "groupBy")
    enum = {"type": "string", "enum": ["channel", "utm_source", "utm_campaign"]}
    assert enum in group_by["schema"]["anyOf"]
    assert summary["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SummaryResponse"
    }


def test_validation_errors_are_documented_as_the_error_shape_sent(document):
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for key, operation in operations(document).items():
        if "422" in operation["responses"]:
            assert operation["responses"]["422"]["content"]["application/json"]["schema"] == error, key
    # An operation without input never answers 422
    assert "422" not in operations(document)["GET /v1/health"]["responses"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_a_template_route_its_function_does_not_serve_is_an_error(tmp_path):
    # Given a template routing a path the health function's app does not serve
    path = tmp_path / "template.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            Transform: AWS::Serverless-2016-10-31
            Resources:
              HealthFunction:
                Type: AWS::Serverless::Function
                Properties:
                  Runtime: python3.11
                  CodeUri: {REPO / "functions" / "health"}
                  Handler: health_handler.lambda_handler
                  Events:
                    Status:
                      Type: HttpApi
                      Properties: {{Path: /v1/status, Method: GET}}
            """
        )
    )
    with pytest.raises(OpenApiError, match=r"serves GET /v1/health, not routed by template\.yaml"):
        build_document(load_template(path))


def test_the_command_writes_the_document_and_checks_it(tmp_path):
    output = tmp_path / "openapi.json"
    assert main(["openapi", "--check", "--output", str(output)]) == 1
    assert main(["openapi", "--output", str(output)]) == 0
    assert json.loads(output.read_text())["info"]["title"] == "Funnel API"
    assert main(["openapi", "--check", "--output", str(output)]) == 0
    output.write_text(output.read_text().replace("Funnel API", "Funnel"))
    assert main(["openapi", "--check", "--output", str(output)]) == 1


def test_the_static_files_are_documented_with_their_validator_and_304(document):
    # Given the static files' function, which has an ASSETS table and no resolver
    tracker = operations(document)["GET /funnel.js"]

    # Then its file is a public GET answering the file or 304, keyed by If-None-Match
    assert tracker["tags"] == ["assets"] and "security" not in tracker
    assert set(tracker["responses"]) == {"200", "304"}
    javascript = {"application/javascript": {"schema": {"type": "string"}}}
    assert tracker["responses"]["200"]["content"] == javascript
    assert set(tracker["responses"]["304"]["headers"]) == {"ETag", "Cache-Control"}
    assert [parameter["name"] for parameter in tracker["parameters"]] == ["If-None-Match", "Accept-Encoding"]


def test_a_template_route_no_static_file_answers_is_an_error(tmp_path):
    # Given a template routing every file of the static files' function, and a path it has
    # no file for
    served = "".join(
        f"""
                    File{index}:
                      Type: HttpApi
                      Properties: {{Path: {served_path}, Method: GET}}"""
        for index, served_path in enumerate(ASSETS)
    )
    path = tmp_path / "template.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            Transform: AWS::Serverless-2016-10-31
            Resources:
              AssetsFunction:
                Type: AWS::Serverless::Function
                Properties:
                  Runtime: python3.11
                  CodeUri: {REPO / "functions" / "assets"}
                  Handler: assets_handler.lambda_handler
                  Events:{served}
                    Missing:
                      Type: HttpApi
                      Properties: {{Path: /missing.js, Method: GET}}
            """
        )
    )
    with pytest.raises(OpenApiError, match=r"routes GET /missing\.js, not served by its ASSETS"):
        build_document(load_template(path))


def test_webhook_payloads_say_unknown_fields_are_ignored_and_envelopes_refuse_them(document):
    schemas = document["components"]["schemas"]
    for event in ("TenantCreated", "ApiKeyCreated", "ScanCompleted", "ScanFailed", "ClusterCreated"):
        payload = schemas[f"{event}Payload"]
        assert payload["additionalProperties"] is True, event
        assert "ignored" in payload["description"], event
        assert schemas[event]["additionalProperties"] is False, event
    assert schemas["SuggestionResolvedPayload"]["additionalProperties"] is True


def test_timestamps_are_documented_as_date_time_strings(document):
    schemas = document["components"]["schemas"]
    occurred_at = schemas["ScanCompleted"]["properties"]["occurredAt"]
    assert (occurred_at["type"], occurred_at["format"]) == ("string", "date-time")
    assert {"type": "string", "format": "date-time"} in schemas["SuggestionResolvedPayload"]["properties"][
        "resolvedAt"
    ]["anyOf"]


def test_the_constraints_the_code_enforces_are_in_the_document(document):
    schemas = document["components"]["schemas"]
    # The page path starts with "/", the address is an email
    assert schemas["BeaconEvent"]["properties"]["path"]["pattern"] == "^/"
    assert schemas["LeadCapture"]["properties"]["email"]["format"] == "email"
    assert schemas["DeleteLeadRequest"]["properties"]["email"]["format"] == "email"
    # The health route's 503 and answer, the unsubscribe form's JSON and one-click answers
    health = operations(document)["GET /v1/health"]["responses"]
    assert health["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HealthReport"
    }
    assert health["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse"
    }
    unsubscribe = operations(document)["POST /v1/unsubscribe"]["responses"]
    assert set(unsubscribe["200"]["content"]) == {"text/html", "text/plain"}
    for status in ("400", "413", "415", "422", "503"):
        assert "application/json" in unsubscribe[status]["content"], status
    # A method a path does not serve
    assert "405 `method_not_allowed`" in document["info"]["description"]
