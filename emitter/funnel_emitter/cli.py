"""Command line: send one event to Funnel, or look after the outbox.

``python -m funnel_emitter URL --event-type T --tenant-id ID [--occurred-at ISO]
[--payload JSON] [--webhook-id ID] [--timeout S] [--outbox FILE]`` sends one event, with
the signing secret in ``FUNNEL_WEBHOOK_SECRET`` and the admin key in ``FUNNEL_ADMIN_KEY``
(environment variables keep them out of shell history and process listings). Exits 0 on
a 2xx answer, 1 on any other outcome, 2 on a usage error, and 75 (``EX_TEMPFAIL``) when
the event could not be delivered yet but is kept in the outbox.

``python -m funnel_emitter outbox list|retry|purge|deliver [--outbox FILE] ...`` looks
after an outbox file (``FUNNEL_OUTBOX`` by default):

- ``list [--state pending|dead] [--limit N] [--json]``: one line per event, oldest first
  (never the body, which may hold an email address), then the counts;
- ``retry (WEBHOOK_ID... | --all | --dead)``: make events due now, dead ones included,
  each with a fresh 3 days of retries; a running sender picks them up;
- ``purge (WEBHOOK_ID... | --dead | --older-than AGE)``: delete events for good
  (``AGE`` like ``30d``, ``12h``, ``90m``, ``45s``; with ``--dead``, only dead ones that
  old);
- ``deliver URL [--limit N] [--timeout S]``: try what is due now, once each, with the
  credentials of a send (for cron, or when no sender runs). Exits 0 when all of it was
  delivered, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from funnel_emitter.backoff import Backoff
from funnel_emitter.client import WebhookEmitter
from funnel_emitter.events import EVENT_TYPES, utc_iso
from funnel_emitter.outbox import DEAD, PENDING, Outbox, OutboxEntry, OutboxError

SECRET_ENV = "FUNNEL_WEBHOOK_SECRET"  # noqa: S105 - the variable name, not its value
ADMIN_KEY_ENV = "FUNNEL_ADMIN_KEY"
OUTBOX_ENV = "FUNNEL_OUTBOX"
EX_TEMPFAIL = 75
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_AGE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def main(
    argv: Sequence[str] | None = None,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name; ``sys.argv[1:]`` when None.
    clock, sleep
        ``time.time`` and ``time.sleep`` stand-ins, so tests neither wait nor depend on
        the wall clock.

    Returns
    -------
    int
        For a send: 0 when Funnel answered 2xx, 75 when the event is kept in the
        outbox, 1 otherwise. For the outbox commands, see their help.

    Raises
    ------
    SystemExit
        With status 2 on bad arguments or a missing environment variable.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["outbox"]:
        return _outbox(args[1:], clock)
    return _send(args, clock, sleep)


def _send(argv: Sequence[str], clock: Callable[[], float], sleep: Callable[[float], None]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    secret, admin_key = _credentials(parser)
    payload = _payload(parser, args.payload)

    with _attempts_logged_to_stderr():
        try:
            emitter = WebhookEmitter(
                args.url,
                signing_secret=secret,
                admin_key=admin_key,
                timeout=args.timeout,
                outbox=args.outbox or None,
                clock=clock,
                sleep=sleep,
            )
            result = emitter.send(
                args.event_type,
                args.tenant_id,
                payload,
                occurred_at=args.occurred_at,
                webhook_id=args.webhook_id,
            )
        except (ValueError, OutboxError) as exc:
            parser.error(str(exc))

    if result.body is not None:
        print(json.dumps(result.body))
    if result.ok:
        return 0
    if result.queued:
        print(
            f"not delivered yet after {result.attempts} attempt(s): {result.error}; kept in the outbox "
            f"as {result.webhook_id}",
            file=sys.stderr,
        )
        return EX_TEMPFAIL
    print(f"delivery failed after {result.attempts} attempt(s): {result.error}", file=sys.stderr)
    return 1


def _credentials(parser: argparse.ArgumentParser) -> tuple[str, str]:
    """The signing secret and admin key from the environment; exits 2 when one is unset."""
    missing = [name for name in (SECRET_ENV, ADMIN_KEY_ENV) if not os.environ.get(name)]
    if missing:
        parser.error("set the environment variable(s) " + ", ".join(missing))
    return os.environ[SECRET_ENV], os.environ[ADMIN_KEY_ENV]


@contextmanager
def _attempts_logged_to_stderr() -> Iterator[None]:
    """One line per attempt on stderr while the block runs."""
    logger = logging.getLogger("funnel_emitter")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m funnel_emitter",
        description="Send one signed description-service event to Funnel. "
        "'python -m funnel_emitter outbox --help' for the outbox commands.",
        epilog=f"Reads the signing secret from {SECRET_ENV} and the admin key from {ADMIN_KEY_ENV}.",
    )
    parser.add_argument("url", help="URL of POST /v1/webhooks/description-service")
    parser.add_argument("--event-type", required=True, choices=sorted(EVENT_TYPES))
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--occurred-at", help="ISO-8601 time with an offset or Z (default: now)")
    parser.add_argument("--payload", default="{}", help="the event's fields as a JSON object")
    parser.add_argument("--webhook-id", help="idempotency key (default: a fresh msg_<hex>)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per attempt (default: 10)")
    parser.add_argument(
        "--outbox",
        default=os.environ.get(OUTBOX_ENV),
        metavar="FILE",
        help=f"keep the event in this outbox until delivered (default: ${OUTBOX_ENV}, if set)",
    )
    return parser


def _payload(parser: argparse.ArgumentParser, raw: str) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except ValueError:
        parser.error("--payload is not valid JSON")
    if not isinstance(payload, dict):
        parser.error("--payload must be a JSON object")
    return payload


# --- outbox ---------------------------------------------------------------------------


def _outbox(argv: Sequence[str], clock: Callable[[], float]) -> int:
    parser = _outbox_parser()
    args = parser.parse_args(argv)
    if not args.outbox:
        parser.error(f"name the outbox file with --outbox or {OUTBOX_ENV}")
    if args.command == "deliver":
        return _deliver(parser, args, clock)
    try:
        outbox = Outbox(args.outbox)
    except OutboxError as exc:
        parser.error(str(exc))
    if args.command == "list":
        return _list(outbox, args)
    if args.command == "retry":
        if not (args.webhook_ids or args.all or args.dead):
            parser.error("retry needs webhook ids, --all or --dead")
        now = clock()
        count = outbox.retry_now(
            now=now,
            retry_until=now + Backoff().horizon,
            webhook_ids=args.webhook_ids,
            pending=args.all,
            dead=args.dead,
        )
        print(f"{count} event(s) due now")
        return 0
    if not (args.webhook_ids or args.dead or args.older_than is not None):
        parser.error("purge needs webhook ids, --dead or --older-than")
    count = outbox.purge(
        webhook_ids=args.webhook_ids,
        dead=args.dead,
        created_before=None if args.older_than is None else clock() - args.older_than,
    )
    print(f"{count} event(s) purged")
    return 0


def _list(outbox: Outbox, args: argparse.Namespace) -> int:
    entries = outbox.entries(state=args.state, limit=args.limit)
    if args.json:
        for entry in entries:
            print(json.dumps(_listed(entry)))
        return 0
    header = ("WEBHOOK ID", "EVENT", "TENANT", "STATE", "ATTEMPTS", "QUEUED", "NEXT ATTEMPT", "LAST ERROR")
    rows = [header]
    for entry in entries:
        listed = _listed(entry)
        rows.append(
            (
                entry.webhook_id,
                entry.event_type,
                entry.tenant_id,
                entry.state if entry.dead_reason is None else f"{entry.state} ({entry.dead_reason})",
                str(entry.attempts),
                listed["queuedAt"],
                listed["nextAttemptAt"] or "-",
                entry.last_error or "-",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    counts = outbox.counts()
    print(f"{counts[PENDING]} pending, {counts[DEAD]} dead")
    return 0


def _listed(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "webhookId": entry.webhook_id,
        "eventType": entry.event_type,
        "tenantId": entry.tenant_id,
        "state": entry.state,
        "deadReason": entry.dead_reason,
        "attempts": entry.attempts,
        "queuedAt": _iso(entry.created_at),
        "nextAttemptAt": None if entry.state == DEAD else _iso(entry.next_attempt_at),
        "retryUntil": _iso(entry.retry_until),
        "lastAttemptAt": None if entry.last_attempt_at is None else _iso(entry.last_attempt_at),
        "lastStatus": entry.last_status,
        "lastError": entry.last_error,
    }


def _iso(timestamp: float) -> str:
    return utc_iso(datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(microsecond=0))


def _deliver(parser: argparse.ArgumentParser, args: argparse.Namespace, clock: Callable[[], float]) -> int:
    secret, admin_key = _credentials(parser)
    with _attempts_logged_to_stderr():
        try:
            emitter = WebhookEmitter(
                args.url,
                signing_secret=secret,
                admin_key=admin_key,
                timeout=args.timeout,
                outbox=args.outbox,
                clock=clock,
            )
        except (ValueError, OutboxError) as exc:
            parser.error(str(exc))
        results = emitter.deliver_due(limit=args.limit)
    summary = {
        "attempted": len(results),
        "delivered": sum(result.ok for result in results),
        "queued": sum(result.queued for result in results),
        "dead": sum(result.dead for result in results),
    }
    print(json.dumps(summary))
    return 0 if summary["delivered"] == summary["attempted"] else 1


def _age(text: str) -> float:
    match = _AGE.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age like 30d, 12h, 90m or 45s")
    return float(match.group(1)) * _AGE_UNITS[match.group(2)]


def _outbox_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--outbox",
        default=os.environ.get(OUTBOX_ENV),
        metavar="FILE",
        help=f"the outbox's SQLite file (default: ${OUTBOX_ENV})",
    )
    parser = argparse.ArgumentParser(
        prog="python -m funnel_emitter outbox",
        description="List, retry, purge or deliver the events kept in an outbox file.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", parents=[common], help="the events in the outbox, oldest first")
    listing.add_argument("--state", choices=(PENDING, DEAD), help="only pending or only dead events")
    listing.add_argument("--limit", type=int, help="at most this many events")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    retry = commands.add_parser("retry", parents=[common], help="make events due now (dead ones included)")
    retry.add_argument("webhook_ids", nargs="*", metavar="WEBHOOK_ID")
    retry.add_argument("--all", action="store_true", help="every pending event")
    retry.add_argument("--dead", action="store_true", help="every dead event, revived")

    purge = commands.add_parser("purge", parents=[common], help="delete events for good")
    purge.add_argument("webhook_ids", nargs="*", metavar="WEBHOOK_ID")
    purge.add_argument("--dead", action="store_true", help="dead events")
    purge.add_argument(
        "--older-than",
        type=_age,
        metavar="AGE",
        help="events queued longer ago than AGE (30d, 12h, 90m, 45s)",
    )

    deliver = commands.add_parser(
        "deliver",
        parents=[common],
        help="try what is due now, once each",
        epilog=f"Reads the signing secret from {SECRET_ENV} and the admin key from {ADMIN_KEY_ENV}.",
    )
    deliver.add_argument("url", help="URL of POST /v1/webhooks/description-service")
    deliver.add_argument("--limit", type=int, help="at most this many attempts")
    deliver.add_argument("--timeout", type=float, default=10.0, help="seconds per attempt (default: 10)")
    return parser
