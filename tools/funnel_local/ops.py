"""The operator commands (``python -m funnel_ops``: ``migrate``, ``purge``, ``rollups-*``)
beside ``make run``, with no configuration.

``python -m funnel_ops`` reads its database from the environment, as the functions do
(``DATABASE_URL``, or ``DB_SECRET_ARN`` and the ``DB_*`` variables). When none of those is
set, this runs it on the local embedded server instead: the one ``make run`` uses (same data
directory), started if it is not running and stopped afterwards unless another command of
the project still uses it (see :mod:`funnel_local.postgres`). On that server the pending
migrations are applied first, as ``make run`` does, so a command works on a fresh checkout.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Final

from funnel_local.postgres import database

logger = logging.getLogger(__name__)

# Any of these names a database of the operator's: the command then runs as it is.
DATABASE_VARIABLES: Final = ("DATABASE_URL", "DB_SECRET_ARN", "DB_HOST")


def uses_embedded_server(environ: Mapping[str, str]) -> bool:
    """Whether a command run with ``environ`` gets the local embedded server."""
    return not any(environ.get(name) for name in DATABASE_VARIABLES)


@contextmanager
def _interrupt_on_termination() -> Iterator[None]:
    """Make SIGTERM and SIGHUP end the command as Ctrl-C does, so the server is released."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_operator_command(arguments: Sequence[str]) -> int:
    """Run ``python -m funnel_ops <arguments>``, on the embedded server when none is configured.

    Parameters
    ----------
    arguments
        The command and its options, e.g. ``["rollups-backfill", "--from", "2026-01-01",
        "--to", "2026-01-31"]``.

    Returns
    -------
    int
        The command's exit status (2 on a usage error, 130 when interrupted).
    """
    # Imported here: the layer's loggers take the service name set by ``__main__`` first.
    from funnel.platform.migrate import migrate_database
    from funnel.platform.runtime import reset_runtime
    from funnel_ops.cli import main as funnel_main

    command = list(arguments)
    if not command or command[0] in ("-h", "--help"):
        return funnel_main(["--help"])
    if not uses_embedded_server(os.environ):
        return funnel_main(command)
    try:
        with _interrupt_on_termination(), database(persistent=True) as conninfo:
            os.environ["DATABASE_URL"] = conninfo
            reset_runtime()
            try:
                if command[0] != "migrate":
                    applied = migrate_database(conninfo)
                    logger.info("database migrated", extra={"applied": applied})
                return funnel_main(command)
            finally:
                reset_runtime()
                del os.environ["DATABASE_URL"]
    except KeyboardInterrupt:
        logger.warning("interrupted", extra={"command": command[0]})
        return 130
