"""Operator commands: ``python -m funnel_ops migrate`` applies pending migrations;
``python -m funnel_ops purge [--dry-run]`` runs (or counts) the retention purge; the
``rollups-*`` commands run, backfill and inspect the daily rollups, and rebuild their
pre-merged visitor sketches (``rollups-blocks``).

Settings come from the environment exactly as in Lambda (``DATABASE_URL`` or
``DB_SECRET_ARN``...), and each command calls the same code as its function.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date
from typing import Any, TextIO

from pydantic import ValidationError

from funnel.operations.tasks import run_migrations
from funnel.platform.errors import ConfigurationError, FunnelError
from funnel.platform.runtime import Runtime, get_runtime
from funnel.privacy.retention import purge
from funnel.readmodel.rollups import (
    RollupReport,
    RollupStatus,
    Scope,
    Trigger,
    rollup_status,
    run_rollups,
    scheduled_range,
    validation_details,
)
from funnel.readmodel.schemas import RollupRange
from funnel.readmodel.sketch_blocks import rebuild_stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m funnel_ops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending schema migrations")
    purge_command = commands.add_parser("purge", help="delete data past its retention (a daily job)")
    purge_command.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    commands.add_parser(
        "rollups-run",
        help="roll up today, the previous ROLLUP_BATCH_DAYS days and dirty days (what the schedule runs)",
    )
    backfill = commands.add_parser("rollups-backfill", help="roll up a range of UTC days (at most 366)")
    backfill.add_argument("--from", dest="from_day", required=True, metavar="YYYY-MM-DD", help="first day")
    backfill.add_argument("--to", dest="to_day", required=True, metavar="YYYY-MM-DD", help="last day")
    backfill.add_argument("--property-id", help="only this property's marketing and ingest rollups")
    backfill.add_argument("--dry-run", action="store_true", help="compute and report; write nothing")
    status = commands.add_parser("rollups-status", help="freshness, the latest runs and their discrepancies")
    status.add_argument("--runs", type=_at_least_one, default=10, help="how many runs to list (default 10)")
    usage = commands.add_parser(
        "rollups-service-usage", help="roll up service usage only (default: the scheduled days)"
    )
    usage.add_argument("--from", dest="from_day", metavar="YYYY-MM-DD", help="first day (with --to)")
    usage.add_argument("--to", dest="to_day", metavar="YYYY-MM-DD", help="last day (with --from)")
    usage.add_argument("--dry-run", action="store_true", help="compute and report; write nothing")
    blocks = commands.add_parser(
        "rollups-blocks", help="rebuild the pre-merged visitor sketches of stored rollup days, of any age"
    )
    blocks.add_argument(
        "--from", dest="from_day", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD"
    )
    blocks.add_argument("--to", dest="to_day", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD")
    args = parser.parse_args(argv)
    try:
        if args.command == "migrate":
            applied = run_migrations(get_runtime())
            print(json.dumps({"applied": applied}))
        elif args.command == "purge":
            report = purge(get_runtime(), dry_run=args.dry_run)
            print(json.dumps(report.as_dict()))
        elif args.command == "rollups-status":
            print(render_status(rollup_status(get_runtime(), runs=args.runs)))
        elif args.command == "rollups-blocks":
            if args.from_day > args.to_day:
                print("error: --from must not be after --to", file=sys.stderr)
                return 2
            changed = rebuild_stored(get_runtime(), args.from_day, args.to_day)
            print(json.dumps({"from": str(args.from_day), "to": str(args.to_day), "blocks": changed}))
        else:
            return _rollups(args)
    except (ConfigurationError, FunnelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _rollups(args: argparse.Namespace) -> int:
    """``rollups-run``, ``rollups-backfill`` and ``rollups-service-usage``: validate the
    range as the function does, run with a progress bar on stderr, print the report."""
    runtime = get_runtime()
    today = runtime.clock().astimezone(UTC).date()
    scheduled = scheduled_range(today, runtime.settings.rollup.rollup_batch_days)
    scope = Scope.SERVICE_USAGE if args.command == "rollups-service-usage" else None
    if args.command == "rollups-run" or (scope is not None and args.from_day is None and args.to_day is None):
        first, last = scheduled
        fields: dict[str, Any] = {"from": first.isoformat(), "to": last.isoformat()}
    else:
        fields = {"from": args.from_day, "to": args.to_day}
    if getattr(args, "property_id", None) is not None:
        fields["propertyId"] = args.property_id
    fields["dryRun"] = getattr(args, "dry_run", False)
    try:
        request = RollupRange.model_validate(fields, context={"today": today})
    except ValidationError as exc:
        for problem in validation_details(exc):
            print(f"error: {problem['loc']}: {problem['msg']}", file=sys.stderr)
        return 2
    report = _run_with_progress(
        runtime, request, scope, sys.stderr, with_dirty_days=args.command == "rollups-run"
    )
    print(json.dumps(report.as_dict()))
    return 0


def _run_with_progress(
    runtime: Runtime, request: RollupRange, scope: Scope | None, stream: TextIO, *, with_dirty_days: bool
) -> RollupReport:
    bar = ProgressBar(stream)
    report = run_rollups(
        runtime,
        from_day=request.from_,
        to_day=request.to,
        property_id=request.propertyId,
        dry_run=request.dryRun,
        trigger=Trigger.CLI,
        scope=scope,
        with_dirty_days=with_dirty_days,
        progress=bar.update,
    )
    if report.skipped_days:
        first, last = report.skipped_days[0], report.skipped_days[-1]
        print(
            f"skipped {len(report.skipped_days)} days, {first} to {last}: their raw data is past "
            "retention, so their rollups (the only record left) were left as they are",
            file=stream,
        )
    if report.carried_days:
        print(
            f"{len(report.carried_days)} dirty days left for the next run, from {report.carried_days[0]}",
            file=stream,
        )
    if report.discrepancies:
        print(f"{len(report.discrepancies)} discrepancies between raw data and rollups:", file=stream)
        print(
            _table(
                ("day", "kind", "key", "metric", "raw", "rolled up"),
                [
                    (d.day.isoformat(), d.kind, d.key, d.metric, str(d.raw), str(d.rolled_up))
                    for d in report.discrepancies
                ],
            ),
            file=stream,
        )
    return report


class ProgressBar:
    """A plain-text progress bar for days rolled up: redrawn in place on a terminal, one
    line per day otherwise (a log keeps every line)."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.in_place = stream.isatty()

    def update(self, done: int, total: int, day: date) -> None:
        filled = self.WIDTH * done // total
        line = f"rollups [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} days  {day.isoformat()}"
        if self.in_place:
            self.stream.write(f"\r{line}" + ("\n" if done == total else ""))
        else:
            self.stream.write(f"{line}\n")
        self.stream.flush()


