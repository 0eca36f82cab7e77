"""Daily rollups (EventBridge, hourly, input ``{"trigger": "schedule"}``): today so far
and the previous ``ROLLUP_BATCH_DAYS`` days, then older days that late writes marked dirty
(``funnel.readmodel.dirty_days``). Invoke it with ``{"from": "YYYY-MM-DD",
"to": "YYYY-MM-DD", "propertyId"?, "dryRun"?}`` to backfill or repair a range.

Returns the run's report (``ok`` true). Input that does not validate is answered
``{"ok": false, "error": "validation_failed", "details": [...]}`` without running; a run
that fails raises (Lambda counts the error; an asynchronous invocation is retried, and a
rollup is safe to repeat)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.platform.observability import traced_handler
from funnel.platform.runtime import get_runtime
from funnel.readmodel.rollups import handle_event

logger = Logger()
metrics = Metrics()


def roll_up(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = handle_event(get_runtime(), event, time_left_ms=context.get_remaining_time_in_millis)
    if report["ok"]:
        metrics.add_metric(name="RollupDaysRolledUp", unit=MetricUnit.Count, value=report["daysRolledUp"])
        metrics.add_metric(
            name="RollupDiscrepancies", unit=MetricUnit.Count, value=report["discrepancyCount"]
        )
        metrics.add_metric(name="RollupIncomplete", unit=MetricUnit.Count, value=int(not report["complete"]))
        metrics.add_metric(name="RollupDirtyDays", unit=MetricUnit.Count, value=report["daysDirty"])
        metrics.add_metric(name="RollupDirtyDaysCarried", unit=MetricUnit.Count, value=report["daysCarried"])
        if report["trigger"] == "schedule":
            # The freshness alarm: no complete scheduled run for two hours (or no run at
            # all, no data) means the read model is older than two hours.
            metrics.add_metric(
                name="ScheduledRollupsCompleted", unit=MetricUnit.Count, value=int(report["complete"])
            )
    else:
        metrics.add_metric(name="RollupInputRefused", unit=MetricUnit.Count, value=1)
    return report


@logger.inject_lambda_context
@traced_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return roll_up(event, context)
