"""Timestamps are RFC 3339 strings with a zone at every route that takes one: a number
(``resolvedAt: 0``, once stored as 1970-01-01) is a 422 naming the field, and writes
nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import collect_handler
import webhook_handler
from funnel.platform.runtime import reset_runtime
from tests.builders import api_event, response_json, webhook_event

pytestmark = pytest.mark.integration

RESOLVED = {"suggestionId": "sg-9", "resolution": "accepted"}


@pytest.mark.parametrize("value", [0, 1_770_984_000, "1770984000", "2026-02-13", "2026-02-13T13:00"])
def test_a_webhook_timestamp_that_is_not_a_zoned_date_time_string_is_422(
    lambda_env, db, context, row_counts, value
):
    # Given a suggestion.resolved whose resolvedAt is a number, a date or lacks seconds and zone
    event = webhook_event("suggestion_resolved", payload={**RESOLVED, "resolvedAt": value})

    # When it is delivered
    response = webhook_handler.lambda_handler(event, context)

    # Then it is refused, naming the field, and nothing is stored
    assert response["statusCode"] == 422
    body = response_json(response)
    assert body["error"] == "validation_failed"
    assert [detail["loc"] for detail in body["details"]] == ["suggestion.resolved.payload.resolvedAt"]
    assert sum(row_counts().values()) == 0


def test_an_envelope_occurred_at_of_zero_is_422(lambda_env, db, context, row_counts):
    response = webhook_handler.lambda_handler(webhook_event("scan_completed", occurredAt=0), context)
    assert response["statusCode"] == 422
    assert response_json(response)["details"][0]["loc"] == "scan.completed.occurredAt"
    assert sum(row_counts().values()) == 0


def test_a_zoned_date_time_string_is_stored_at_its_instant(lambda_env, db, context):
    # Given a resolvedAt with an offset and milliseconds
    event = webhook_event(
        "suggestion_resolved", payload={**RESOLVED, "resolvedAt": "2026-02-13T08:00:00.5-05:00"}
    )

    # When it is delivered, Then it is stored, its time in UTC
    assert webhook_handler.lambda_handler(event, context)["statusCode"] == 200
    stored = db.execute("SELECT payload->>'resolvedAt' FROM tenant_events").fetchone()[0]
    assert datetime.fromisoformat(stored) == datetime(2026, 2, 13, 13, 0, 0, 500_000, tzinfo=UTC)


def test_a_beacon_occurred_at_of_zero_is_422_and_stores_no_event(lambda_env, db, context):
    # Given a page view whose occurredAt is Unix time 0
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    reset_runtime()
    page_view = {
        "type": "page_view",
        "eventId": "evt_zero_time_0001",
        "visitorId": "vis_zero_time_0001",
        "occurredAt": 0,
        "path": "/",
    }

    # When it is sent
    response = collect_handler.lambda_handler(api_event("collect/beacon_batch", body=page_view), context)

    # Then it is refused, naming the field, and no event is stored (only its refusal is counted)
    assert response["statusCode"] == 422
    assert [detail["loc"] for detail in response_json(response)["details"]] == ["single.occurredAt"]
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
