"""The unit tier cannot open sockets (``tests/unit/conftest.py``): each way out fails the
test at once, with an error no network handling mistakes for a network failure, and a test
whose code swallows that error still fails."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import psycopg
import pytest

from funnel.platform.runtime import Runtime
from tests.fakes import UNIT_START, FakeClock, NoDatabaseInUnitTests, SocketBlocked

UNIT_CONFTEST = Path(__file__).with_name("conftest.py")


def test_connecting_binding_and_sending_are_refused(no_sockets: list[str]) -> None:
    # Given a unit test, When it tries to reach the network in each way
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        with pytest.raises(SocketBlocked, match="unit tests cannot open sockets"):
            tcp.connect(("127.0.0.1", 9))
        with pytest.raises(SocketBlocked):
            tcp.connect_ex(("127.0.0.1", 9))
        with pytest.raises(SocketBlocked):
            tcp.bind(("127.0.0.1", 0))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(SocketBlocked):
        udp.sendto(b"x", ("127.0.0.1", 9))
    with pytest.raises(SocketBlocked):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(SocketBlocked):
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=1)
    # Then each was refused, not answered by the network (SocketBlocked is no OSError)
    assert not issubclass(SocketBlocked, OSError)
    assert len(no_sockets) == 6
    # (and, the attempts being this test's point, they are not held against it)
    no_sockets.clear()


def test_postgresql_cannot_be_reached_either(no_sockets: list[str]) -> None:
    # Given a unit test, When it opens a PostgreSQL connection (libpq connects in C, beneath
    # the socket module), Then psycopg's connection itself is refused
    with pytest.raises(SocketBlocked, match=r"psycopg\.connect"):
        psycopg.connect("host=127.0.0.1 port=9 connect_timeout=2")
    no_sockets.clear()


def test_a_test_whose_code_swallows_the_refusal_still_fails(pytester: pytest.Pytester) -> None:
    # Given a unit test whose code catches every exception around a connection
    pytester.makeconftest(UNIT_CONFTEST.read_text())
    pytester.makepyfile(
        """
        import socket

        def test_careless():
            try:
                socket.create_connection(("127.0.0.1", 9), timeout=1)
            except Exception:
                pass
        """
    )
    # When it runs in the unit tier
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    # Then it fails, naming the attempt
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unit tests cannot open sockets; this one tried: socket.create_conn*"])


def test_the_runtime_has_a_fake_clock_and_no_database(runtime: Runtime, clock: FakeClock) -> None:
    # Given the unit tier's runtime, When its clock is read, moved and read again
    first = runtime.clock()
    clock.advance(90)
    # Then it reads the fake clock, moved by exactly what the test moved it
    assert (first, runtime.clock() - first) == (UNIT_START, clock.now - UNIT_START)
    assert runtime.clock().isoformat() == "2026-02-14T12:01:30+00:00"
    # And using its database fails the test, pointing to the integration tier
    with pytest.raises(NoDatabaseInUnitTests, match="tests/integration"):
        runtime.database.run(lambda conn: conn.execute("SELECT 1"))