def render_status(status: RollupStatus) -> str:
    """``rollups-status``: freshness, the latest runs and the latest monitor's findings."""
    through = status.rolled_up_through.isoformat() if status.rolled_up_through else "never"
    generated = status.generated_at.astimezone(UTC).isoformat() if status.generated_at else "never"
    lag = "-" if status.lag_days is None else str(status.lag_days)
    lines = [
        f"rolled up through {through}   lag {lag} days   generated at {generated}   (today {status.today})",
        "",
        "latest runs",
        _table(
            (
                "started",
                "trigger",
                "scope",
                "from",
                "to",
                "property",
                "status",
                "days",
                "skipped",
                "dirty",
                "carried",
                "rows",
                "discrepancies",
                "error",
            ),
            [
                (
                    run["started_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    run["trigger"],
                    run["scope"],
                    run["from_day"].isoformat(),
                    run["to_day"].isoformat(),
                    run["property_id"] or "all",
                    run["status"],
                    str(run["days"]),
                    str(run["skipped_days"]),
                    str(run["dirty_days"]),
                    str(run["carried_days"]),
                    str(run["rows_written"]),
                    str(run["discrepancies"]),
                    run["error"] or "",
                )
                for run in status.runs
            ],
        ),
        "",
        _dirty_line(status),
        "",
    ]
    if status.monitor_run_id is None:
        lines.append("discrepancies: no run of the whole read model has succeeded yet")
    elif not status.discrepancies:
        lines.append(f"discrepancies: none (run {status.monitor_run_id})")
    else:
        lines.append(f"discrepancies ({len(status.discrepancies)}, run {status.monitor_run_id})")
        lines.append(
            _table(
                ("day", "kind", "key", "metric", "raw", "rolled up"),
                [
                    (d["day"], d["kind"], d["key"], d["metric"], str(d["raw"]), str(d["rolledUp"]))
                    for d in status.discrepancies
                ],
            )
        )
    return "\n".join(lines)


def _dirty_line(status: RollupStatus) -> str:
    dirty = status.dirty
    if dirty.oldest_day is None or dirty.oldest_mark is None:
        return "dirty days: none waiting"
    marked = dirty.oldest_mark.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"dirty days: {dirty.days} waiting, the oldest {dirty.oldest_day}; the first marked at {marked}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=False)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *rows)
    )
