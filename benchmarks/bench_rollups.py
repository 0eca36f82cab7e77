"""Rolling up one UTC day of raw events against one GROUP BY scan of the same rows, on the
same PostgreSQL, in one run; then the same at twice the events, to see how the cost grows.

For each size N (default 1,000,000 then 2,000,000) the raw tables are emptied and one UTC
day of N events is generated server-side (``INSERT ... SELECT generate_series``): 96 % page
views (an ``events`` row and its ``web_traffic_logs`` row each; three properties, six
traffic sources, 200 paths, a TTFB on four in five) and 4 % form starts and submits, from
N/8 visitors (half of them first seen earlier) in N/4 sessions, with N/1000 leads, N/1000
tenant events and the day's ingest counters; then ``VACUUM ANALYZE``. Rounds alternate:

- baseline: ``SELECT property_id, count(*), count(DISTINCT visitor_id) FROM
  web_traffic_logs WHERE occurred_at in the day GROUP BY property_id``. The least any
  daily rollup must do is read every page view of the day once and count its distinct
  visitors; a plain ``count(*)`` would not be a rollup of anything. It runs twice a round:
  on a fresh connection with the server's defaults, and on the rollup's own connection
  with its settings (``random_page_cost`` 1.1, ``work_mem`` of ``ROLLUP_WORK_MEM_MB``);
  the ratios divide by the faster of the two, so no setting favours the rollup.
- day: the day's rollup transaction (``funnel.readmodel.rollups.rollup_day``: the lock, every raw
  table's reads, the visitor sketches, the three tables replaced), committed;
- run: the whole ``run_rollups`` of that day as the function runs it: ledger rows, the
  day, and the discrepancy monitor (the day is settled, so the monitor reads it again).

Printed: median seconds of each, the day's and the run's ratio to the baseline (aim: the
day at most 3), and each one's growth from the first size to the next (linear: 2.0).

    make bench-rollups
    python -m benchmarks.bench_rollups --events 200000 400000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, date, datetime, timedelta

import psycopg

from benchmarks.common import bench_database
from funnel.platform.runtime import get_runtime
from funnel.platform.sql import query
from funnel.readmodel.rollups import Scope, Trigger, day_bounds, rollup_day, run_rollups

BASELINE = """
SELECT property_id, count(*), count(DISTINCT visitor_id)
  FROM web_traffic_logs
 WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
 GROUP BY property_id
