"""GET /v1/health: is the database reachable, and at which schema version."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.operations.schemas import HealthReport
from funnel.operations.tasks import health
from funnel.platform.client_limits import public_limit
from funnel.platform.error_docs import error_response
from funnel.platform.http import FunnelResolver
from funnel.platform.observability import Observability

# Traced by Lambda's Active tracing alone, without the X-Ray SDK (see funnel.platform.observability).
observability = Observability(api=True, traced=False)
metrics = observability.metrics
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
        503: error_response(
            "The database cannot be reached (`database_unavailable`) or the settings do "
            "not validate (`service_misconfigured`); retry after `Retry-After` seconds"
        ),
    },
)
def get_health() -> dict[str, Any]:
    report = health(app.runtime())
    metrics.add_metric(name="HealthChecksPassed", unit=MetricUnit.Count, value=1)
    return report.model_dump(mode="json")


@observability.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
