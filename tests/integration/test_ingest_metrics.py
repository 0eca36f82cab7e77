"""What the collect function tells CloudWatch about ingest: the metrics template.yaml's
OperationsDashboard plots (accepted, duplicate, bot and rejected beacons)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import collect_handler
from funnel.platform.runtime import reset_runtime
from tests.builders import api_event, response_json

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 21, 14, 5, tzinfo=UTC)
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def emitted(printed: str, metric_name: str) -> float:
    """The sum of a metric over the CloudWatch embedded-metric documents printed."""
    total = 0.0
    for line in printed.splitlines():
        if '"_aws"' in line and metric_name in (document := json.loads(line)):
            value = document[metric_name]
            total += sum(value) if isinstance(value, list) else value
    return total


@pytest.fixture
def collect(lambda_env, set_clock, db):  # type: ignore[no-untyped-def]
    lambda_env.setenv("ALLOWED_ORIGINS", "https://www.example.com")
    reset_runtime()
    set_clock(NOW)


def test_each_beacon_outcome_is_a_metric(collect, context, capsys):
    # Given a batch of 7 events sent twice, the same batch from a crawler, and a bad request
    capsys.readouterr()
    answers = [
        collect_handler.lambda_handler(api_event("collect/beacon_batch"), context),
        collect_handler.lambda_handler(api_event("collect/beacon_batch"), context),
        collect_handler.lambda_handler(
            api_event("collect/beacon_batch", headers={"user-agent": BOT}), context
        ),
        collect_handler.lambda_handler(api_event("collect/beacon_batch", body={"events": []}), context),
    ]
    printed = capsys.readouterr().out

    # Then the answers and the metrics agree: stored, duplicates, bots, rejected
    assert [response_json(answer).get("accepted") for answer in answers] == [7, 0, 0, None]
    assert answers[3]["statusCode"] == 422
    assert emitted(printed, "EventsStored") == 7
    assert emitted(printed, "EventDuplicates") == 7
    assert emitted(printed, "BotEventsIgnored") == 7
    assert emitted(printed, "RequestsRejected") == 1
