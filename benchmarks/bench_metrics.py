"""Latency of the metrics summary and of visitors now, and how they grow with the raw
data, in one run.

Prints the p50 and p95 latency of ``GET /v1/metrics/summary`` over 90 days with
``compareTo`` and ``includeFunnel``, through the Lambda handler in process on the same
PostgreSQL, for two generated read models, and the ratio of their p95s (aim: at most 1.3).
The warm container's cache is bypassed (it keeps nothing), so every request pays what a
first request pays: the version check and the whole report.

Then the same summary with ``includeBreakdowns=true``: each database also holds the
breakdown rollups of the last 200 days (40 pages, 20 landing pages, 3 device types, 15
countries and 6 sources a property and day, each with its visitors' sketch), so the
difference between the two is what the breakdowns cost a dashboard's first request.

Then the same for ``GET /v1/metrics/now?propertyId=www``, the one read of raw events: each
database also holds the raw retention's 90 days of raw events (visitors, sessions and
three events per visitor and day, the last of them in the five minutes before the run),
so its cost is measured against a raw table ten times larger, with ten times the visitors
on the site now.

What "10x the raw data" means for an API that reads rollups: the site has ten times the
visitors and page views (so ten times the visitors in each daily sketch, which for large
sites are full HyperLogLog arrays rather than short lists), ten times the leads, ten times
the tenants (milestones) and so ten times the service-usage rows. The number of properties
(3) and days (two years) stays, so the daily marketing and ingest rollups keep their row
count: that is the point of reading rollups. At 1x: 3 properties with 320, 140 and 70
visitors a day, 2 % of them becoming leads, 300 tenants created over the two years.

    make bench-metrics                 # embedded PostgreSQL
    DATABASE_URL=... make bench-metrics
    python -m benchmarks.bench_metrics --requests 300 --rounds 6
"""

from __future__ import annotations

import argparse
import base64
import bisect
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from benchmarks.common import LambdaContext, quiet
from funnel.platform.migrate import migrate_database
from funnel.platform.runtime import get_runtime, reset_runtime
from funnel.readmodel import sketch_blocks
from funnel.readmodel.sketch import visitors_sketch
from funnel_local.postgres import create_database, database

ADMIN_KEY = "bench-admin-key"
DAYS = 730
PROPERTIES = {"www": 320, "docs": 140, "blog": 70}
SOURCES = ("direct", "organic_search", "paid_search", "social", "email", "referral")
SOURCE_WEIGHTS = (30, 35, 10, 12, 5, 8)
LEAD_SHARE = 0.02
TENANTS = 300


@dataclass(frozen=True)
class Lead:
    id: uuid.UUID
    captured_at: datetime
    property_id: str


RAW_DAYS = 90
BREAKDOWN_DAYS = 200
PAGES = [f"/page-{n}" for n in range(40)]
COUNTRIES = ["CA", "US", "GB", "FR", "DE", "IN", "BR", "AU", "NL", "ES", "IT", "JP", "MX", "SE", "(not set)"]
DEVICES = ("desktop", "mobile", "tablet")
EVENTS_PER_VISITOR = 3


@dataclass(frozen=True)
class Volume:
    scale: int
    tenants: int
    leads: int
    usage_rows: int
    metric_rows: int
    breakdown_rows: int
    raw_events: int


def _day_start(day: date) -> datetime:
    return datetime.combine(day, day_time.min, UTC)