"""

# One statement per table; every id and attribute is a function of the row number, so
# page views find their session and visitor without a join.
GENERATE = (
    """
    INSERT INTO visitors (id, property_id, visitor_key, first_seen_at, last_seen_at)
    SELECT md5('v' || g)::uuid, 'prop-' || (g %% 3), 'v:' || g,
           CASE WHEN g %% 2 = 0 THEN %(start)s - interval '30 days'
                ELSE %(start)s + (g %% 80000) * interval '1 second' END,
           %(start)s + interval '23 hours'
      FROM generate_series(1, %(visitors)s) AS g
    """,
    """
    INSERT INTO sessions (id, property_id, visitor_id, started_at, last_seen_at, landing_path,
                          traffic_source, device_type, page_views)
    SELECT md5('s' || s)::uuid, 'prop-' || ((1 + s %% %(visitors)s) %% 3),
           md5('v' || (1 + s %% %(visitors)s))::uuid,
           %(start)s + (s %% 85000) * interval '1 second',
           %(start)s + (s %% 85000 + 120) * interval '1 second',
           '/page/' || (s %% 200),
           (ARRAY['direct', 'organic_search', 'paid_search', 'social', 'email', 'referral'])[1 + s %% 6],
           'desktop', 4
      FROM generate_series(1, %(sessions)s) AS s
    """,
    """
    INSERT INTO events (id, property_id, visitor_id, session_id, event_type, client_event_id, path,
                        occurred_at)
    SELECT md5('e' || p)::uuid, 'prop-' || ((1 + s %% %(visitors)s) %% 3),
           md5('v' || (1 + s %% %(visitors)s))::uuid,
           md5('s' || s)::uuid, 'page_view', 'e' || p, '/page/' || ((s + p / %(sessions)s) %% 200),
           %(start)s + (s %% 85000 + 30 * (p / %(sessions)s)) * interval '1 second'
      FROM (SELECT p, 1 + p %% %(sessions)s AS s FROM generate_series(0, %(page_views)s - 1) AS p) AS numbered
    """,
    """
    INSERT INTO web_traffic_logs (id, event_id, property_id, visitor_id, session_id, occurred_at, path,
                                  traffic_source, device_type, ttfb_ms, is_entrance, is_exit, is_conversion)
    SELECT md5('l' || p)::uuid, md5('e' || p)::uuid, 'prop-' || ((1 + s %% %(visitors)s) %% 3),
           md5('v' || (1 + s %% %(visitors)s))::uuid, md5('s' || s)::uuid,
           %(start)s + (s %% 85000 + 30 * (p / %(sessions)s)) * interval '1 second',
           '/page/' || ((s + p / %(sessions)s) %% 200),
           (ARRAY['direct', 'organic_search', 'paid_search', 'social', 'email', 'referral'])[1 + s %% 6],
           'desktop', CASE WHEN p %% 5 = 0 THEN NULL ELSE 20 + (p::bigint * 7919) %% 900 END,
           p < %(sessions)s, p >= %(page_views)s - %(sessions)s, p < %(sessions)s AND s %% 20 = 0
      FROM (SELECT p, 1 + p %% %(sessions)s AS s FROM generate_series(0, %(page_views)s - 1) AS p) AS numbered
    """,
    """
    INSERT INTO events (id, property_id, visitor_id, session_id, event_type, client_event_id, path,
                        occurred_at)
    SELECT md5('f' || f)::uuid, 'prop-' || ((1 + s %% %(visitors)s) %% 3),
           md5('v' || (1 + s %% %(visitors)s))::uuid,
           md5('s' || s)::uuid, CASE WHEN f %% 2 = 0 THEN 'form_start' ELSE 'form_submit' END, 'f' || f,
           '/signup', %(start)s + (s %% 85000 + 10) * interval '1 second'
      FROM (SELECT f, 1 + f %% %(sessions)s AS s
              FROM generate_series(0, %(form_events)s - 1) AS f) AS numbered
    """,
    """
    INSERT INTO leads (email_normalized, property_id, visitor_first_seen_at, first_captured_at,
                       last_captured_at)
    SELECT 'lead' || g || '@example.org', 'prop-' || (g %% 3), %(start)s - interval '2 days',
           %(start)s + (g %% 86000) * interval '1 second', %(start)s + (g %% 86000) * interval '1 second'
      FROM generate_series(1, %(rare)s) AS g
    """,
    """
    INSERT INTO ingest_counters (property_id, day, kind, outcome, code, count)
    SELECT 'prop-' || g, %(day)s, kind, outcome, code, %(rare)s
      FROM generate_series(0, 2) AS g,
           (VALUES ('event', 'accepted', ''), ('event', 'rejected', 'validation_failed'),
                   ('event', 'duplicate', ''), ('lead', 'accepted', '')) AS c (kind, outcome, code)
    """,
    """
    INSERT INTO tenant_events (id, tenant_id, event_type, subject_id, payload, occurred_at)
    SELECT md5('t' || g)::uuid, 'tenant-' || (g %% 50), 'scan.completed', 'job-' || g,
           jsonb_build_object('mediaCount', g %% 40, 'identitiesDetected', g %% 7,
                              'durationMs', 1000 + g %% 5000),
           %(start)s + (g %% 86000) * interval '1 second'
      FROM generate_series(1, %(rare)s) AS g
    """,
)
RAW_TABLES = (
    "visitors, sessions, events, web_traffic_logs, leads, ingest_counters, tenant_events, "
    "daily_metric_rollups, daily_ingest_rollups, service_usage_rollups, rollup_runs"
)


def generate_day(conninfo: str, day: date, events: int) -> None:
    start, _ = day_bounds(day)
    form_events = events * 4 // 100
    sizes = {
        "day": day,
        "start": start,
        "visitors": events // 8,
        "sessions": events // 4,
        "page_views": events - form_events,
        "form_events": form_events,
        "rare": max(1, events // 1000),
    }
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {RAW_TABLES} CASCADE")
        with conn.transaction():
            for statement in GENERATE:
                conn.execute(statement, sizes)
        conn.execute("VACUUM ANALYZE")


def work_mem() -> dict[str, str]:
    return {"work_mem": f"{get_runtime().settings.rollup.rollup_work_mem_mb}MB"}


def time_baseline(day: date) -> float:
    """The scan on the rollup's connection, with the rollup's work_mem."""
    start, end = day_bounds(day)
    conn = get_runtime().database.connection()
    began = time.perf_counter()
    with conn.transaction():
        conn.execute(query("rollups/set_work_mem"), work_mem())
        conn.execute(BASELINE, {"start": start, "end": end}, prepare=False).fetchall()
    return time.perf_counter() - began


def time_baseline_on_defaults(conninfo: str, day: date) -> float:
    """The scan on a fresh connection, with the server's settings."""
    start, end = day_bounds(day)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        began = time.perf_counter()
        conn.execute(BASELINE, {"start": start, "end": end}).fetchall()
        return time.perf_counter() - began


