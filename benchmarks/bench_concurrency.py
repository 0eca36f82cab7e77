"""Ingest under concurrency: events per second and the share of backend time spent waiting
on locks, from 1, 4 and 16 concurrent connections to one PostgreSQL, before and after
the hot rows were removed, in one run.

Three paths, each through its real Lambda handler: single-event ``POST /v1/events``
requests (page views of one property, each visitor reading a few pages in turn), single
``scan.completed`` deliveries for one tenant (a batch scan's jobs finishing one after
another, each stamped when it is sent), and the same ten days late (``late``: a sender's
backlog after an outage, all of one day, so each delivery also marks that day dirty for
the rollups). Every connection is its own process, a
warm container with its own connection, as concurrent Lambda instances are (forked from
one that imported the handlers). A run lasts a few seconds (and at most so many
requests per connection); its rate is counted while all its connections were running.
Meanwhile a thread samples ``pg_stat_activity`` every few milliseconds: the lock-wait
share is the fraction of the run's busy backends (running a statement or inside a
transaction) found waiting on a heavyweight lock (``wait_event_type = 'Lock'``: a row,
tuple or transaction lock). The workers' CPU per request is shown too: the clients share
this machine's cores with the server, and where that cost grows with the level and the
rate falls by as much, the clients limit the rate, not the database.

Each level runs two variants, each on its own database of the same server, in rounds
that alternate the order of variants and levels: ``before``, the statements of the hot
rows (every request of a property adding to one counter row, every scan of a tenant
updating its milestone row; kept in ``benchmarks/hot_rows/``), and ``after``, the layer
as it is; on the late path, ``one-mark``, one dirty-day row per day that every late
delivery updates (``benchmarks/hot_rows/mark_days.sql``), against ``after``, a row per
day and backend (migration 0014). Medians are reported. The targets (lock waits at most 5% at 16 connections,
events per second at 16 no lower than at 4) are printed, not asserted: this machine is
shared and has two cores.

    make bench-concurrency
    make bench-concurrency SMOKE=1               # what CI runs: 1 s runs, numbers printed
    python -m benchmarks.bench_concurrency --seconds 10 --rounds 3 --paths webhook,late
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.common import LambdaContext, bench_database, quiet
from funnel.platform.migrate import migrate_database
from funnel_local.postgres import create_database

ADMIN_KEY = "bench-admin-key"
SECRET = "whsec_YmVuY2htYXJrLXNpZ25pbmctc2VjcmV0LTAwMQ=="
ENVIRONMENT = {
    "ADMIN_API_KEY": ADMIN_KEY,
    "WEBHOOK_SIGNING_SECRETS": SECRET,
    "ALLOWED_ORIGINS": "https://www.example.com",
}
EVENTS = Path(__file__).resolve().parent.parent / "events"
PAGE_VIEW = json.loads((EVENTS / "collect" / "beacon_page_view.json").read_text())
SCAN = json.loads((EVENTS / "webhook_ingest" / "scan_completed.json").read_text())
HOT_ROWS = Path(__file__).resolve().parent / "hot_rows"
PATHS = ("collect", "webhook", "late")
TENANT = "bench-tenant"
LATE = timedelta(days=10)
PAGES_PER_VISITOR = 5
SAMPLE_EVERY_SECONDS = 0.005
LOCK_WAIT_TARGET = 0.05
READY = "ready"
ANSWER_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Variant:
    """The statements a run uses: the layer's own, with ``statements`` (query name ->
    SQL) in their place, once ``setup`` has run on the variant's database; measured on
    ``paths``."""

    name: str
    setup: tuple[str, ...] = ()
    statements: Mapping[str, str] = field(default_factory=dict)
    paths: tuple[str, ...] = ("collect", "webhook")


VARIANTS: dict[str, Variant] = {
    "one-mark": Variant(
        "one-mark",
        # Every late write upserting one row per day (backend 0 for all): the shared row
        # migration 0014 avoids.
        statements={"dirty_days/mark_days": (HOT_ROWS / "mark_days.sql").read_text()},
        paths=("late",),
    ),
    "before": Variant(
        "before",
        # The counter's one row per (property, day, kind, outcome, code) of before 0009.
        setup=(
            "CREATE UNIQUE INDEX ingest_counters_one_row_idx "
            "ON ingest_counters (property_id, day, kind, outcome, code)",
        ),
        statements={
            "ingest_counters/add_many_counts": (HOT_ROWS / "add_many_counts.sql").read_text(),
            "tenant_events/store_event": (HOT_ROWS / "store_event.sql").read_text(),
        },
    ),
    "after": Variant("after", paths=PATHS),
}


@dataclass(frozen=True)
class Command:
    """What one connection does in a run."""

    variant: str
    conninfo: str
    path: str
    seconds: float
    requests: int
    tag: str


@dataclass(frozen=True)
class Outcome:
    """One connection's run: when it started and finished, when each answer came."""

    started: float
    finished: float
    answered: list[float]
    failures: int
    cpu_seconds: float


