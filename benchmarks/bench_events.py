"""Beacon ingest throughput against plain batched INSERTs, on the same PostgreSQL, in one run.

Prints events per second through ``POST /v1/events`` (the Lambda handler in process:
the per-client bound, validation, visitor and session handling, dedup, traffic logs,
accounting) with batches of 100, divided by ``executemany`` INSERTs per second of the
same rows into ``events`` (one transaction per batch). Rounds alternate; medians are
reported. ``--batch 1`` measures requests of one event each, where what every request
pays (the resolver, the bound, the transaction) weighs most. A third side, alternating
too, times the per-client bound alone (the check every public request pays first), and
its share of a request's time is printed.

    make bench-events
    python -m benchmarks.bench_events --batches 50 --rounds 3
    python -m benchmarks.bench_events --batch 1 --batches 2000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.common import LambdaContext, alternate, bench_database, quiet, report
from funnel.platform.client_limits import public_limit
from funnel.platform.runtime import get_runtime

BATCH = 100
TEMPLATE = json.loads(
    (Path(__file__).resolve().parent.parent / "events" / "collect" / "beacon_batch.json").read_text()
)


def make_batches(count: int, tag: str, now: datetime, size: int = BATCH) -> list[list[dict[str, Any]]]:
    """``count`` batches of ``size`` realistic events, one visitor each: page views with
    their vitals and engagement, form events and a custom event."""
    batches = []
    for b in range(count):
        visitor = f"vis_{tag}_{b:06d}"
        events: list[dict[str, Any]] = []
        for i in range(size):
            at = (now - timedelta(minutes=50) + timedelta(seconds=20 * i)).isoformat()
            base = {
                "eventId": f"evt_{tag}_{b:06d}_{i:03d}",
                "visitorId": visitor,
                "occurredAt": at,
                "path": f"/page/{i // 4}",
            }
            kind = i % 4
            if kind == 0:
                events.append(
                    {**base, "type": "page_view", "title": "Page", "referrer": "https://www.google.com/"}
                )
            elif kind == 1:
                events.append({**base, "type": "web_vitals", "vitals": {"lcp": 1200 + i, "ttfb": 90}})
            elif kind == 2:
                events.append({**base, "type": "engagement", "engagement": {"engagedTimeMs": 1000 * i}})
            else:
                events.append({**base, "type": "custom", "name": "scrolled", "properties": {"i": i}})
        batches.append(events)
    return batches


def run_handler(batches: list[list[dict[str, Any]]]) -> float:
    import collect_handler

    context = LambdaContext()
    requests = []
    for events in batches:
        event = json.loads(json.dumps(TEMPLATE))
        event["body"] = json.dumps({"events": events})
        requests.append(event)
    with quiet():
        start = time.perf_counter()
        for event in requests:
            response = collect_handler.lambda_handler(event, context)
            if response["statusCode"] != 202 or json.loads(response["body"])["accepted"] != len(events):
                raise RuntimeError(f"batch not stored: {response}")
        elapsed = time.perf_counter() - start
    return sum(len(events) for events in batches) / elapsed


def run_executemany(conninfo: str, batches: list[list[dict[str, Any]]]) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        visitor = conn.execute(
            "INSERT INTO visitors (property_id, visitor_key, first_seen_at, last_seen_at) "
            "VALUES ('default', %s, now(), now()) RETURNING id",
            (f"v:bench-{uuid.uuid4().hex}",),
        ).fetchone()[0]
        session = uuid.uuid4()
        conn.execute(
            "INSERT INTO sessions (id, property_id, visitor_id, started_at, last_seen_at, traffic_source, "
            "device_type) VALUES (%s, 'default', %s, now(), now(), 'direct', 'desktop')",
            (session, visitor),
        )
        start = time.perf_counter()
        for events in batches:
            rows = [
                (
                    uuid.uuid4(),
                    visitor,
                    session,
                    e["type"],
                    e.get("name"),
                    e["eventId"],
                    e["path"],
                    e.get("title"),
                    e["occurredAt"],
                    json.dumps({k: e[k] for k in ("vitals", "engagement", "properties") if k in e}),
                )
                for e in events
            ]
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO events (id, property_id, visitor_id, session_id, event_type, event_name, "
                    "client_event_id, path, title, occurred_at, properties) "
                    "VALUES (%s, 'default', %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
                    rows,
                )
        return sum(len(events) for events in batches) / (time.perf_counter() - start)


def run_bound(checks: int) -> float:
    """Checks per second of the per-client bound alone, as the resolver runs it (the
    runtime's settings, limiter and clock), over clients of both address families."""
    runtime = get_runtime()
    group, limit = public_limit("/v1/events", runtime.settings.http)
    addresses = [f"198.51.{n // 256}.{n % 256}" for n in range(500)] + [
        f"2001:db8:{n:x}::1" for n in range(500)
    ]
    start = time.perf_counter()
    for n in range(checks):
        runtime.client_limiter.take(
            group, addresses[n % len(addresses)], limit, now=runtime.clock().timestamp()
        )
    return checks / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="requests per round (default 40)")
    parser.add_argument("--batch", type=int, default=BATCH, help=f"events per request (default {BATCH})")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args()

    # Every request comes from one address: the per-client bound is set above what the
    # loop sends, so each request pays the check and none is refused.
    unbounded = {"CLIENT_EVENTS_PER_MINUTE": "100000000", "CLIENT_EVENTS_BURST": "100000000"}
    with bench_database({"ALLOWED_ORIGINS": "https://www.example.com", **unbounded}) as conninfo:
        now = datetime.now(UTC)
        run_handler(make_batches(5, "warmup", now, args.batch))
        plain, handler, bound = alternate(
            args.rounds,
            lambda n: run_executemany(conninfo, make_batches(args.batches, f"plain{n}", now, args.batch)),
            lambda n: run_handler(make_batches(args.batches, f"hook{n}", now, args.batch)),
            lambda n: run_bound(20_000),
        )
    report(
        f"events/s through POST /v1/events (batches of {args.batch})",
        handler,
        "executemany INSERTs/s of the same rows",
        plain,
        # The target is the default batch's; other sizes are for comparison.
        target=0.3 if args.batch == BATCH else 0.0,
    )
    request_us = 1e6 * args.batch / statistics.median(handler)
    check_us = 1e6 / statistics.median(bound)
    print(
        f"per-client bound: {check_us:.1f} µs a check, {check_us / request_us:.2%} of a request's "
        f"{request_us:,.0f} µs (checks/s, rounds: {', '.join(f'{rate:,.0f}' for rate in bound)})"
    )


if __name__ == "__main__":
    main()
