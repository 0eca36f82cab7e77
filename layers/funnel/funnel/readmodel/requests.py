"""The doors of a rollup run: ``RollupFunction``'s input, read and answered
(``handle_event``), and the days a scheduled run covers. The CLI (``python -m funnel_ops
rollups-...``), the function and the tests all end in ``funnel.readmodel.runs.run_rollups``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from funnel.platform.observability import traced
from funnel.platform.runtime import Runtime
from funnel.readmodel.runs import Trigger, run_rollups
from funnel.readmodel.schemas import RollupRange, ScheduledRollup

logger = Logger(child=True)


@dataclass(frozen=True)
class RollupPlan:
    """A run asked for through a door, validated."""

    from_day: date
    to_day: date
    property_id: str | None
    dry_run: bool
    trigger: Trigger


def scheduled_range(today: date, batch_days: int) -> tuple[date, date]:
    """The days every scheduled run recomputes: today so far and the ``batch_days``
    before it, so events that arrive late land."""
    return today - timedelta(days=batch_days), today


def plan_from_event(event: Any, *, today: date, batch_days: int) -> RollupPlan:
    """Read the function's input: ``{"trigger": "schedule"}`` (the template's ``Input``;
    an EventBridge scheduled event without one reads the same) or a ``RollupRange``.

    Raises
    ------
    pydantic.ValidationError
        For anything else, or a range that is not allowed.
    """
    if isinstance(event, Mapping) and (
        "trigger" in event
        or (event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event")
    ):
        if "trigger" in event:
            ScheduledRollup.model_validate(event)
        first, last = scheduled_range(today, batch_days)
        return RollupPlan(first, last, None, False, Trigger.SCHEDULE)
    request = RollupRange.model_validate(event, context={"today": today})
    return RollupPlan(request.from_, request.to, request.propertyId, request.dryRun, Trigger.INVOKE)


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """What failed, without echoing the input."""
    return [
        {
            "loc": ".".join(str(part) for part in error["loc"]) or "event",
            "msg": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]


@traced
def handle_event(
    runtime: Runtime, event: Any, *, time_left_ms: Callable[[], int] | None = None
) -> dict[str, Any]:
    """``RollupFunction``: read the event, run, and return ``{"ok": true, ...report}``.

    Input that does not validate is answered ``{"ok": false, "error":
    "validation_failed", "details": [...]}``, returned rather than raised: the invoker
    reads it as the result, and an asynchronous invocation is not retried for a mistake
    no retry can fix. A run that fails raises, so Lambda counts the error (and retries an
    asynchronous invocation; a rollup is safe to repeat).
    """
    today = runtime.clock().astimezone(UTC).date()
    try:
        plan = plan_from_event(event, today=today, batch_days=runtime.settings.rollup.rollup_batch_days)
    except ValidationError as exc:
        details = validation_details(exc)
        logger.warning("rollup input refused", extra={"errors": details})
        return {"ok": False, "error": "validation_failed", "details": details}
    report = run_rollups(
        runtime,
        from_day=plan.from_day,
        to_day=plan.to_day,
        property_id=plan.property_id,
        dry_run=plan.dry_run,
        trigger=plan.trigger,
        with_dirty_days=plan.trigger is Trigger.SCHEDULE,
        time_left_ms=time_left_ms,
    )
    return {"ok": True, **report.as_dict()}