@dataclass(frozen=True)
class Measure:
    rate: float
    lock_share: float
    client_cpu_ms: float
    failures: int


# --------------------------------------------------------------------------- workers


def _worker(commands: Any, results: Any, go: Any) -> None:
    """One warm container: for each command, warms up, answers ``ready``, starts on
    ``go`` and answers an :class:`Outcome` (or what went wrong)."""
    import collect_handler
    import webhook_handler
    from funnel.platform import sql
    from funnel.platform.runtime import reset_runtime

    handlers = {
        "collect": (collect_handler.lambda_handler, 202, _page_view),
        "webhook": (webhook_handler.lambda_handler, 200, _scan),
        "late": (webhook_handler.lambda_handler, 200, _late_scan),
    }
    layer_statements = dict(sql.QUERIES)
    current: tuple[str, str] | None = None
    for command in iter(commands.get, None):
        if current != (command.variant, command.conninfo):
            sql.QUERIES.clear()
            sql.QUERIES.update(layer_statements)
            sql.QUERIES.update(VARIANTS[command.variant].statements)
            os.environ["DATABASE_URL"] = command.conninfo
            reset_runtime()
            current = (command.variant, command.conninfo)
        try:
            results.put(_run(command, *handlers[command.path], ready=lambda: results.put(READY), go=go))
        except Exception as exc:
            results.put(f"{command.path} on {command.variant} failed: {exc!r}")


def _run(
    command: Command,
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    expected: int,
    build: Callable[[str, int], dict[str, Any]],
    *,
    ready: Callable[[], None],
    go: Any,
) -> Outcome:
    context = LambdaContext()
    with quiet():
        warm = handler(build(f"{command.tag}w", 0), context)
        if warm["statusCode"] != expected:
            raise RuntimeError(f"warm-up answered {warm}")
        ready()
        go.wait()
        answered: list[float] = []
        failures = 0
        started, cpu = time.perf_counter(), time.process_time()
        stop = started + command.seconds
        for i in range(command.requests):
            if time.perf_counter() >= stop:
                break
            if handler(build(command.tag, i), context)["statusCode"] == expected:
                answered.append(time.perf_counter())
            else:
                failures += 1
        return Outcome(started, time.perf_counter(), answered, failures, time.process_time() - cpu)


def _page_view(tag: str, i: int) -> dict[str, Any]:
    event = json.loads(json.dumps(PAGE_VIEW))
    event["body"] = json.dumps(
        {
            "type": "page_view",
            "eventId": f"evt_{tag}_{i:06d}",
            "propertyId": "default",
            "visitorId": f"vis_{tag}_{i // PAGES_PER_VISITOR:06d}",
            "path": f"/page/{i % PAGES_PER_VISITOR}",
            "title": "Page",
            "referrer": "https://www.google.com/",
        }
    )
    return event


