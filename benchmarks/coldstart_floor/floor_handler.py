"""The floor of ``bench_coldstart``: the least an API function of this project can import
and do on its first invocation. Powertools' event handler with validation (pydantic),
its Logger and Metrics decorators, and one psycopg query on a new connection; no X-Ray
SDK, no AWS client, no code of ours. Every function's cold start is printed as a ratio to
this one's, measured the same way in the same run."""

import os
from typing import Any

import psycopg
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True)


class Health(BaseModel):
    ok: bool
    schema_version: int


@app.get("/v1/health")
def get_health() -> Health:
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as connection:
        row = connection.execute("SELECT 1").fetchone()
    metrics.add_metric(name="FloorChecks", unit=MetricUnit.Count, value=1)
    return Health(ok=row is not None, schema_version=1)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
