"""Webhook ingest throughput against plain INSERTs, on the same PostgreSQL, in one run.

Prints deliveries per second through the Lambda handler (in process: signature check,
validation, the idempotent transaction and milestones) divided by single-row autocommit
``INSERT``s per second of the same rows into ``tenant_events``. Rounds alternate so every
side sees the same machine noise; medians are reported.

Deliveries are stamped when they are made. The handler's rate with deliveries ten days
late (a sender's backlog) is printed too: each of those also marks its day dirty for the
rollups (``funnel.platform.dirty_days``), in the delivery's transaction.

It also prints a reference: the ratio reached on the same machine by the least a handler
meeting the issue and the webhook contract (docs/webhooks.md#authentication) can be
(Powertools' resolver with validation of the same models, the Logger, Tracer and Metrics
decorators, the admin key and signature checks) around the baseline's bare INSERT, with
no idempotency, attribution or milestones. The real handler cannot beat it; it shows what
the machine allows.

    make bench-webhook                 # embedded PostgreSQL
    DATABASE_URL=... make bench-webhook
    python -m benchmarks.bench_webhook --events 3000 --rounds 5
"""

import argparse
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import psycopg
from psycopg.types.json import Jsonb

from benchmarks.common import LambdaContext, alternate, bench_database, quiet, report
from funnel.platform.signatures import sign

ADMIN_KEY = "bench-admin-key"
SECRET = "whsec_YmVuY2htYXJrLXNpZ25pbmctc2VjcmV0LTAwMQ=="
TEMPLATE = json.loads(
    (Path(__file__).resolve().parent.parent / "events" / "webhook_ingest" / "scan_completed.json").read_text()
)
LATE = timedelta(days=10)


def make_documents(count: int, round_id: str, *, late: timedelta = timedelta()) -> list[dict[str, Any]]:
    """``count`` scans of 200 tenants, stamped now, or ``late`` ago."""
    base = json.loads(TEMPLATE["body"])
    occurred = (datetime.now(UTC) - late).isoformat().replace("+00:00", "Z")
    documents = []
    for i in range(count):
        document = json.loads(json.dumps(base))
        document["tenantId"] = f"tenant-{i % 200}"
        document["occurredAt"] = occurred
        document["payload"].update(
            tenantId=document["tenantId"], jobId=f"{round_id}-{i}", completedAt=occurred
        )
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


def run_handler(
    events: list[dict[str, Any]], handler: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None
) -> float:
    if handler is None:
        import webhook_handler

        handler = webhook_handler.lambda_handler
    context = LambdaContext()
    with quiet():
        start = time.perf_counter()
        for event in events:
            response = handler(event, context)
            if response["statusCode"] != 200:
                raise RuntimeError(f"delivery failed: {response}")
        elapsed = time.perf_counter() - start
    return len(events) / elapsed


INSERT = (
    "INSERT INTO tenant_events (id, tenant_id, event_type, subject_id, payload, occurred_at) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)


def run_inserts(conninfo: str, documents: list[dict[str, Any]]) -> float:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        start = time.perf_counter()
        for document in documents:
            conn.execute(
                INSERT,
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


def floor_handler(conn: psycopg.Connection) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The least handler the issue and docs/webhooks.md allow, around the baseline's bare INSERT
    on ``conn``: the reference for what this machine allows (see the module's docstring).

    (This module does not postpone annotations: Powertools reads the route's annotated
    body parameter when the route is defined, inside this function.)"""
    from aws_lambda_powertools import Logger, Metrics, Tracer
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
    from aws_lambda_powertools.event_handler.openapi.params import Body
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.metrics import MetricUnit

    from funnel.platform.auth import ADMIN_KEY as ADMIN_KEY_KIND
    from funnel.platform.auth import check_key
    from funnel.platform.signatures import verify
    from funnel.webhooks.schemas import WebhookDelivery

    logger, tracer, metrics = Logger(service="bench-floor"), Tracer(service="bench-floor"), Metrics()
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.post("/v1/webhooks/description-service")
    def receive(delivery: Annotated[WebhookDelivery, Body()]) -> Response[str]:
        headers = app.current_event.headers
        check_key([(ADMIN_KEY_KIND, (ADMIN_KEY,))], headers)
        verify([SECRET], headers, app.current_event.body.encode(), now=time.time(), tolerance_seconds=300)
        event, event_id = delivery.root, uuid.uuid4()
        payload = event.payload
        conn.execute(
            INSERT,
            (
                event_id,
                event.tenantId,
                event.eventType,
                payload.subject_id(),
                Jsonb(payload.stored()),
                event.occurredAt,
            ),
        )
        metrics.add_metric(name="WebhooksStored", unit=MetricUnit.Count, value=1)
        return Response(
            200, content_types.APPLICATION_JSON, json.dumps({"ok": True, "eventId": str(event_id)})
        )

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    return lambda_handler


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="deliveries per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = parser.parse_args()

    with (
        bench_database({"ADMIN_API_KEY": ADMIN_KEY, "WEBHOOK_SIGNING_SECRETS": SECRET}) as conninfo,
        psycopg.connect(conninfo, autocommit=True) as floor_conn,
    ):
        floor = floor_handler(floor_conn)
        run_handler(signed_events(make_documents(200, "warmup")))
        run_handler(signed_events(make_documents(200, "floor-warmup")), floor)
        plain, handler, late, floor_rates = alternate(
            args.rounds,
            lambda n: run_inserts(conninfo, make_documents(args.events, f"plain{n}")),
            lambda n: run_handler(signed_events(make_documents(args.events, f"hook{n}"))),
            lambda n: run_handler(signed_events(make_documents(args.events, f"late{n}", late=LATE))),
            lambda n: run_handler(signed_events(make_documents(args.events, f"floor{n}")), floor),
        )
    report(
        "webhook deliveries/s through the handler",
        handler,
        "plain single-row autocommit INSERTs/s",
        plain,
        target=0.5,
        references=[
            ("the same, 10 days late (each marks its day dirty)", late),
            ("least conforming handler around the bare INSERT", floor_rates),
        ],
    )


if __name__ == "__main__":
    main()
