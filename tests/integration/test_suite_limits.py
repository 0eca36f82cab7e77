"""The suite's own limits: a test that hangs fails after the per-test time limit with a
traceback and the run goes on, and a session an earlier test leaked inside a transaction
cannot make the next test's TRUNCATE wait forever."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import REPO, empty_tables

pytestmark = pytest.mark.integration


def test_a_statement_that_hangs_fails_its_test_with_a_traceback_and_the_run_goes_on(
    pytester: pytest.Pytester, database_url: str, db: psycopg.Connection
):
    # Given a test blocked in a statement that would run a minute, then a test that passes
    pytester.makepyfile(
        test_hang=f"""
        import psycopg

        def test_hangs():
            with psycopg.connect({database_url!r}, autocommit=True, application_name="hang-probe") as conn:
                conn.execute("SELECT pg_sleep(60)")

        def test_after():
            pass
        """
    )

    # When they run under the suite's configuration, its time limit shortened to half a second
    # (and without Hypothesis, whose start-up costs more than the rest of the run)
    result = pytester.runpytest_inprocess(
        *("-c", str(REPO / "pyproject.toml"), "-o", "timeout=0.5"),
        *("-p", "no:cacheprovider", "-p", "no:hypothesispytest"),
        "test_hang.py",
    )

    # Then the blocked test fails with its traceback, and the next one still runs
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        ['*conn.execute("SELECT pg_sleep(60)")*', "*Timeout (>0.5s) from pytest-timeout*"]
    )
    db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hang-probe'")


def test_a_leaked_transaction_fails_the_next_setup_by_name_instead_of_hanging_it(
    database_url: str, db: psycopg.Connection
):
    # Given a connection an earlier test left inside a transaction, holding a lock
    leaked = psycopg.connect(database_url, application_name="leaky-test")
    leaked.execute("LOCK TABLE visitors IN ACCESS SHARE MODE")

    # When the next test empties the tables
    with pytest.raises(pytest.fail.Exception, match=r"pid \d+ \(leaky-test, idle in transaction\)") as failed:
        empty_tables(db, lock_timeout="200ms")

    # Then it fails at once, naming the session, which it has ended
    assert "could not be emptied within 200ms" in str(failed.value)
    assert db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'leaky-test'"
    ).fetchone() == (0,)
    # And the tables can be emptied again
    leaked.close()
    empty_tables(db, lock_timeout="200ms")