def _scan(tag: str, i: int, *, late: timedelta = timedelta()) -> dict[str, Any]:
    from funnel.platform.signatures import sign

    document = json.loads(SCAN["body"])
    # Finished just now (or ``late`` ago): the tenant's latest scan keeps moving, as in a
    # batch scan.
    occurred = (datetime.now(UTC) - late).isoformat().replace("+00:00", "Z")
    document.update(tenantId=TENANT, occurredAt=occurred)
    document["payload"].update(tenantId=TENANT, jobId=f"job-{tag}-{i}", completedAt=occurred)
    body = json.dumps(document, separators=(",", ":"))
    msg_id, now = f"msg_{tag}_{i}", int(time.time())
    event = json.loads(json.dumps(SCAN))
    event["body"] = body
    event["headers"].update(
        {
            "x-admin-key": ADMIN_KEY,
            "webhook-id": msg_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign(SECRET, msg_id, now, body),
        }
    )
    return event


def _late_scan(tag: str, i: int) -> dict[str, Any]:
    return _scan(tag, i, late=LATE)


# --------------------------------------------------------------------------- parent


class Pool:
    """``size`` worker processes, each with its own queue of commands."""

    def __init__(self, size: int) -> None:
        # Forked from this process once it has imported the handlers (warm containers): the
        # workers share those pages instead of each holding its own copy, which on a small
        # machine costs every request cache misses that grow with the number of workers.
        import collect_handler  # noqa: F401
        import webhook_handler  # noqa: F401

        gc.collect()
        gc.freeze()
        context = multiprocessing.get_context("fork")
        self.results: Any = context.Queue()
        self.go: Any = context.Event()
        self.queues: list[Any] = [context.Queue() for _ in range(size)]
        self.processes = [
            context.Process(target=_worker, args=(queue, self.results, self.go), daemon=True)
            for queue in self.queues
        ]
        for process in self.processes:
            process.start()

    def run(self, connections: int, command: Command) -> Measure:
        """``command`` on the first ``connections`` workers at once."""
        self.go.clear()
        for index in range(connections):
            self.queues[index].put(dataclasses.replace(command, tag=f"{command.tag}c{index}"))
        for _ in range(connections):
            self._answer(str)
        with sampling(command.conninfo) as lock_share:
            self.go.set()
            outcomes: list[Outcome] = [self._answer(Outcome) for _ in range(connections)]
        # Counted only while every connection was running: processes start and stop apart.
        first, last = max(o.started for o in outcomes), min(o.finished for o in outcomes)
        answered = sum(first < at <= last for o in outcomes for at in o.answered)
        requests = sum(len(o.answered) + o.failures for o in outcomes)
        return Measure(
            answered / (last - first),
            lock_share(),
            1000 * sum(o.cpu_seconds for o in outcomes) / max(requests, 1),
            sum(o.failures for o in outcomes),
        )

    def _answer(self, kind: type) -> Any:
        answer = self.results.get(timeout=ANSWER_TIMEOUT_SECONDS)
        if not isinstance(answer, kind) or (kind is str and answer != READY):
            raise RuntimeError(answer)
        return answer

    def close(self) -> None:
        for queue in self.queues:
            queue.put(None)
        for process in self.processes:
            process.join(timeout=30)


SAMPLE = """
SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*)
  FROM pg_stat_activity
 WHERE datname = current_database()
   AND pid <> pg_backend_pid()
   AND state IN ('active', 'idle in transaction')
"""


@contextmanager
def sampling(conninfo: str) -> Iterator[Callable[[], float]]:
    """Sample the busy backends of ``conninfo``'s database (but the sampler's own) while
    the block runs; yields the share of those samples waiting on a lock."""
    counts = [0, 0]
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while not stop.is_set():
                waiting, busy = conn.execute(SAMPLE, prepare=True).fetchone() or (0, 0)
                counts[0] += waiting
                counts[1] += busy
                stop.wait(SAMPLE_EVERY_SECONDS)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: counts[0] / counts[1] if counts[1] else 0.0
    finally:
        stop.set()
        thread.join()