def time_day(day: date) -> float:
    conn = get_runtime().database.connection()
    settings = get_runtime().settings.rollup
    began = time.perf_counter()
    with conn.transaction():
        rollup_day(
            conn,
            day,
            scope=Scope.ALL,
            property_id=None,
            generated_at=datetime.now(UTC),
            work_mem_mb=settings.rollup_work_mem_mb,
            breakdown_keys_per_day=settings.rollup_breakdown_keys_per_day,
        )
    return time.perf_counter() - began


def time_run(day: date) -> float:
    began = time.perf_counter()
    report = run_rollups(get_runtime(), from_day=day, to_day=day, trigger=Trigger.CLI)
    elapsed = time.perf_counter() - began
    if report.discrepancies or len(report.days) != 1:
        raise RuntimeError(f"unexpected rollup run: {report.summary()}")
    return elapsed


def measure(conninfo: str, day: date, events: int, rounds: int) -> dict[str, float]:
    began = time.perf_counter()
    generate_day(conninfo, day, events)
    print(f"\n{events:,} events on {day}: generated in {time.perf_counter() - began:.1f} s")
    # Warm the caches (and the connection) the same way for every side.
    time_baseline_on_defaults(conninfo, day)
    time_baseline(day)
    time_day(day)
    timings: dict[str, list[float]] = {"defaults": [], "session": [], "day": [], "run": []}
    for _ in range(rounds):
        timings["defaults"].append(time_baseline_on_defaults(conninfo, day))
        timings["session"].append(time_baseline(day))
        timings["day"].append(time_day(day))
        timings["run"].append(time_run(day))
    medians = {side: statistics.median(values) for side, values in timings.items()}
    medians["baseline"] = min(medians["defaults"], medians["session"])
    for side, label in (
        ("defaults", "one GROUP BY scan, server defaults"),
        ("session", "one GROUP BY scan, the rollup's session settings"),
        ("day", "rollup of the day (one transaction, three tables)"),
        ("run", "rollup run of the day (ledger, day, monitor)"),
    ):
        rounds_text = ", ".join(f"{value:.3f}" for value in timings[side])
        print(f"  {label:<52} {medians[side]:7.3f} s  (rounds: {rounds_text})")
    print(
        f"  ratio to the faster scan: day {medians['day'] / medians['baseline']:.2f} (target <= 3), "
        f"run {medians['run'] / medians['baseline']:.2f}"
    )
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--events", type=int, nargs="+", default=[1_000_000, 2_000_000], help="events per day, in order"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per size (default 3)")
    args = parser.parse_args()

    # A settled day (the monitor checks it) well inside raw retention.
    day = datetime.now(UTC).date() - timedelta(days=3)
    with bench_database({"DB_STATEMENT_TIMEOUT_MS": "600000"}) as conninfo:
        results = [(events, measure(conninfo, day, events, args.rounds)) for events in args.events]
    (first_events, first), *rest = results
    for events, medians in rest:
        factor = events / first_events
        print(
            f"\ngrowth from {first_events:,} to {events:,} events (x{factor:g}): "
            f"scan x{medians['baseline'] / first['baseline']:.2f}, day x{medians['day'] / first['day']:.2f}, "
            f"run x{medians['run'] / first['run']:.2f}  (linear: x{factor:g})"
        )


if __name__ == "__main__":
    main()
