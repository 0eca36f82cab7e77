"""Each function's Logger and Metrics come from ``funnel.platform.observability``: the
handler it wraps logs with the Lambda context (and an API request's id as the correlation
id) and flushes its metrics, as CloudWatch's embedded metric format, after each invocation."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aws_lambda_powertools.logging import logger as powertools_logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit
from aws_lambda_powertools.metrics.provider import cold_start

from funnel.platform.observability import Observability
from tests.conftest import FakeContext, load_event


@pytest.fixture(autouse=True)
def fresh_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service name of this test's own (Powertools shares a Logger by service name), and a
    container not yet invoked, with no metric added (every Metrics shares one set, which
    other tests' handlers may have left unflushed)."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", f"observability-{uuid.uuid4().hex[:8]}")
    cold_start.reset_cold_start_flag()
    Metrics().clear_metrics()
    monkeypatch.setattr(powertools_logger, "is_cold_start", True)


def printed(out: str) -> tuple[list[dict[str, Any]], list[dict[str, list[float]]]]:
    """The log lines, and the metrics of each EMF document (name: values), in order."""
    documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    logs = [document for document in documents if "_aws" not in document]
    flushed = [
        {
            metric["Name"]: document[metric["Name"]]
            for directive in document["_aws"]["CloudWatchMetrics"]
            for metric in directive["Metrics"]
        }
        for document in documents
        if "_aws" in document
    ]
    return logs, flushed


def test_an_api_function_logs_with_its_context_and_the_request_id_then_flushes_its_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an API function's observability and a handler that logs and adds a metric
    observability = Observability(api=True, traced=False)

    @observability.handler
    def lambda_handler(event: dict[str, Any], context: Any) -> str:
        observability.logger.info("answering")
        observability.metrics.add_metric(name="Answered", unit=MetricUnit.Count, value=1)
        return "answer"

    event = load_event("health/get_health.json")
    # When it is invoked
    assert lambda_handler(event, FakeContext()) == "answer"
    # Then its log line names the invocation and carries API Gateway's request id
    (log,), flushed = printed(capsys.readouterr().out)
    assert log["message"] == "answering"
    assert log["function_request_id"] == FakeContext.aws_request_id
    assert log["correlation_id"] == event["requestContext"]["requestId"]
    assert log["cold_start"] is True
    # And the cold start and the metric were flushed after it
    assert flushed == [{"ColdStart": [1.0]}, {"Answered": [1.0]}]


@pytest.mark.parametrize("cold_start_metric", [True, False])
def test_an_event_function_has_no_correlation_id_and_a_cold_start_metric_unless_refused(
    capsys: pytest.CaptureFixture[str], cold_start_metric: bool
) -> None:
    # Given a scheduled function's observability (the migration function refuses the metric)
    observability = Observability(api=False, traced=False, cold_start_metric=cold_start_metric)

    @observability.handler
    def lambda_handler(event: dict[str, Any], context: Any) -> None:
        observability.logger.info("running")
        observability.metrics.add_metric(name="Ran", unit=MetricUnit.Count, value=1)

    # When it is invoked twice in one container
    lambda_handler({"trigger": "schedule"}, FakeContext())
    lambda_handler({"trigger": "schedule"}, FakeContext())
    # Then its logs carry no correlation id, and ColdStart is counted on the first only
    (first, second), flushed = printed(capsys.readouterr().out)
    assert "correlation_id" not in first
    assert (first["cold_start"], second["cold_start"]) == (True, False)
    ran = {"Ran": [1.0]}
    assert flushed == ([{"ColdStart": [1.0]}, ran, ran] if cold_start_metric else [ran, ran])
