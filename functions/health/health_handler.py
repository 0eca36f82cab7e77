"""GET /v1/health: is the database reachable, and at which schema version."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.operations.schemas import HealthReport
from funnel.operations.tasks import health
from funnel.platform.client_limits import public_limit
from funnel.platform.http import FunnelResolver
from funnel.platform.schemas import ErrorResponse

# Traced by Lambda's Active tracing alone, without the X-Ray SDK (see funnel.platform.observability).
logger = Logger()
metrics = Metrics()
app = FunnelResolver(client_limit=public_limit)


@app.get(
    "/v1/health",
    summary="Service and database health",
    tags=["operations"],
    responses={
        200: {
            "description": "The database answers",
            "content": {"application/json": {"model": HealthReport}},
        },
        503: {
            "description": "The database cannot be reached (`database_unavailable`) or the settings do "
            "not validate (`service_misconfigured`); retry after `Retry-After` seconds",
            "content": {"application/json": {"model": ErrorResponse}},
        },
    },
)
def get_health() -> dict[str, Any]:
    report = health(app.runtime())
    metrics.add_metric(name="HealthChecksPassed", unit=MetricUnit.Count, value=1)
    return report.model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
