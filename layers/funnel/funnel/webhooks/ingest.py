"""Ingesting one description-service webhook: idempotently store the event, attribute a
new tenant to its lead, and keep the tenant's funnel milestones current, all in the
caller's transaction; an event dated before yesterday also marks its day dirty
(``funnel.platform.dirty_days``), so the next scheduled rollup recomputes it. The
contract: docs/webhooks.md#idempotency and docs/webhooks.md#attribution-of-tenants-to-leads."""

from __future__ import annotations

import hashlib
import json
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg
import psycopg.errors
from aws_lambda_powertools import Logger
from psycopg.types.json import Jsonb

from funnel.platform import buffer, dirty_days
from funnel.platform.body import strict_json
from funnel.platform.buffer import BufferedRequest, BufferedWebhook
from funnel.platform.errors import Conflict, DatabaseUnavailable, ServiceUnavailable, ValidationFailed
from funnel.platform.runtime import Runtime
from funnel.platform.sql import query
from funnel.webhooks.schemas import TenantCreated, WebhookAccepted, WebhookEvent

logger = Logger(child=True)

# Clocks drift; an event stamped further ahead than this is refused rather than let it
# land in a day that has not happened yet.
MAX_CLOCK_SKEW = timedelta(hours=1)
# The description service did not exist before this; older stamps are broken clocks.
EARLIEST_EVENT = datetime(2020, 1, 1, tzinfo=UTC)
MAX_WEBHOOK_ID_LENGTH = 255
# The unique key of the duplicate rule (tenant, type, occurredAt, subject).
DUPLICATE_RULE_KEY = "tenant_events_dedup_key"


@dataclass(frozen=True)
class IngestResult:
    event_id: UUID
    duplicate: bool


def receive_webhook(
    runtime: Runtime, event: WebhookEvent, *, delivery_id: str | None, body: bytes
) -> WebhookAccepted | None:
    """Check what the schema cannot, then store the event; when the database cannot take it
    in time, buffer it (None: answered 202 ``"queued": true``) or, without a buffer, raise
    its 503. A delivery whose write was sent unanswered (in doubt) is buffered too: its
    replay finds it stored, or stores it.

    Parameters
    ----------
    event
        The validated webhook.
    delivery_id
        The ``webhook-id`` header, None when it is absent or empty.
    body
        The body exactly as signed (see :func:`delivery_digest`).

    Raises
    ------
    ValidationFailed
        ``occurredAt`` out of range, or ``invalid_webhook_id`` for a delivery id over
        ``MAX_WEBHOOK_ID_LENGTH`` characters or not printable.
    """
    now = runtime.clock()
    _check_occurred_at(event, now)
    if delivery_id is not None and (
        len(delivery_id) > MAX_WEBHOOK_ID_LENGTH or not delivery_id.isprintable()
    ):
        raise ValidationFailed("invalid_webhook_id", details={"maxLength": MAX_WEBHOOK_ID_LENGTH})
    try:
        return store_webhook(runtime, event, delivery_id, body)
    except DatabaseUnavailable as unavailable:
        message = BufferedWebhook(receivedAt=now, body=body.decode("utf-8"), webhookId=delivery_id)
        buffer.hold(runtime.ingest_buffer(), BufferedRequest(message), unavailable)
    return None


def store_webhook(
    runtime: Runtime, event: WebhookEvent, delivery_id: str | None, body: bytes
) -> WebhookAccepted:
    """Store a webhook (the live path, and a buffered delivery's replay), dated by the
    clock now."""
    written_at = runtime.clock()
    result = runtime.database.run(
        lambda conn: ingest_webhook(conn, event, delivery_id=delivery_id, body=body, written_at=written_at),
        transaction=False,
    )
    logger.info(
        "webhook stored",
        extra={
            "event_type": event.eventType,
            # The formatter turns the UUID into text, and only for a line it emits.
            "event_id": result.event_id,
            "webhook_id": delivery_id,
            "duplicate": result.duplicate,
        },
    )
    return WebhookAccepted(eventId=result.event_id, duplicate=True if result.duplicate else None)


def _check_occurred_at(event: WebhookEvent, now: datetime) -> None:
    if not EARLIEST_EVENT <= event.occurredAt <= now + MAX_CLOCK_SKEW:
        raise ValidationFailed(
            details=[
                {
                    "loc": "occurredAt",
                    "msg": "occurredAt is implausibly far in the past or future",
                    "type": "out_of_range",
                }
            ]
        )


