"""Run a template's ``Schedule`` events locally, as EventBridge runs them.

Each enabled schedule fires at the times its expression names (UTC): a ``cron(...)`` at its
own times, a ``rate(...)`` every period from when the scheduler started (as a rate rule
counts from its creation). A firing invokes the function asynchronously, as EventBridge
does, through the function's warm worker pool (the same pools the gateway's routes use),
with the schedule's ``Input`` or, without one, EventBridge's "Scheduled Event". Its outcome
is logged; a failure is not retried, since the next firing does the same work again.

A firing that was missed (the machine slept) happens once when the scheduler wakes, and the
schedule goes on from then. Schedules can be given another expression locally (the rollup
every minute, so a new beacon shows up in the metrics soon): see :func:`override_schedules`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from funnel_local.schedule_expressions import ScheduleExpressionError, parse_schedule_expression
from funnel_local.template import ScheduleSpec, TemplateError
from funnel_local.workers import FunctionPool, Outcome, log_function_error

logger = logging.getLogger(__name__)

# The scheduler looks at the clock at least this often, so a clock that jumps (a machine
# that slept) is noticed.
_LONGEST_SLEEP_SECONDS: Final = 60.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def override_schedules(
    schedules: Sequence[ScheduleSpec], overrides: Mapping[str, str]
) -> tuple[ScheduleSpec, ...]:
    """The schedules with some expressions replaced, for local runs.

    Parameters
    ----------
    schedules
        The template's schedules.
    overrides
        New expressions by ``Function.Event``, or by ``Function`` when the function has one
        schedule, e.g. ``{"RollupFunction": "rate(1 minute)"}``.

    Returns
    -------
    tuple[ScheduleSpec, ...]
        The same schedules, in the same order, with the overridden expressions.

    Raises
    ------
    TemplateError
        When an override names no schedule, a function with several, or an expression
        EventBridge would refuse.
    """
    replaced = {schedule.key: schedule for schedule in schedules}
    for name, text in overrides.items():
        matches = [schedule for schedule in schedules if name in (schedule.key, schedule.function_id)]
        if len(matches) != 1:
            known = ", ".join(schedule.key for schedule in schedules) or "none"
            problem = "names no schedule" if not matches else "names several schedules; add the event's name"
            raise TemplateError(f"schedule override {name!r} {problem} (schedules: {known})")
        try:
            expression = parse_schedule_expression(text)
        except ScheduleExpressionError as exc:
            raise TemplateError(f"schedule override {name!r}: {exc}") from None
        (schedule,) = matches
        replaced[schedule.key] = dataclasses.replace(schedule, expression=expression)
    return tuple(replaced[schedule.key] for schedule in schedules)


class Scheduler:
    """Fires schedules into worker pools, in a background thread once :meth:`start` ed.

    Parameters
    ----------
    schedules
        The schedules; disabled ones never fire.
    pools
        A worker pool for each function the schedules invoke, by logical id.
    clock
        The current time (aware); injectable so tests can pin it.
    """

    def __init__(
        self,
        schedules: Sequence[ScheduleSpec],
        pools: Mapping[str, FunctionPool],
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.schedules = tuple(schedules)
        self.started_at = clock()
        self._pools = pools
        self._clock = clock
        self._next: dict[str, datetime | None] = {
            schedule.key: schedule.expression.next_after(self.started_at, since=self.started_at)
            for schedule in self.schedules
            if schedule.enabled
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def next_firing(self, schedule: ScheduleSpec) -> datetime | None:
        """When the schedule fires next; None when disabled or never again."""
        return self._next.get(schedule.key)

    def fire_due(self, now: datetime) -> list[threading.Thread]:
        """Invoke every schedule due by ``now``, each in a thread of its own.

        Returns
        -------
        list[threading.Thread]
            The invocations started (join them to wait for their end).
        """
        started = []
        for schedule in self.schedules:
            due = self._next.get(schedule.key)
            if due is None or due > now:
                continue
            self._next[schedule.key] = schedule.expression.next_after(now, since=self.started_at)
            invocation = threading.Thread(
                target=self._invoke, args=(schedule, due), name=f"schedule-{schedule.key}", daemon=True
            )
            invocation.start()
            started.append(invocation)
        return started

    def start(self) -> None:
        """Fire schedules in a background thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="funnel-local-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Fire nothing more. Invocations already running are left to their pools."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._clock()
            self.fire_due(now)
            upcoming = [moment for moment in self._next.values() if moment is not None]
            if not upcoming:
                return
            seconds = (min(upcoming) - self._clock()).total_seconds()
            self._stop.wait(min(max(seconds, 0.0), _LONGEST_SLEEP_SECONDS))

    def _invoke(self, schedule: ScheduleSpec, scheduled_at: datetime) -> None:
        fields: dict[str, object] = {
            "schedule": schedule.key,
            "expression": schedule.expression.text,
            "scheduledAt": scheduled_at.isoformat(),
        }
        logger.info("schedule fired", extra=fields)
        try:
            invocation = self._pools[schedule.function_id].invoke(
                schedule.event(scheduled_at, str(uuid.uuid4()))
            )
        except RuntimeError:
            # The pool was closed: the run is stopping.
            logger.info("schedule not run: stopping", extra=fields)
            return
        fields = {**fields, "durationMs": round(invocation.duration_ms)}
        if invocation.outcome is Outcome.SUCCEEDED:
            logger.info("scheduled invocation succeeded", extra=fields)
        elif self._stop.is_set():
            logger.info("scheduled invocation cut short: stopping", extra=fields)
        else:
            log_function_error(invocation, extra={**fields, "function": schedule.function_id})