def _copy(conn: psycopg.Connection, statement: str, rows: Iterable[Sequence[Any]]) -> int:
    count = 0
    with conn.cursor() as cursor, cursor.copy(statement.encode()) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _marketing(
    rng: random.Random, scale: int, days: list[date], leads: list[Lead]
) -> Iterator[tuple[Any, ...]]:
    """Daily metric rollups of each property; the leads they capture are added to ``leads``."""
    for property_id, daily in PROPERTIES.items():
        for day in days:
            visitors = [f"{property_id}-{day}-{n}" for n in range(int(daily * scale * rng.uniform(0.7, 1.3)))]
            sources = rng.choices(SOURCES, SOURCE_WEIGHTS, k=len(visitors))
            by_source: dict[str, list[str]] = {}
            for visitor, source in zip(visitors, sources, strict=True):
                by_source.setdefault(source, []).append(visitor)
            views = {source: len(ids) * 3 for source, ids in by_source.items()}
            captured = [
                Lead(uuid.uuid4(), _day_start(day) + timedelta(seconds=rng.randrange(86_400)), property_id)
                for _ in range(round(len(visitors) * LEAD_SHARE))
            ]
            leads.extend(captured)
            yield (
                property_id,
                day,
                len(visitors),
                len(visitors) // 4,
                visitors_sketch(visitors),
                Jsonb(
                    {
                        source: base64.b64encode(visitors_sketch(ids)).decode()
                        for source, ids in by_source.items()
                    }
                ),
                sum(views.values()),
                len(visitors),
                len(visitors),
                len(visitors),
                len(captured),
                len(visitors) // 10,
                len(captured),
                len(captured),
                len(captured) * 36_000_000,
                len(captured),
                Jsonb(views),
            )