def variant_database(server: str, variant: Variant) -> str:
    conninfo = create_database(server, f"funnel_conc_{variant.name}_{uuid.uuid4().hex[:6]}")
    migrate_database(conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in variant.setup:
            conn.execute(statement.encode())
    return conninfo


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--levels", default="1,4,16", help="concurrent connections (default 1,4,16)")
    parser.add_argument("--seconds", type=float, default=6, help="length of a run (default 6)")
    parser.add_argument(
        "--requests", type=int, default=5000, help="most requests per connection in a run (default 5000)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant per level (default 3)")
    parser.add_argument("--paths", default=",".join(PATHS), help="collect, webhook or both (default)")
    parser.add_argument("--smoke", action="store_true", help="CI: one round of 1 s runs")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.requests, args.rounds = 1, 40, 1
    levels = [int(level) for level in args.levels.split(",")]
    paths = args.paths.split(",")
    variants = list(VARIANTS.values())

    measures: dict[tuple[str, str, int], list[Measure]] = {}
    with bench_database(ENVIRONMENT) as server:
        databases = {variant.name: variant_database(server, variant) for variant in variants}
        pool = Pool(max(levels))
        try:
            for round_number in range(args.rounds):
                # Every other round in reverse, so a drift of the machine's load favours no side.
                forward = round_number % 2 == 0
                for path in paths:
                    for level in levels if forward else levels[::-1]:
                        for variant in variants if forward else variants[::-1]:
                            if path not in variant.paths:
                                continue
                            command = Command(
                                variant=variant.name,
                                conninfo=databases[variant.name],
                                path=path,
                                seconds=args.seconds,
                                requests=args.requests,
                                tag=f"{path}-{variant.name}r{round_number}l{level}",
                            )
                            measures.setdefault((path, variant.name, level), []).append(
                                pool.run(level, command)
                            )
        finally:
            pool.close()
    report(paths, levels, variants, measures)


def report(
    paths: list[str],
    levels: list[int],
    variants: list[Variant],
    measures: dict[tuple[str, str, int], list[Measure]],
) -> None:
    """Per path and level, each of the path's variants' median events/s, lock-wait share
    and client CPU per request (every round's rate in brackets), the last variant's ratio
    to the first, then the targets."""
    last = variants[-1].name

    def median(path: str, name: str, level: int, what: Callable[[Measure], float]) -> float:
        return statistics.median(what(m) for m in measures[(path, name, level)])

    def rate(path: str, name: str, level: int) -> float:
        return median(path, name, level, lambda m: m.rate)

    for path in paths:
        measured = [v for v in variants if path in v.paths]
        first = measured[0].name
        header = "".join(
            f"  {v.name + ' events/s':>16} {'lock waits':>10} {'client ms':>9}" for v in measured
        )
        print(f"{'path':<8} {'conns':>5}{header}  {last}/{first}  rounds (events/s)")
        for level in levels:
            cells = "".join(
                f"  {rate(path, v.name, level):>16,.0f}"
                f" {median(path, v.name, level, lambda m: m.lock_share):>10.1%}"
                f" {median(path, v.name, level, lambda m: m.client_cpu_ms):>9.2f}"
                for v in measured
            )
            rounds = "; ".join(
                f"{v.name} " + ", ".join(f"{m.rate:,.0f}" for m in measures[(path, v.name, level)])
                for v in measured
            )
            ratio = rate(path, last, level) / rate(path, first, level)
            print(f"{path:<8} {level:>5}{cells}  {ratio:>{len(last) + len(first) + 1}.2f}  ({rounds})")
    print("(client ms: CPU a worker process spent per request, handler and request building)")
    top, below = levels[-1], levels[-2] if len(levels) > 1 else levels[-1]
    for path in paths:
        share = median(path, last, top, lambda m: m.lock_share)
        print(
            f"{path} ({last}): lock waits at {top} connections {share:.1%} "
            f"(target <= {LOCK_WAIT_TARGET:.0%}); events/s at {top} / at {below} "
            f"{rate(path, last, top) / rate(path, last, below):.2f} (target >= 1.00)"
        )
    failures = sum(m.failures for runs in measures.values() for m in runs)
    if failures:
        print(f"requests answered with an error: {failures}")


if __name__ == "__main__":
    main()
