"""Webhook ingest throughput against plain INSERTs, on the same PostgreSQL, in one run.

Prints deliveries per second through the Lambda handler (in process: signature check,
validation, the idempotent transaction and milestones) divided by single-row autocommit
``INSERT``s per second of the same rows into ``tenant_events``. Rounds alternate so both
sides see the same machine noise; medians are reported.

    make bench-webhook                 # embedded PostgreSQL
    DATABASE_URL=... make bench-webhook
    python -m benchmarks.bench_webhook --events 3000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from benchmarks.common import LambdaContext, alternate, bench_database, quiet, report
from funnel.signatures import sign

ADMIN_KEY = "bench-admin-key"
SECRET = "whsec_YmVuY2htYXJrLXNpZ25pbmctc2VjcmV0LTAwMQ=="
TEMPLATE = json.loads(
    (Path(__file__).resolve().parent.parent / "events" / "webhook_ingest" / "scan_completed.json").read_text()
)


def make_documents(count: int, round_id: str) -> list[dict[str, Any]]:
    base = json.loads(TEMPLATE["body"])
    documents = []
    for i in range(count):
        document = json.loads(json.dumps(base))
        document["tenantId"] = f"tenant-{i % 200}"
        document["payload"]["tenantId"] = document["tenantId"]
        document["payload"]["jobId"] = f"{round_id}-{i}"
        documents.append(document)
    return documents


def signed_events(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = []
    now = int(time.time())
    for document in documents:
        event = json.loads(json.dumps(TEMPLATE))
        body = json.dumps(document, separators=(",", ":"))
        msg_id = f"msg_{uuid.uuid4().hex}"
        event["body"] = body
        event["headers"].update(
            {
                "x-admin-key": ADMIN_KEY,
                "webhook-id": msg_id,
                "webhook-timestamp": str(now),
                "webhook-signature": sign(SECRET, msg_id, now, body),
            }
        )
        events.append(event)
    return events


def run_handler(events: list[dict[str, Any]]) -> float:
    import webhook_handler

    context = LambdaContext()
    with quiet():
        start = time.perf_counter()
        for event in events:
            response = webhook_handler.lambda_handler(event, context)
            if response["statusCode"] != 200:
                raise RuntimeError(f"delivery failed: {response}")
        elapsed = time.perf_counter() - start
    return len(events) / elapsed


def run_inserts(conninfo: str, documents: list[dict[str, Any]]) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        start = time.perf_counter()
        for document in documents:
            conn.execute(
                "INSERT INTO tenant_events (id, tenant_id, event_type, subject_id, payload, occurred_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    uuid.uuid4(),
                    document["tenantId"],
                    document["eventType"],
                    document["payload"]["jobId"],
                    Jsonb(document["payload"]),
                    document["occurredAt"],
                ),
            )
        return len(documents) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="deliveries per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = parser.parse_args()

    with bench_database({"ADMIN_API_KEY": ADMIN_KEY, "WEBHOOK_SIGNING_SECRETS": SECRET}) as conninfo:
        run_handler(signed_events(make_documents(200, "warmup")))
        plain, handler = alternate(
            args.rounds,
            lambda n: run_inserts(conninfo, make_documents(args.events, f"plain{n}")),
            lambda n: run_handler(signed_events(make_documents(args.events, f"hook{n}"))),
        )
    report(
        "webhook deliveries/s through the handler",
        handler,
        "plain single-row autocommit INSERTs/s",
        plain,
        target=0.5,
    )


if __name__ == "__main__":
    main()
