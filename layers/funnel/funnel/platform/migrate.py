"""Forward-only schema migrations.

Migrations are ``migrations/NNNN_name.sql`` files inside this package. They are applied in
order, each in its own transaction together with its row in ``schema_migrations``, while
holding a session advisory lock, so concurrent runners (two deploys, a deploy and a CLI)
apply each migration exactly once. An applied migration whose file has changed since is an
error: published migrations are never edited, a new one is added instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from aws_lambda_powertools import Logger

from funnel.platform.errors import ConfigurationError

logger = Logger(child=True)

# Arbitrary but fixed: the key every migration runner locks on.
MIGRATION_LOCK_KEY = 7_310_425_091
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """Every migration file shipped in the package, in version order."""
    found = []
    for entry in resources.files("funnel").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise ConfigurationError(f"duplicate migration versions: {versions}")
    return found


def apply_migrations(conn: psycopg.Connection, *, through: int | None = None) -> list[str]:
    """Apply every pending migration on an autocommit connection (up to version
    ``through``, when given).

    Returns
    -------
    list[str]
        ``NNNN_name`` of each migration applied by this call (empty when up to date).

    Raises
    ------
    ConfigurationError
        When an applied migration's file no longer matches what was applied.
    """
    applied_now: list[str] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        conn.execute(_CREATE_LEDGER)
        recorded: dict[int, str] = dict(
            conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        )
        for migration in available_migrations():
            if through is not None and migration.version > through:
                break
            label = f"{migration.version:04d}_{migration.name}"
            if migration.version in recorded:
                if recorded[migration.version] != migration.checksum:
                    raise ConfigurationError(f"migration {label} was changed after it was applied")
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            logger.info("migration applied", extra={"migration": label})
            applied_now.append(label)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied_now


def current_version(conn: psycopg.Connection) -> int | None:
    """Highest applied migration version, or None on an empty database."""
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return version[0] if version else None


def migrate_database(conninfo: str) -> list[str]:
    """Open a connection to ``conninfo``, apply pending migrations, close it."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return apply_migrations(conn)
