"""What the benchmarks share: a fresh migrated database on the same server, a Lambda
context, alternating rounds (so both sides see the same machine noise) and the report."""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import uuid
from collections.abc import Callable, Iterator, Sequence

from funnel.platform.migrate import migrate_database
from funnel.platform.runtime import reset_runtime
from funnel_local.postgres import create_database, database


class LambdaContext:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


@contextlib.contextmanager
def bench_database(environment: dict[str, str]) -> Iterator[str]:
    """A new migrated database (embedded server, or DATABASE_URL's), with the handlers'
    environment pointing at it; logs at WARNING so the measurement is not of printing."""
    with database(None, persistent=False) as server:
        conninfo = create_database(server, f"funnel_bench_{uuid.uuid4().hex[:8]}")
        migrate_database(conninfo)
        os.environ.update(
            DATABASE_URL=conninfo,
            POWERTOOLS_TRACE_DISABLED="true",
            POWERTOOLS_LOG_LEVEL="WARNING",
            POWERTOOLS_METRICS_NAMESPACE="FunnelBench",
            **environment,
        )
        reset_runtime()
        try:
            yield conninfo
        finally:
            reset_runtime()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow what handlers print (EMF metrics) during a measurement."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def alternate(
    rounds: int, baseline: Callable[[int], float], *candidates: Callable[[int], float]
) -> list[list[float]]:
    """Run the baseline and each candidate in turns; each returns a rate for its round
    number. Returns the baseline's rates, then each candidate's."""
    rates: list[list[float]] = [[] for _ in range(1 + len(candidates))]
    for round_number in range(rounds):
        for side, run in enumerate((baseline, *candidates)):
            rates[side].append(run(round_number))
    return rates


def report(
    candidate_label: str,
    candidate: list[float],
    baseline_label: str,
    baseline: list[float],
    target: float,
    *,
    references: Sequence[tuple[str, list[float]]] = (),
) -> None:
    """Print each side's median rate and rounds, then the candidate's ratio to the baseline
    (and each reference's, for calibration: what else reaches what on this machine)."""
    sides = ((candidate_label, candidate), *references, (baseline_label, baseline))
    width = max(len(label) for label, _ in sides)
    for label, rates in sides:
        rounds = ", ".join(f"{rate:,.0f}" for rate in rates)
        print(f"{label:<{width}}  {statistics.median(rates):>9,.0f}  (rounds: {rounds})")
    for label, rates in references:
        print(f"reference ratio, {label}: {statistics.median(rates) / statistics.median(baseline):.2f}")
    ratio = statistics.median(candidate) / statistics.median(baseline)
    print(f"ratio (medians): {ratio:.2f}  (target >= {target})")
