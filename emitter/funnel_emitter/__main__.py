"""Command line: send one event to Funnel and print its answer.

``python -m funnel_emitter URL --event-type T --tenant-id ID [--occurred-at ISO]
[--payload JSON] [--webhook-id ID] [--timeout S]``, with the signing secret in
``FUNNEL_WEBHOOK_SECRET`` and the admin key in ``FUNNEL_ADMIN_KEY`` (environment
variables keep them out of shell history and process listings). Exits 0 on a 2xx
answer, 1 on any other outcome and 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from funnel_emitter import EVENT_TYPES, WebhookEmitter

SECRET_ENV = "FUNNEL_WEBHOOK_SECRET"  # noqa: S105 - the variable name, not its value
ADMIN_KEY_ENV = "FUNNEL_ADMIN_KEY"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 when Funnel answered 2xx, 1 otherwise.

    Raises
    ------
    SystemExit
        With status 2 on bad arguments or a missing environment variable.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    missing = [name for name in (SECRET_ENV, ADMIN_KEY_ENV) if not os.environ.get(name)]
    if missing:
        parser.error("set the environment variable(s) " + ", ".join(missing))
    payload = _payload(parser, args.payload)

    logger = logging.getLogger("funnel_emitter")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        emitter = WebhookEmitter(
            args.url,
            signing_secret=os.environ[SECRET_ENV],
            admin_key=os.environ[ADMIN_KEY_ENV],
            timeout=args.timeout,
        )
        result = emitter.send(
            args.event_type,
            args.tenant_id,
            payload,
            occurred_at=args.occurred_at,
            webhook_id=args.webhook_id,
        )
    except ValueError as exc:
        parser.error(str(exc))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)

    if result.body is not None:
        print(json.dumps(result.body))
    if not result.ok:
        print(f"delivery failed after {result.attempts} attempt(s): {result.error}", file=sys.stderr)
    return 0 if result.ok else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m funnel_emitter",
        description="Send one signed description-service event to Funnel.",
        epilog=f"Reads the signing secret from {SECRET_ENV} and the admin key from {ADMIN_KEY_ENV}.",
    )
    parser.add_argument("url", help="URL of POST /v1/webhooks/description-service")
    parser.add_argument("--event-type", required=True, choices=sorted(EVENT_TYPES))
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--occurred-at", help="ISO-8601 time with an offset or Z (default: now)")
    parser.add_argument("--payload", default="{}", help="the event's fields as a JSON object")
    parser.add_argument("--webhook-id", help="idempotency key (default: a fresh msg_<hex>)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per attempt (default: 10)")
    return parser


def _payload(parser: argparse.ArgumentParser, raw: str) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except ValueError:
        parser.error("--payload is not valid JSON")
    if not isinstance(payload, dict):
        parser.error("--payload must be a JSON object")
    return payload


if __name__ == "__main__":
    sys.exit(main())
