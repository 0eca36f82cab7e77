"""A method a path does not serve is 405 ``method_not_allowed`` with ``Allow`` (the
template routes a path's other methods to its function with ``ANY``), answered before
anything else is read, and counted nowhere."""

from __future__ import annotations

import copy

import pytest

import collect_handler
import health_handler
import metrics_handler
import webhook_handler
from funnel.platform.runtime import reset_runtime
from tests.builders import response_json, webhook_event
from tests.conftest import load_event

pytestmark = pytest.mark.integration


def with_method(event: dict, method: str) -> dict:
    changed = copy.deepcopy(event)
    changed["requestContext"]["http"]["method"] = method
    changed["routeKey"] = f"ANY {changed['rawPath']}"
    changed["requestContext"]["routeKey"] = changed["routeKey"]
    return changed


@pytest.mark.parametrize(
    ("handler", "event", "method", "allow"),
    [
        (health_handler, load_event("health/get_health.json"), "TRACE", "GET"),
        (health_handler, load_event("health/get_health.json"), "OPTIONS", "GET"),
        (health_handler, load_event("health/get_health.json"), "HEAD", "GET"),
        (metrics_handler, load_event("metrics/summary.json"), "DELETE", "GET"),
        (webhook_handler, webhook_event(headers={"x-admin-key": None}), "GET", "POST"),
        (collect_handler, load_event("collect/beacon_page_view.json"), "TRACE", "OPTIONS, POST"),
        (collect_handler, load_event("collect/lead_capture_json.json"), "PUT", "OPTIONS, POST"),
    ],
    ids=[
        "trace-health",
        "options-health",
        "head-health",
        "delete-metrics",
        "get-webhook",
        "trace-events",
        "put-lead",
    ],
)
def test_another_method_is_405_with_allow(lambda_env, db, context, row_counts, handler, event, method, allow):
    # Given a request with a method its path does not serve (no key where one is needed)
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    reset_runtime()

    # When it reaches the path's function
    response = handler.lambda_handler(with_method(event, method), context)

    # Then it is 405 naming the methods that are served, and nothing is written or counted
    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == allow
    assert response["headers"]["Content-Type"] == "application/json"
    assert response_json(response) == {
        "ok": False,
        "error": "method_not_allowed",
        "details": {"allowed": allow.split(", ")},
    }
    assert sum(row_counts().values()) == 0


def test_the_served_method_still_reaches_its_route(lambda_env, db, context):
    assert health_handler.lambda_handler(load_event("health/get_health.json"), context)["statusCode"] == 200


def test_an_unknown_path_is_still_404(lambda_env, context):
    event = with_method(load_event("health/get_health.json"), "TRACE")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/nowhere"
    response = health_handler.lambda_handler(event, context)
    assert response["statusCode"] == 404
    assert response_json(response)["error"] == "not_found"
