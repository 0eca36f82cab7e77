"""Operable at 3 a.m. (issue 11 §4): template.yaml's alarms, log retention, schedules'
retries and dead letters, and the operations dashboard, read from the template itself, so a
function, log group, schedule or queue added without them fails here."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
TOPIC = {"Ref": "AlarmTopic"}

Template = dict[str, Any]


@pytest.fixture(scope="module")
def template() -> Template:
    document, problems = decode(str(TEMPLATE))
    assert document is not None, problems
    return dict(document)


def of_type(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == kind}


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"] for name, resource in of_type(template, "AWS::CloudWatch::Alarm").items()
    }


def watching(template: Template, namespace: str, metric: str, dimension: str, value: Any) -> list[str]:
    """The alarms on ``metric`` of ``namespace`` whose only dimension is ``dimension`` = ``value``."""
    return [
        name
        for name, alarm in alarms(template).items()
        if (alarm.get("Namespace"), alarm.get("MetricName")) == (namespace, metric)
        and alarm.get("Dimensions") == [{"Name": dimension, "Value": value}]
    ]


def emitted_metric_names() -> set[str]:
    """Every metric name the functions and the layer pass to Powertools' ``add_metric``."""
    names: set[str] = set()
    sources = [*(REPO / "functions").rglob("*.py"), *(REPO / "layers" / "funnel" / "funnel").rglob("*.py")]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric":
                for keyword in node.keywords:
                    if keyword.arg == "name":
                        names |= {
                            part.value
                            for part in ast.walk(keyword.value)
                            if isinstance(part, ast.Constant) and isinstance(part.value, str)
                        }
    return names


# --------------------------------------------------------------------------- alarms


def test_alarms_go_to_a_topic_that_emails_the_address_given_and_nobody_when_none(template):
    assert of_type(template, "AWS::SNS::Topic").keys() == {"AlarmTopic"}
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    (subscription,) = of_type(template, "AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {
        "TopicArn": TOPIC,
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert template["Conditions"][subscription["Condition"]] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert template["Outputs"]["AlarmTopic"]["Value"] == TOPIC


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(template):
    assert alarms(template)
    for name, alarm in alarms(template).items():
        assert (alarm["AlarmActions"], alarm["OKActions"]) == ([TOPIC], [TOPIC]), name


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_has_an_alarm_on_its_errors_and_its_throttles(template, metric):
    functions = of_type(template, "AWS::Serverless::Function")
    assert len(functions) >= 10
    for function in functions:
        assert watching(template, "AWS/Lambda", metric, "FunctionName", {"Ref": function}) == [
            f"{function}{metric}Alarm"
        ]
        alarm = alarms(template)[f"{function}{metric}Alarm"]
        assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
        )


def test_any_server_error_of_the_http_api_raises_an_alarm(template):
    (name,) = watching(template, "AWS/ApiGateway", "5xx", "ApiId", {"Ref": "FunnelHttpApi"})
    alarm = alarms(template)[name]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1,
        "GreaterThanOrEqualToThreshold",
    )


def test_rollups_older_than_two_hours_raise_an_alarm_even_when_nothing_runs(template):
    # (the rollup function emits ScheduledRollupsCompleted, 1 per complete scheduled run)
    (name,) = watching(template, "Funnel", "ScheduledRollupsCompleted", "service", "funnel")
    alarm = alarms(template)[name]
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 2 * 3600
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        1,
        "LessThanThreshold",
    )
    assert alarm["TreatMissingData"] == "breaching"


def test_a_discrepancy_found_by_the_rollups_monitor_raises_an_alarm(template):
    (name,) = watching(template, "Funnel", "RollupDiscrepancies", "service", "funnel")
    alarm = alarms(template)[name]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_alarms_on_funnel_metrics_name_metrics_the_code_emits(template):
    named = {alarm["MetricName"] for alarm in alarms(template).values() if alarm.get("Namespace") == "Funnel"}
    assert named
    assert named <= emitted_metric_names()
    # (published by Powertools under the functions' namespace, with their service as dimension)
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    assert (environment["POWERTOOLS_METRICS_NAMESPACE"], environment["POWERTOOLS_SERVICE_NAME"]) == (
        "Funnel",
        "funnel",
    )


