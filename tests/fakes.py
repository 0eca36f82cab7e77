"""Fakes for the unit tier, where nothing opens a socket: a clock that moves only when told,
a secret source backed by a dict, a runtime whose database refuses to be used, and the
error a refused socket raises.

They stand in for I/O only (time, secrets, the database); the code under test is our own,
run as it is. What needs PostgreSQL belongs in ``tests/integration``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from funnel.platform.db import Database
from funnel.platform.runtime import Runtime
from funnel.platform.settings import (
    BufferSettings,
    DatabaseSettings,
    HttpSettings,
    PrivacySettings,
    RollupSettings,
    SecuritySettings,
    Settings,
)

# A Saturday at noon, UTC: mid-day, so a day's bounds are hours away in both directions.
UNIT_START = datetime(2026, 2, 14, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock for ``Runtime.clock``: it answers the same instant until a test moves it."""

    def __init__(self, start: datetime = UNIT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("a fake clock keeps aware instants, as the runtime's clock does")
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> datetime:
        """Move to ``moment`` (forwards or backwards, as a wrong host clock may)."""
        if moment.tzinfo is None:
            raise ValueError("a fake clock keeps aware instants, as the runtime's clock does")
        self.now = moment
        return self.now

    def advance(self, by: timedelta | float) -> datetime:
        """Move on by ``by`` (a timedelta, or seconds)."""
        self.now += by if isinstance(by, timedelta) else timedelta(seconds=by)
        return self.now


class DictSecrets:
    """A secret source backed by a dict, recording what is read (Secrets Manager and the
    extension themselves are tested against moto and a local server)."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        # The dict itself, so a test may change a secret (a rotation) after handing it over.
        self.values = values if values is not None else {}
        self.reads: list[str] = []

    def get(self, secret_id: str, *, fresh: bool = False) -> str:
        self.reads.append(secret_id)
        return self.values[secret_id]


class SocketBlocked(RuntimeError):
    """A unit test tried to open a socket (``tests/unit/conftest.py``). Not an OSError, so
    code that handles network failures cannot mistake it for one and carry on."""


class NoDatabaseInUnitTests(AssertionError):
    """A unit test reached for the database: it belongs in ``tests/integration``."""


def _no_database(fresh: bool = False) -> str:
    raise NoDatabaseInUnitTests(
        "a unit test used the runtime's database; test that part in tests/integration, "
        "against the real PostgreSQL"
    )


def default_settings(**parts: Any) -> Settings:
    """The settings of a function with no variable set (the environment is not read), with
    the given parts (``security=SecuritySettings(...)``...) in place of the defaults."""
    defaults: dict[str, Any] = {
        "stage": "test",
        "service_name": "funnel",
        "database": DatabaseSettings.model_construct(),
        "security": SecuritySettings.model_construct(),
        "http": HttpSettings.model_construct(),
        "privacy": PrivacySettings.model_construct(),
        "rollup": RollupSettings.model_construct(),
        "buffer": BufferSettings.model_construct(),
    }
    return Settings(**{**defaults, **parts})


def unit_runtime(
    clock: FakeClock | None = None,
    *,
    settings: Settings | None = None,
    secrets: DictSecrets | None = None,
) -> Runtime:
    """A runtime as ``build_runtime`` wires one, but with a fake clock and secrets, and a
    database that fails the test (:class:`NoDatabaseInUnitTests`) when it is used."""
    settings = settings or default_settings()
    database = Database(
        _no_database,
        statement_timeout_ms=settings.database.db_statement_timeout_ms,
        connect_timeout_seconds=settings.database.db_connect_timeout_seconds,
        application_name=f"{settings.service_name}-{settings.stage}",
    )
    return Runtime(
        settings=settings,
        secrets=secrets or DictSecrets(),
        database=database,
        clock=clock or FakeClock(),
    )