def _tenants(
    rng: random.Random, scale: int, days: list[date], leads: list[Lead]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Milestones of the tenants (60 % from an earlier lead) and their daily usage rows,
    today's (partial) day included: a tenant that scans today is one the summary, ending
    yesterday, must look up in the usage rollups."""
    end = days[-1] + timedelta(days=2)
    by_time = sorted(leads, key=lambda lead: lead.captured_at)
    times = [lead.captured_at for lead in by_time]
    milestones, usage = [], []
    for number in range(TENANTS * scale):
        tenant_id = f"tenant-{number}"
        created = _day_start(days[0]) + timedelta(seconds=rng.randrange(DAYS * 86_400))
        earlier = by_time[
            max(0, bisect.bisect_left(times, created) - 200) : bisect.bisect_left(times, created)
        ]
        lead_id = rng.choice(earlier).id if earlier and rng.random() < 0.6 else None
        api_key = created + timedelta(hours=rng.uniform(0, 96)) if rng.random() < 0.8 else None
        first_scan = created + timedelta(hours=rng.uniform(1, 240)) if rng.random() < 0.7 else None
        scan_days = []
        day = first_scan.date() if first_scan is not None else end
        while day < end:
            scan_days.append(day)
            day += timedelta(days=rng.choice((1, 2, 3, 5, 8)))
        milestones.append(
            (
                tenant_id,
                created,
                lead_id,
                api_key,
                first_scan if scan_days else None,
                _day_start(scan_days[-1]) if scan_days else None,
            )
        )
        for day in scan_days:
            done = rng.randrange(1, 6)
            usage.append(
                (
                    day,
                    tenant_id,
                    done,
                    rng.randrange(2),
                    done * 20,
                    done * 5,
                    rng.randrange(3),
                    done * 2,
                    done,
                    done * 3000,
                    done,
                )
            )
    return milestones, usage


def _raw_events(conn: psycopg.Connection, rng: random.Random, scale: int, now: datetime) -> int:
    """The raw retention's 90 days of visitors, sessions and events of every property: each
    visitor of a day comes once, with three events; on the last day the visitors' events
    fall in the hour before ``now``, some of them in its last five minutes."""
    visitors, sessions, events = [], [], []
    for property_id, daily in PROPERTIES.items():
        for back in range(RAW_DAYS, 0, -1):
            day_start = now - timedelta(days=back)
            span = 86_400.0 if back > 1 else 3_600.0
            for _ in range(daily * scale):
                visitor_id, session_id = uuid.uuid4(), uuid.uuid4()
                first = day_start + timedelta(days=1) - timedelta(seconds=rng.uniform(0, span))
                visitors.append((visitor_id, property_id, f"v:{visitor_id.hex}", first, first))
                sessions.append((session_id, property_id, visitor_id, first, first, "direct", "desktop"))
                for step in range(EVENTS_PER_VISITOR):
                    at = min(first + timedelta(seconds=20 * step), now)
                    events.append(
                        (
                            uuid.uuid4(),
                            property_id,
                            visitor_id,
                            session_id,
                            "page_view",
                            uuid.uuid4().hex,
                            "/",
                            at,
                        )
                    )
    _copy(
        conn,
        "COPY visitors (id, property_id, visitor_key, first_seen_at, last_seen_at) FROM STDIN",
        visitors,
    )
    _copy(
        conn,
        "COPY sessions (id, property_id, visitor_id, started_at, last_seen_at, traffic_source, device_type) "
        "FROM STDIN",
        sessions,
    )
    return _copy(
        conn,
        "COPY events (id, property_id, visitor_id, session_id, event_type, client_event_id, path, "
        "occurred_at) FROM STDIN",
        events,
    )


def _breakdowns(rng: random.Random, scale: int, days: list[date], now: datetime) -> Iterator[tuple[Any, ...]]:
    """Breakdown rollups of each property and day: every visitor lands on one of 20
    pages, views three of 40, from one device, country and source (skewed, as sites are)."""
    for property_id, daily in PROPERTIES.items():
        for day in days:
            keys: dict[tuple[str, str], list[Any]] = {}
            for n in range(int(daily * scale * rng.uniform(0.7, 1.3))):
                visitor = f"{property_id}-{day}-{n}"
                pages = rng.choices(PAGES, weights=range(40, 0, -1), k=3)
                landed = pages[0] if rng.random() < 0.5 else PAGES[rng.randrange(20)]
                for dimension, key, views in (
                    ("landing_page", landed, 3),
                    *(("page", page, 1) for page in pages),
                    ("device", rng.choices(DEVICES, (60, 35, 5))[0], 3),
                    ("country", rng.choices(COUNTRIES, range(15, 0, -1))[0], 3),
                    ("source", rng.choices(SOURCES, SOURCE_WEIGHTS)[0], 3),
                ):
                    entry = keys.setdefault((dimension, key), [set(), 0, 0])
                    entry[0].add(visitor)
                    entry[1] += views
                    entry[2] += dimension == "landing_page"
            for (dimension, key), (visitors, views, entrances) in keys.items():
                yield (
                    property_id,
                    day,
                    dimension,
                    key,
                    len(visitors),
                    visitors_sketch(sorted(visitors)),
                    views,
                    entrances,
                    entrances // 20,
                    now,
                )


def generate(conninfo: str, scale: int, today: date, now: datetime, seed: int = 7) -> Volume:
    """Write two years of rollups, leads, milestones and rollup runs, and 90 days of raw
    events up to ``now``, at ``scale``."""
    rng = random.Random(seed)
    days = [today - timedelta(days=DAYS - n) for n in range(DAYS)]
    leads: list[Lead] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        metric_rows = _copy(
            conn,
            "COPY daily_metric_rollups (property_id, day, unique_visitors, returning_visitors, "
            "visitors_sketch, source_visitor_sketches, total_page_views, total_sessions, total_entrances, "
            "total_exits, total_conversions, form_starts, form_submits, new_leads, "
            "time_to_first_capture_sum_ms, time_to_first_capture_count, traffic_source_breakdown) FROM STDIN",
            _marketing(rng, scale, days, leads),
        )
        # The pre-merged sketches the rollups keep alongside the days.
        with conn.transaction():
            sketch_blocks.rebuild(conn, days[0], days[-1], property_id=None)
        _copy(
            conn,
            "COPY daily_ingest_rollups (property_id, day, events_accepted, events_rejected, p95_ttfb_ms, "
            "ttfb_samples) FROM STDIN",
            (
                (
                    property_id,
                    day,
                    daily * scale * 6,
                    rng.randrange(10),
                    rng.randrange(40, 400),
                    daily * scale * 2,
                )
                for property_id, daily in PROPERTIES.items()
                for day in days
            ),
        )
        sources = rng.choices(SOURCES, SOURCE_WEIGHTS, k=len(leads))
        _copy(
            conn,
            "COPY leads (id, email_normalized, property_id, first_touch_source, first_touch_utm_source, "
            "first_touch_utm_campaign, first_captured_at, last_captured_at) FROM STDIN",
            (
                (
                    lead.id,
                    f"{lead.id}@bench.example",
                    lead.property_id,
                    source,
                    f"utm-{source}",
                    f"campaign-{rng.randrange(20)}",
                    lead.captured_at,
                    lead.captured_at,
                )
                for lead, source in zip(leads, sources, strict=True)
            ),
        )
        milestones, usage = _tenants(rng, scale, days, leads)
        _copy(
            conn,
            "COPY tenant_milestones (tenant_id, tenant_created_at, lead_id, first_api_key_at, first_scan_at, "
            "last_scan_at) FROM STDIN",
            milestones,
        )
        usage_rows = _copy(
            conn,
            "COPY service_usage_rollups (day, tenant_id, scans_completed, scans_failed, media_processed, "
            "identities_detected, clusters_created, suggestions_generated, suggestions_resolved, "
            "scan_duration_sum_ms, scan_duration_count) FROM STDIN",
            usage,
        )
        # The ledger of a month of hourly runs (its size follows time, not traffic).
        hours = [_day_start(today) - timedelta(hours=n) for n in range(24 * 30, 0, -1)]
        _copy(
            conn,
            "COPY rollup_runs (trigger, from_day, to_day, status, started_at, finished_at) FROM STDIN",
            (
                (
                    "schedule",
                    at.date() - timedelta(days=7),
                    at.date(),
                    "succeeded",
                    at,
                    at + timedelta(minutes=2),
                )
                for at in hours
            ),
        )
        breakdown_rows = _copy(
            conn,
            "COPY daily_breakdown_rollups (property_id, day, dimension, key, visitors, visitors_sketch, "
            "page_views, entrances, conversions, generated_at) FROM STDIN",
            _breakdowns(rng, scale, days[-BREAKDOWN_DAYS:], now),
        )
        raw_events = _raw_events(conn, rng, scale, now)
        # What autovacuum leaves a settled database with: statistics and a visibility map.
        conn.execute("VACUUM (ANALYZE)")
    return Volume(
        scale,
        tenants=len(milestones),
        leads=len(leads),
        usage_rows=usage_rows,
        metric_rows=metric_rows,
        breakdown_rows=breakdown_rows,
        raw_events=raw_events,
    )


def summary_event(today: date, *, breakdowns: bool = False) -> dict[str, Any]:
    path = os.path.join(os.path.dirname(__file__), "..", "events", "metrics", "summary_compare_funnel.json")
    with open(path, encoding="utf-8") as sample:
        event: dict[str, Any] = json.load(sample)
    query = {
        "from": str(today - timedelta(days=90)),
        "to": str(today - timedelta(days=1)),
        "compareTo": "true",
        "includeFunnel": "true",
        **({"includeBreakdowns": "true"} if breakdowns else {}),
    }
    event["rawQueryString"] = "&".join(f"{name}={value}" for name, value in query.items())
    event["queryStringParameters"] = query
    event["headers"]["x-admin-key"] = ADMIN_KEY
    return event


def now_event() -> dict[str, Any]:
    path = os.path.join(os.path.dirname(__file__), "..", "events", "metrics", "now.json")
    with open(path, encoding="utf-8") as sample:
        event: dict[str, Any] = json.load(sample)
    event["rawQueryString"] = "propertyId=www"
    event["queryStringParameters"] = {"propertyId": "www"}
    event["headers"]["x-admin-key"] = ADMIN_KEY
    event["headers"].pop("authorization", None)
    return event


def measure(conninfo: str, event: dict[str, Any], requests: int, now: datetime) -> list[float]:
    """Latencies (ms) of ``requests`` requests through the handler on ``conninfo``'s
    database, its clock pinned at ``now``."""
    import metrics_handler
    from funnel.metrics.api import ReportCache

    os.environ["DATABASE_URL"] = conninfo
    reset_runtime()
    get_runtime().clock = lambda: now
    # A cache that keeps nothing: every request checks the version and computes the report.
    metrics_handler.cache = ReportCache(max_entries=0)
    context = LambdaContext()
    latencies = []
    with quiet():
        for _ in range(requests + 1):
            start = time.perf_counter()
            response = metrics_handler.lambda_handler(event, context)
            latencies.append((time.perf_counter() - start) * 1000)
            if response["statusCode"] != 200:
                raise RuntimeError(f"request failed: {response}")
    return latencies[1:]  # the first opened the connection


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=100, help="summaries per round and scale (default 100)"
    )
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    args = parser.parse_args()

    now = datetime.now(UTC)
    today = now.date()
    events = {
        "summary": summary_event(today),
        "breakdowns": summary_event(today, breakdowns=True),
        "now": now_event(),
    }
    os.environ.update(
        ADMIN_API_KEY=ADMIN_KEY,
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_NAMESPACE="FunnelBench",
    )
    with database(None, persistent=False) as server:
        volumes, databases = [], []
        for scale in (1, 10):
            conninfo = create_database(server, f"funnel_bench_metrics_{scale}x_{uuid.uuid4().hex[:6]}")
            migrate_database(conninfo)
            started = time.perf_counter()
            volumes.append(generate(conninfo, scale, today, now))
            print(f"generated {scale}x in {time.perf_counter() - started:.0f} s", flush=True)
            databases.append(conninfo)
        latencies: dict[str, list[list[float]]] = {name: [[], []] for name in events}
        for _ in range(args.rounds):
            for name, event in events.items():
                for index, conninfo in enumerate(databases):
                    latencies[name][index] += measure(conninfo, event, args.requests, now)
        reset_runtime()

    print("\n90-day GET /v1/metrics/summary?compareTo=true&includeFunnel=true, in process, cache bypassed")
    columns = ("tenants", "leads", "usage rows", "metric rows", "p50 ms", "p95 ms")
    print(f"{'data':<5} " + " ".join(f"{column:>11}" for column in columns))
    p95s = []
    for volume, values in zip(volumes, latencies["summary"], strict=True):
        p95s.append(percentile(values, 0.95))
        print(
            f"{f'{volume.scale}x':<5} {volume.tenants:>11,} {volume.leads:>11,} {volume.usage_rows:>11,} "
            f"{volume.metric_rows:>11,} {statistics.median(values):>11.2f} {p95s[-1]:>11.2f}"
        )
    print(
        f"p95 ratio 10x/1x: {p95s[1] / p95s[0]:.2f}  "
        f"(aim <= 1.3; {args.requests * args.rounds} requests per scale)"
    )

    print("\nThe same with includeBreakdowns=true (top 10 of each of the five lists and (other))")
    columns = ("bkdn rows", "p50 ms", "p95 ms", "p95 vs sum.")
    print(f"{'data':<5} " + " ".join(f"{column:>11}" for column in columns))
    ratios = []
    for index, (volume, values) in enumerate(zip(volumes, latencies["breakdowns"], strict=True)):
        ratios.append(percentile(values, 0.95))
        without = percentile(latencies["summary"][index], 0.95)
        print(
            f"{f'{volume.scale}x':<5} {volume.breakdown_rows:>11,} {statistics.median(values):>11.2f} "
            f"{ratios[-1]:>11.2f} {ratios[-1] / without:>11.2f}"
        )
    print(f"p95 ratio 10x/1x: {ratios[1] / ratios[0]:.2f}")

    print("\nGET /v1/metrics/now?propertyId=www (raw events, the covering index of 0015), in process")
    columns = ("raw events", "p50 ms", "p95 ms")
    print(f"{'data':<5} " + " ".join(f"{column:>11}" for column in columns))
    p95s = []
    for volume, values in zip(volumes, latencies["now"], strict=True):
        p95s.append(percentile(values, 0.95))
        print(
            f"{f'{volume.scale}x':<5} {volume.raw_events:>11,} {statistics.median(values):>11.2f} "
            f"{p95s[-1]:>11.2f}"
        )
    print(f"p95 ratio 10x/1x: {p95s[1] / p95s[0]:.2f}  (10x the raw table and 10x the visitors now)")


if __name__ == "__main__":
    main()
