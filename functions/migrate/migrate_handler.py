"""Deploy-time schema migrations, as the ``Custom::FunnelMigrations`` resource (or
invoked directly by an operator)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from funnel.operations import handle_migration_resource
from funnel.runtime import get_runtime

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_migration_resource(get_runtime(), event)
