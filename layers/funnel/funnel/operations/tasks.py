"""Operations shared by the deploy-time function, the health check and the CLI: one
implementation behind each door."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger

from funnel.operations.schemas import HealthReport
from funnel.platform import cfn
from funnel.platform.migrate import apply_migrations, current_version
from funnel.platform.observability import traced
from funnel.platform.runtime import Runtime

logger = Logger(child=True)
MIGRATIONS_RESOURCE_ID = "funnel-schema-migrations"


def run_migrations(runtime: Runtime) -> list[str]:
    """Apply pending migrations on the runtime's database."""
    applied = apply_migrations(runtime.database.connection())
    logger.info("migrations up to date", extra={"applied": applied})
    return applied


@traced
def handle_migration_resource(
    runtime: Callable[[], Runtime], event: Mapping[str, Any], send: cfn.Sender = cfn.put_response
) -> dict[str, Any]:
    """Serve the ``Custom::FunnelMigrations`` resource, or a direct invocation.

    Create and Update apply pending migrations; Delete does nothing (data outlives the
    stack) but must still answer, or CloudFormation waits. A direct invocation (no
    ``RequestType``, as from ``funnel_local invoke``) applies migrations and returns.
    ``runtime`` is called only when migrations run, inside the failure handling: broken
    settings are answered FAILED, and never keep a Delete from answering.
    """
    request_type = event.get("RequestType")
    if request_type is None:
        return {"applied": run_migrations(runtime())}
    status, reason, data = "SUCCESS", "", {}
    if request_type in ("Create", "Update"):
        try:
            applied = run_migrations(runtime())
            data = {"Applied": ",".join(applied) or "none"}
        except Exception as exc:
            # Any failure must reach CloudFormation as FAILED so the deploy rolls back.
            logger.exception("migrations failed")
            status, reason = "FAILED", f"migrations failed: {type(exc).__name__}: {exc}"
    cfn.respond(
        event, status=status, physical_resource_id=MIGRATIONS_RESOURCE_ID, reason=reason, data=data, send=send
    )
    return {"status": status, **data}


def health(runtime: Runtime) -> HealthReport:
    """Database reachability and schema version."""
    version = runtime.database.run(current_version)
    return HealthReport(schemaVersion=version, stage=runtime.settings.stage)