def ingest_webhook(
    conn: psycopg.Connection,
    event: WebhookEvent,
    *,
    delivery_id: str | None,
    body: bytes,
    written_at: datetime,
) -> IngestResult:
    """Store ``event`` exactly once.

    The common case, a new event, is one statement (``tenant_events/store_event``), atomic
    on its own; the follow-up queries run only for duplicates and conflicts. A new event
    dated before yesterday is stored and marks its day dirty in one transaction. An event that
    duplicates a stored one fails that statement on the duplicate rule's unique key,
    writing nothing; ``webhook_deliveries/claim_duplicate`` then points the delivery's
    webhook-id at the stored event, in one statement too.

    Parameters
    ----------
    conn
        An autocommit connection: each statement commits on its own, and a failed one
        leaves the connection usable for the next.
    event
        The validated webhook.
    delivery_id
        The ``webhook-id`` header. A redelivery with the same id answers with the first
        delivery's event; the same id with another body is a conflict.
    body
        The raw request body, hashed to tell a redelivery from a reused id.
    written_at
        The clock now (not when the delivery arrived: a buffered one is written later),
        which tells whether the event's day is old enough to be marked dirty.

    Raises
    ------
    Conflict
        ``webhook_id_reused`` when ``delivery_id`` was seen with a different body.
    """
    event_id = uuid4()
    digest = delivery_digest(event, body)
    params: dict[str, object] = {
        "id": event_id,
        "webhook_id": delivery_id,
        "body_sha256": digest,
        "tenant_id": event.tenantId,
        "event_type": event.eventType,
        "occurred_at": event.occurredAt,
        "subject_id": event.payload.subject_id(),
        "payload": Jsonb(event.payload.stored()),
        # Used for this lookup only; never stored.
        "email_normalized": event.payload.email if isinstance(event, TenantCreated) else None,
    }
    changed = dirty_days.Changed({dirty_days.utc_day(event.occurredAt)})
    late = bool(changed.due(written_at))
    try:
        # A failed statement rolls a late event's transaction back whole, and the duplicate
        # is then answered as any other.
        with conn.transaction() if late else nullcontext():
            # Prepared from the first delivery of a warm container, not after a few.
            stored = conn.execute(query("tenant_events/store_event"), params, prepare=True).fetchone()
            if late and stored and stored[0]:
                dirty_days.mark(conn, changed, written_at=written_at)
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name != DUPLICATE_RULE_KEY:
            raise
        return _duplicate(conn, params, delivery_id, digest)
    if stored and stored[0]:
        return IngestResult(event_id, duplicate=False)
    if delivery_id is None:
        # Without a webhook-id the statement stores the event or fails on the duplicate
        # rule; the database answered neither.
        raise ServiceUnavailable("event_store_busy", retry_after_seconds=1)
    # Nothing stored and no error: the webhook-id was claimed already.
    return _redelivery(conn, delivery_id, digest)


def delivery_digest(event: WebhookEvent, body: bytes) -> bytes:
    """What tells a redelivery from a reused webhook-id: the SHA-256 of the body, or, for a
    body that carries an email, of the body without it.

    The address is dropped from everything stored, and a hash of a body around it would
    outlive a delete-by-email: the emitter's layout is public, so a guessed address could
    be confirmed against it. Without it, a body is hashed as sorted, compact JSON (a
    redelivery is the same bytes, so it still matches); two bodies that differ only in the
    address count as the same.
    """
    if not (isinstance(event, TenantCreated) and event.payload.email is not None):
        return hashlib.sha256(body).digest()
    document = strict_json(body)
    document["payload"].pop("email", None)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest()


def _duplicate(
    conn: psycopg.Connection, params: dict[str, object], delivery_id: str | None, digest: bytes
) -> IngestResult:
    row = conn.execute(query("webhook_deliveries/claim_duplicate"), params).fetchone()
    existing, claimed = row if row else (None, False)
    if existing is None:
        # The matching row vanished between the two statements (a purge): let the sender
        # retry rather than guess.
        raise ServiceUnavailable("event_store_busy", retry_after_seconds=1)
    if delivery_id is not None and not claimed:
        # Another delivery claimed this webhook-id between the two statements.
        return _redelivery(conn, delivery_id, digest)
    return IngestResult(existing, duplicate=True)


def _redelivery(conn: psycopg.Connection, delivery_id: str, digest: bytes) -> IngestResult:
    stored = conn.execute(query("webhook_deliveries/find_delivery"), {"webhook_id": delivery_id}).fetchone()
    if stored is None:
        raise ServiceUnavailable("event_store_busy", retry_after_seconds=1)
    stored_digest, stored_event_id = stored
    if bytes(stored_digest) != digest:
        raise Conflict("webhook_id_reused", details={"webhookId": delivery_id})
    return IngestResult(stored_event_id, duplicate=True)
