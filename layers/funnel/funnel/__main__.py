"""Operator commands: ``python -m funnel migrate`` applies pending migrations;
``python -m funnel purge [--dry-run]`` runs (or counts) the retention purge.

Settings come from the environment exactly as in Lambda (``DATABASE_URL`` or
``DB_SECRET_ARN``...), and each command calls the same code as its function.
"""

from __future__ import annotations

import argparse
import json
import sys

from funnel.errors import ConfigurationError, FunnelError
from funnel.operations import run_migrations
from funnel.retention import purge
from funnel.runtime import get_runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m funnel", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply pending schema migrations")
    purge_command = commands.add_parser("purge", help="delete data past its retention (a daily job)")
    purge_command.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    args = parser.parse_args(argv)
    try:
        if args.command == "migrate":
            applied = run_migrations(get_runtime())
            print(json.dumps({"applied": applied}))
        elif args.command == "purge":
            report = purge(get_runtime(), dry_run=args.dry_run)
            print(json.dumps(report.as_dict()))
    except (ConfigurationError, FunnelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