# --------------------------------------------------------------------------- logs


def test_every_log_group_keeps_its_logs_for_the_retention_parameter(template):
    groups = of_type(template, "AWS::Logs::LogGroup")
    assert "HttpApiAccessLogs" in groups
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    retention = template["Parameters"]["LogRetentionDays"]
    assert retention["Default"] == 30 and 30 in retention["AllowedValues"]


def test_every_function_logs_to_a_log_group_of_its_own_that_the_template_creates(template):
    # (Lambda's own /aws/lambda/<name> group, made on first use, would keep logs for ever)
    functions = of_type(template, "AWS::Serverless::Function")
    groups = {
        name: function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for name, function in functions.items()
    }
    assert len(set(groups.values())) == len(functions)
    assert set(groups.values()) <= of_type(template, "AWS::Logs::LogGroup").keys()


# --------------------------------------------------------------------------- schedules


def schedules(template: Template) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every Schedule event, by the logical id of the EventBridge rule SAM makes of it."""
    return {
        f"{function}{event_name}": (function, event["Properties"])
        for function, resource in of_type(template, "AWS::Serverless::Function").items()
        for event_name, event in (resource["Properties"].get("Events") or {}).items()
        if event["Type"] == "Schedule"
    }


def test_every_schedule_retries_for_less_than_its_period_then_keeps_a_dead_letter(template):
    assert set(schedules(template)) == {"RollupFunctionHourly", "RetentionPurgeFunctionDaily"}
    queues = of_type(template, "AWS::SQS::Queue")
    for rule, (_, properties) in schedules(template).items():
        retry = properties["RetryPolicy"]
        assert 0 < retry["MaximumEventAgeInSeconds"] <= 3600 and retry["MaximumRetryAttempts"] > 0, rule
        (queue, attribute) = properties["DeadLetterConfig"]["Arn"]["Fn::GetAtt"]
        assert queue.endswith("DeadLetterQueue") and queue in queues and attribute == "Arn", rule


def test_only_eventbridge_from_the_schedules_may_send_to_their_dead_letter_queue(template):
    for rule, (_, properties) in schedules(template).items():
        queue = properties["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        (statement,) = [
            statement
            for policy in of_type(template, "AWS::SQS::QueuePolicy").values()
            if {"Ref": queue} in policy["Properties"]["Queues"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert {"Fn::GetAtt": [rule, "Arn"]} in statement["Condition"]["ArnEquals"]["aws:SourceArn"]


def test_a_scheduled_run_that_fails_is_retried_by_lambda_then_kept_with_its_error(template):
    for rule, (function, properties) in schedules(template).items():
        invoke = template["Resources"][function]["Properties"]["EventInvokeConfig"]
        assert invoke["MaximumRetryAttempts"] in (0, 1, 2), rule
        assert invoke["MaximumEventAgeInSeconds"] <= 3600, rule
        on_failure = invoke["DestinationConfig"]["OnFailure"]
        assert on_failure == {"Type": "SQS", "Destination": properties["DeadLetterConfig"]["Arn"]}, rule


def dead_letter_queues(template: Template) -> set[str]:
    """Queues named ``<Name>DeadLetterQueue`` and every queue another queue redrives to."""
    queues = of_type(template, "AWS::SQS::Queue")
    redriven = {
        queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for queue in queues.values()
        if "RedrivePolicy" in queue.get("Properties", {})
    }
    return {name for name in queues if name.endswith("DeadLetterQueue")} | redriven


def test_every_dead_letter_queue_has_a_depth_alarm(template):
    # (named <Name>DeadLetterQueueDepthAlarm, as ScheduleDeadLetterQueueDepthAlarm)
    assert "ScheduleDeadLetterQueue" in dead_letter_queues(template)
    for queue in dead_letter_queues(template):
        (name,) = watching(
            template,
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            {"Fn::GetAtt": [queue, "QueueName"]},
        )
        alarm = alarms(template)[name]
        # (one message waiting is enough)
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) in {
            ("Maximum", "GreaterThanOrEqualToThreshold", 1),
            ("Maximum", "GreaterThanThreshold", 0),
        }


# --------------------------------------------------------------------------- dashboard

SUBSTITUTION = re.compile(r"\$\{([^}!]+)\}")


def dashboard(template: Template) -> tuple[dict[str, Any], set[str]]:
    """The operations dashboard's body, and the names its ``Fn::Sub`` substitutes."""
    (resource,) = of_type(template, "AWS::CloudWatch::Dashboard").values()
    text = resource["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(text, str)
    return json.loads(text), set(SUBSTITUTION.findall(text))


def metric_rows(body: dict[str, Any]) -> list[list[Any]]:
    return [row for widget in body["widgets"] for row in widget["properties"].get("metrics", [])]


def widget(body: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [
        widget["properties"] for widget in body["widgets"] if widget["properties"].get("title") == title
    ]
    return found


def test_the_dashboard_refers_only_to_what_the_template_defines(template):
    _, substituted = dashboard(template)
    for name in substituted:
        resource, _, attribute = name.partition(".")
        assert resource.startswith("AWS::") or resource in template["Resources"], name
        if attribute:
            assert attribute in ("Arn", "QueueName"), name


def test_the_dashboard_shows_ingest_rollups_and_errors(template):
    body, _ = dashboard(template)
    funnel = {row[1] for row in metric_rows(body) if row[0] == "Funnel"}
    assert {"EventsStored", "EventDuplicates", "BotEventsIgnored", "RequestsRejected"} <= funnel
    assert {"RequestsBuffered", "BufferedRequestsWritten"} <= funnel
    assert {"ScheduledRollupsCompleted", "RollupDiscrepancies", "RollupDirtyDaysCarried"} <= funnel
    assert funnel <= emitted_metric_names()
    api = {(row[1], row[3]) for row in metric_rows(body) if row[0] == "AWS/ApiGateway"}
    assert {
        ("Count", "${FunnelHttpApi}"),
        ("Latency", "${FunnelHttpApi}"),
        ("5xx", "${FunnelHttpApi}"),
    } <= api
    assert ["AWS/Lambda", "Duration", "FunctionName", "${RollupFunction}"] in [
        row[:4] for row in metric_rows(body)
    ]


@pytest.mark.parametrize(
    ("title", "metric"), [("Function errors", "Errors"), ("Function throttles", "Throttles")]
)
def test_the_dashboard_plots_every_function_s_errors_and_throttles(template, title, metric):
    body, _ = dashboard(template)
    rows = widget(body, f"{title} (sum per 5 min)")["metrics"]
    assert {row[3] for row in rows if row[:3] == ["AWS/Lambda", metric, "FunctionName"]} == {
        f"${{{function}}}" for function in of_type(template, "AWS::Serverless::Function")
    }


def test_the_dashboard_shows_every_alarm_and_every_dead_letter_queue(template):
    body, _ = dashboard(template)
    assert set(widget(body, "Alarms")["alarms"]) == {f"${{{name}.Arn}}" for name in alarms(template)}
    queues = {row[3] for row in widget(body, "Dead letters waiting")["metrics"]}
    assert queues == {
        f"${{{name}.QueueName}}"
        for name in of_type(template, "AWS::SQS::Queue")
        if name.endswith("DeadLetterQueue")
    }
    assert template["Outputs"]["OperationsDashboard"]["Value"]["Fn::Sub"].endswith(
        "#dashboards:name=${OperationsDashboard}"
    )
