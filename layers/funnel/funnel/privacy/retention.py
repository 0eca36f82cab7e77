"""The retention purge (PIPEDA: keep personal data no longer than needed; see
docs/privacy.md#retention).

Raw data (events and their page views, tenant events, form submissions, then the
sessions and visitors they leave orphaned) goes after ``RAW_RETENTION_DAYS`` (90);
ingest counters, the daily rollups with the ledger of their runs, and the audit log after
``ROLLUP_RETENTION_MONTHS`` (24); the visitor salt of a day 48 hours after that day
began (``SALT_LIFETIME``). Leads, consent records and tenant milestones are never purged
by age: leads and consent records go only by delete-by-email, which only unlinks the
milestones from their lead.

Every cutoff is the start (00:00 UTC) of the first kept day, so whole UTC days are kept
and a rollup of any kept day can still be recomputed from complete data. A salt's 48
hours end at a midnight too, which is when the template's schedule runs the purge (salts
first), so none outlives them by more than the schedule's start-up. Each step
deletes in batches of ``PURGE_BATCH_SIZE``, each batch one short statement (its own
transaction), until a batch comes back short; so no lock is held long and a purge cut
short resumes where it stopped the next time. The CLI (``python -m funnel purge``) and
``RetentionPurgeFunction`` call ``run_purge``.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any, LiteralString

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, StrictBool

from funnel.platform import audit
from funnel.platform.observability import traced
from funnel.platform.rows import fetch_one
from funnel.platform.runtime import Runtime
from funnel.platform.settings import PrivacySettings
from funnel.platform.sql import query

logger = Logger(child=True)


class Horizon(Enum):
    """How long a kind of data is kept."""

    RAW = "raw"
    ROLLUP = "rollup"
    SALT = "salt"


@dataclass(frozen=True)
class PurgeStep:
    """One table's purge: ``statement`` takes ``cutoff_day`` (the first kept day),
    ``cutoff_at`` (its start), ``limit`` and ``dry_run`` and returns ``(matched, deleted)``
    (see ``queries/retention/purge_events.sql``)."""

    table: str
    horizon: Horizon
    statement: LiteralString


# In order: the salts first (a few rows, and the key to re-identifying cookieless visitors:
# a purge cut short by a backlog must not keep them), then raw rows, then what they leave
# orphaned. A new table with a retention is one more line here and one more SQL file.
STEPS: tuple[PurgeStep, ...] = (
    PurgeStep("visitor_salts", Horizon.SALT, query("retention/purge_visitor_salts")),
    PurgeStep("events", Horizon.RAW, query("retention/purge_events")),
    PurgeStep("web_traffic_logs", Horizon.RAW, query("retention/purge_web_traffic_logs")),
    PurgeStep("tenant_events", Horizon.RAW, query("retention/purge_tenant_events")),
    PurgeStep("form_submissions", Horizon.RAW, query("retention/purge_form_submissions")),
    PurgeStep("sessions", Horizon.RAW, query("retention/purge_orphan_sessions")),
    PurgeStep("visitors", Horizon.RAW, query("retention/purge_orphan_visitors")),
    PurgeStep("ingest_counters", Horizon.ROLLUP, query("retention/purge_ingest_counters")),
    PurgeStep("daily_metric_rollups", Horizon.ROLLUP, query("retention/purge_daily_metric_rollups")),
    PurgeStep("visitor_sketch_blocks", Horizon.ROLLUP, query("retention/purge_visitor_sketch_blocks")),
    PurgeStep("daily_breakdown_rollups", Horizon.ROLLUP, query("retention/purge_daily_breakdown_rollups")),
    PurgeStep("daily_ingest_rollups", Horizon.ROLLUP, query("retention/purge_daily_ingest_rollups")),
    PurgeStep("service_usage_rollups", Horizon.ROLLUP, query("retention/purge_service_usage_rollups")),
    PurgeStep("rollup_runs", Horizon.ROLLUP, query("retention/purge_rollup_runs")),
    PurgeStep("audit_log", Horizon.ROLLUP, query("retention/purge_audit_log")),
)


def months_before(day: date, months: int) -> date:
    """The same day of the month ``months`` earlier (the month's last day if it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# A day's visitor salt is deleted this long after the day began (the README's promise);
# whole days, so it ends at a midnight, when the template's schedule runs the purge.
SALT_LIFETIME = timedelta(hours=48)


def first_kept_days(today: date, privacy: PrivacySettings) -> dict[Horizon, date]:
    """The first UTC day each horizon keeps; rows of earlier days are purged.

    A salt is kept while its day began less than ``SALT_LIFETIME`` ago: from 00:00 UTC of
    ``today`` that leaves yesterday's and today's.
    """
    return {
        Horizon.RAW: today - timedelta(days=privacy.raw_retention_days),
        Horizon.ROLLUP: months_before(today, privacy.rollup_retention_months),
        Horizon.SALT: today + timedelta(days=1) - timedelta(days=SALT_LIFETIME.days),
    }


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed (or, dry, would remove) per table, and whether it finished."""

    dry_run: bool
    complete: bool
    first_kept_days: Mapping[Horizon, date]
    rows: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "complete": self.complete,
            "firstKeptDays": {h.value: d.isoformat() for h, d in self.first_kept_days.items()},
            "rows": dict(self.rows),
        }


def purge(
    runtime: Runtime,
    *,
    dry_run: bool = False,
    request_id: str | None = None,
    time_left_ms: Callable[[], int] | None = None,
) -> PurgeReport:
    """Run every step, or (dry) count what each would delete; audit a real run.

    Parameters
    ----------
    dry_run
        Count, delete nothing, write nothing (not even the audit entry).
    request_id
        The Lambda request id, for the audit entry (None from the CLI).
    time_left_ms
        How much time the caller has left (a Lambda context's
        ``get_remaining_time_in_millis``). No batch starts unless one statement timeout
        (and a margin) remains, so a long backlog ends in a report with ``complete``
        false instead of a killed function; the next run carries on.
    """
    privacy = runtime.settings.privacy
    days = first_kept_days(runtime.clock().astimezone(UTC).date(), privacy)
    # A batch may take up to one statement timeout; keep that and a margin in hand.
    reserve_ms = runtime.settings.database.db_statement_timeout_ms + 5_000

    def may_start() -> bool:
        return time_left_ms is None or time_left_ms() > reserve_ms

    rows: dict[str, int] = {}
    complete = True
    for step in STEPS:
        day = days[step.horizon]
        params = {
            "cutoff_day": day,
            "cutoff_at": datetime.combine(day, time(), tzinfo=UTC),
            "dry_run": dry_run,
            # A dry run deletes nothing, so one statement may count everything.
            "limit": None if dry_run else privacy.purge_batch_size,
        }
        rows[step.table], finished = _run_step(runtime, step, params, may_start)
        if not finished:
            complete = False
            break
    report = PurgeReport(dry_run=dry_run, complete=complete, first_kept_days=days, rows=rows)
    if not dry_run:
        runtime.database.run(
            lambda conn: audit.record(
                conn,
                actor="system",
                action="retention.purge",
                request_id=request_id,
                details=report.as_dict(),
            )
        )
    logger.info("retention purge finished", extra=report.as_dict())
    return report


@dataclass(frozen=True, slots=True)
class _PurgedBatch:
    """A row of a ``retention/purge_*`` statement: the rows its batch matched and deleted."""

    matched: int
    deleted: int


_NOTHING_PURGED = _PurgedBatch(matched=0, deleted=0)


def _run_step(
    runtime: Runtime, step: PurgeStep, params: Mapping[str, Any], may_start: Callable[[], bool]
) -> tuple[int, bool]:
    """Run one step's batches until one comes back short; returns the rows and whether
    the step finished (false when time ran out first)."""
    total = 0
    while may_start():
        batch = runtime.database.run(
            lambda conn: fetch_one(conn, _PurgedBatch, step.statement, params), transaction=False
        )
        batch = batch or _NOTHING_PURGED
        if params["dry_run"]:
            return batch.matched, True
        total += batch.deleted
        if batch.deleted < params["limit"]:
            return total, True
    logger.warning("retention purge out of time", extra={"table": step.table, "rows": total})
    return total, False


class PurgeRequest(BaseModel):
    """The function's input: ``{"dryRun": false}`` from the schedule (SAM's ``Input``),
    ``{"dryRun": true}`` from an operator. Anything else is refused, so a typo cannot
    start a real purge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dryRun: StrictBool = False


def purge_request(event: Mapping[str, Any]) -> PurgeRequest:
    """Read the function's event. An EventBridge scheduled event itself (a schedule
    without ``Input``) is a real run.

    Raises
    ------
    pydantic.ValidationError
        For any other shape (the invocation fails, loudly).
    """
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return PurgeRequest()
    return PurgeRequest.model_validate(event)


@traced
def run_purge(
    runtime: Runtime,
    event: Mapping[str, Any],
    *,
    request_id: str | None = None,
    time_left_ms: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """``RetentionPurgeFunction``: read the event, purge, return the report."""
    request = purge_request(event)
    return purge(runtime, dry_run=request.dryRun, request_id=request_id, time_left_ms=time_left_ms).as_dict()
