"""What the template sets up for a database that is away (issue 11 §1 item 1, §2): deadlines
well inside each API function's timeout, none on the scheduled jobs, and the ingest buffer
(queue, consumer with partial batch responses, dead-letter queue and its alarm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from funnel_local.template import QueueEventSpec, QueueSpec, load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
API_FUNCTIONS = [
    "HealthFunction",
    "WebhookIngestFunction",
    "CollectFunction",
    "UnsubscribeFunction",
    "LeadsAdminFunction",
    "MetricsFunction",
]
SCHEDULED_FUNCTIONS = ["RetentionPurgeFunction", "RollupFunction", "MigrateFunction"]
BUFFERED_FUNCTIONS = ["WebhookIngestFunction", "CollectFunction"]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    document, _ = decode(str(TEMPLATE))
    assert document is not None
    return dict(document)


def variables(template: dict[str, Any], function: str) -> dict[str, Any]:
    globals_ = template["Globals"]["Function"]["Environment"]["Variables"]
    own = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    return {**globals_, **own}


def timeout(template: dict[str, Any], function: str) -> int:
    properties = template["Resources"][function]["Properties"]
    return int(properties.get("Timeout", template["Globals"]["Function"]["Timeout"]))


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_an_api_function_ends_its_database_work_well_inside_its_timeout(template, function):
    env = variables(template, function)
    deadline_seconds = int(env["DB_DEADLINE_MS"]) / 1000
    # Its deadline leaves time to connect, and at least 2 s of its timeout to answer (the
    # buffered routes send to SQS within that: two attempts of 1 s)
    assert deadline_seconds > int(env["DB_CONNECT_TIMEOUT_SECONDS"])
    assert deadline_seconds + 2 <= timeout(template, function)


@pytest.mark.parametrize("function", SCHEDULED_FUNCTIONS)
def test_a_scheduled_function_has_no_client_deadline(template, function):
    assert variables(template, function)["DB_DEADLINE_MS"] == ""


@pytest.mark.parametrize("function", BUFFERED_FUNCTIONS)
def test_the_buffered_routes_know_the_queue_and_may_send_to_it_only(template, function):
    properties = template["Resources"][function]["Properties"]
    assert properties["Environment"]["Variables"]["INGEST_QUEUE_URL"] == {"Ref": "IngestBufferQueue"}
    assert {
        "SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["IngestBufferQueue", "QueueName"]}}
    } in properties["Policies"]


def test_the_consumer_reports_partial_batch_failures_and_the_dead_letter_queue_is_watched(template):
    resources = template["Resources"]
    # The queue hands what failed maxReceiveCount times to the dead-letter queue
    queue = resources["IngestBufferQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["IngestBufferDeadLetterQueue", "Arn"]
    }
    # A visibility timeout of at least six times the consumer's timeout
    assert queue["VisibilityTimeout"] >= 6 * timeout(template, "IngestBufferFunction")
    # The consumer reports failures record by record
    event = resources["IngestBufferFunction"]["Properties"]["Events"]["Buffered"]
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # And an alarm fires on any message in the dead-letter queue
    alarm = resources["IngestBufferDeadLetterQueueDepthAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["IngestBufferDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert (alarm["AlarmActions"], alarm["OKActions"]) == ([{"Ref": "AlarmTopic"}], [{"Ref": "AlarmTopic"}])


def test_local_runs_read_the_queues_their_redrive_and_the_consumer_from_the_template():
    # Given the project's template as local runs read it
    local = load_template(TEMPLATE)

    # Then the queue is known with its redrive policy, the consumer with its batching, and
    # the functions that send to it by the variable holding its URL
    assert local.queues["IngestBufferQueue"] == QueueSpec(
        logical_id="IngestBufferQueue",
        visibility_timeout_seconds=180,
        retention_seconds=345_600,
        dead_letter_queue="IngestBufferDeadLetterQueue",
        max_receive_count=20,
    )
    assert local.queue_events == (
        QueueEventSpec(
            function_id="IngestBufferFunction",
            event_name="Buffered",
            queue_id="IngestBufferQueue",
            batch_size=10,
            report_item_failures=True,
        ),
    )
    for function in BUFFERED_FUNCTIONS:
        assert local.function(function).queue_variables == {"INGEST_QUEUE_URL": "IngestBufferQueue"}
        assert "INGEST_QUEUE_URL" not in local.function(function).environment
