"""JSON nested deeper than 32 levels is a 400 ``json_too_deep`` on every route that takes a
body, before validation, and writes nothing; 32 levels are parsed and judged by the model
as usual (webhook payloads, which ignore unknown fields, accept them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import collect_handler
import leads_admin_handler
import unsubscribe_handler
import webhook_handler
from funnel.platform.http import MAX_JSON_DEPTH
from funnel.platform.runtime import reset_runtime
from tests.builders import api_event, response_json, webhook_event
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.integration

TOO_DEEP = {"ok": False, "error": "json_too_deep", "details": {"maxDepth": 32}}


def nested(levels: int) -> Any:
    """A value ``levels`` deep: arrays inside arrays, then one object around a number."""
    value: Any = {"n": 1}
    for _ in range(levels - 1):
        value = [value]
    return value


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


ROUTES = [
    (collect_handler, "collect/beacon_page_view", {"content-type": "application/json"}),
    (collect_handler, "collect/beacon_page_view", {"content-type": "text/plain"}),
    (collect_handler, "collect/lead_capture_json", None),
    (leads_admin_handler, "leads_admin/delete_lead", {"x-admin-key": ADMIN_KEY}),
    (leads_admin_handler, "leads_admin/unsubscribe_link", {"x-admin-key": ADMIN_KEY}),
    (unsubscribe_handler, "unsubscribe/post_form", {"content-type": "application/json"}),
]
ROUTE_IDS = [
    "events",
    "events-sendbeacon",
    "leads-capture",
    "leads-delete",
    "unsubscribe-link",
    "unsubscribe",
]


@pytest.fixture
def site(lambda_env):  # type: ignore[no-untyped-def]
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    lambda_env.setenv("UNSUBSCRIBE_SECRET", "depth-test-unsubscribe-key")
    reset_runtime()
    return lambda_env


def written(row_counts) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {table: rows for table, rows in row_counts().items() if rows and table != "ingest_counters"}


@pytest.mark.parametrize(("handler", "sample", "headers"), ROUTES, ids=ROUTE_IDS)
def test_a_body_33_levels_deep_is_400_json_too_deep_and_writes_nothing(
    handler, sample, headers, site, db, context, row_counts
):
    # Given a body one level deeper than the limit
    body = {"events": nested(MAX_JSON_DEPTH)}
    assert depth(body) == MAX_JSON_DEPTH + 1

    # When it is posted
    response = handler.lambda_handler(api_event(sample, body=body, headers=headers), context)

    # Then it is refused as malformed, saying the limit, and nothing is stored
    assert response["statusCode"] == 400
    assert response["headers"]["Content-Type"] == "application/json"
    assert response_json(response) == TOO_DEEP
    assert written(row_counts) == {}


@pytest.mark.parametrize(("handler", "sample", "headers"), ROUTES, ids=ROUTE_IDS)
def test_a_body_32_levels_deep_is_parsed_and_left_to_the_model(handler, sample, headers, site, db, context):
    # Given a body exactly at the limit (which no model of these routes takes)
    body = {"events": nested(MAX_JSON_DEPTH - 1)}
    assert depth(body) == MAX_JSON_DEPTH

    # When it is posted, Then the parser lets it through to the model, which refuses it (422;
    # the unsubscribe form ignores other fields and answers its page for a missing token)
    response = handler.lambda_handler(api_event(sample, body=body, headers=headers), context)
    expected = 400 if handler is unsubscribe_handler else 422
    assert response["statusCode"] == expected, response["body"][:200]
    assert "json_too_deep" not in response["body"]


def with_ignored_field(levels: int) -> dict[str, Any]:
    """A scan.completed whose payload carries an unknown field making the body ``levels`` deep."""
    document = json.loads(webhook_event("scan_completed")["body"])
    document["payload"]["senderDebug"] = nested(levels - 2)
    assert depth(document) == levels
    return document


def test_a_webhook_32_levels_deep_is_stored_and_33_is_refused(lambda_env, db, context, row_counts):
    # Given the same delivery nested to the limit in a field the payload ignores, and one level more
    at_limit = webhook_event("scan_completed", body=with_ignored_field(MAX_JSON_DEPTH))
    over = webhook_event(
        "scan_completed", body=with_ignored_field(MAX_JSON_DEPTH + 1), headers={"webhook-id": "msg_over"}
    )

    # When both are delivered
    refused = webhook_handler.lambda_handler(over, context)
    assert written(row_counts) == {}
    stored = webhook_handler.lambda_handler(at_limit, context)

    # Then the deeper one is 400 json_too_deep and writes nothing; the other is stored, minus the field
    assert refused["statusCode"] == 400 and response_json(refused) == TOO_DEEP
    assert stored["statusCode"] == 200
    assert db.execute("SELECT payload ? 'senderDebug' FROM tenant_events").fetchall() == [(False,)]
