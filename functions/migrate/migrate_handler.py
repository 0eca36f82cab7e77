"""Deploy-time schema migrations, as the ``Custom::FunnelMigrations`` resource (or
invoked directly by an operator)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.operations.tasks import handle_migration_resource
from funnel.platform.observability import traced_handler
from funnel.platform.runtime import get_runtime

logger = Logger()
metrics = Metrics()


def migrate(event: dict[str, Any]) -> dict[str, Any]:
    result = handle_migration_resource(get_runtime, event)
    failed = result.get("status") == "FAILED"
    metrics.add_metric(name="MigrationsFailed", unit=MetricUnit.Count, value=int(failed))
    return result


@logger.inject_lambda_context
@traced_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return migrate(event)
