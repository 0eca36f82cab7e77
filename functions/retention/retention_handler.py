"""The daily retention purge (EventBridge schedule, input ``{"dryRun": false}``); invoke
it with ``{"dryRun": true}`` to see what it would delete."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.platform.observability import traced_handler
from funnel.platform.runtime import get_runtime
from funnel.privacy.retention import run_purge

logger = Logger()
metrics = Metrics()


def purge_on_schedule(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = run_purge(
        get_runtime(),
        event,
        request_id=context.aws_request_id,
        time_left_ms=context.get_remaining_time_in_millis,
    )
    rows = sum(report["rows"].values())
    metrics.add_metric(
        name="RowsPurgeable" if report["dryRun"] else "RowsPurged", unit=MetricUnit.Count, value=rows
    )
    metrics.add_metric(
        name="RetentionPurgeIncomplete", unit=MetricUnit.Count, value=int(not report["complete"])
    )
    return report


@logger.inject_lambda_context
@traced_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return purge_on_schedule(event, context)
