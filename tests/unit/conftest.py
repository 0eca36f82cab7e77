"""The unit tier: no sockets and no database. Every test here runs with socket connects,
binds and sends refused (and psycopg's connections with them), so a test that would reach
the network or PostgreSQL fails loudly instead of passing by luck; it belongs in
``tests/integration``. The fixtures give a fake clock and a runtime without a database
(``tests/fakes.py``)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import psycopg.generators
import pytest

from funnel.platform.runtime import Runtime
from tests.fakes import FakeClock, SocketBlocked, unit_runtime

_SOCKET_METHODS = ("connect", "connect_ex", "bind", "sendto", "sendmsg")


def _refuse(name: str, attempts: list[str]) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        # A socket method's first argument is the socket; what it was asked shows the rest.
        asked = args[1:] if args and isinstance(args[0], socket.socket) else args
        attempt = f"{name}{asked!r}"
        attempts.append(attempt)
        raise SocketBlocked(f"unit tests cannot open sockets: {attempt}; move the test to tests/integration")

    return refuse


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse every socket connect, bind and send, and every PostgreSQL connection, for the
    test; fail it afterwards if it tried, even when its code swallowed the error. Yields
    the attempts (a test that means to try clears them)."""
    attempts: list[str] = []
    for method in _SOCKET_METHODS:
        monkeypatch.setattr(socket.socket, method, _refuse(f"socket.{method}", attempts))
    monkeypatch.setattr(socket, "create_connection", _refuse("socket.create_connection", attempts))
    # libpq connects in C, beneath the socket module: refuse psycopg's connection itself.
    monkeypatch.setattr(psycopg.generators, "connect", _refuse("psycopg.connect", attempts))
    yield attempts
    if attempts:
        pytest.fail(f"unit tests cannot open sockets; this one tried: {', '.join(attempts)}", pytrace=False)


@pytest.fixture
def clock() -> FakeClock:
    """A clock at ``tests.fakes.UNIT_START`` that moves only when the test moves it."""
    return FakeClock()


@pytest.fixture
def runtime(clock: FakeClock) -> Runtime:
    """A runtime with the default settings (the environment not read), the fake clock, no
    secrets, and a database that fails the test when it is used."""
    return unit_runtime(clock)
