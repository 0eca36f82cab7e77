"""The ingest buffer: when the database cannot be reached within the deadline, a validated
beacon request, lead capture or webhook is put on an SQS queue (``INGEST_QUEUE_URL``) and
answered 202 ``"queued": true``; the IngestBuffer function writes it later through the
same idempotent code as the live path (:mod:`funnel.operations.replay`).

A message holds what the write needs and the request cannot give again: when it was
received (the day, the session, the visitor's daily salt), the client's address and user
agent (the cookieless visitor key is made with the day's salt, which lives in the
database; both are used when written and never stored), and what idempotency needs (the
body with its ``eventId`` values, the ``webhook-id``, a capture's submission id). See
docs/privacy.md#queued-requests and docs/webhooks.md#when-the-database-is-away.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, RootModel

from funnel.platform.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = Logger(child=True)
metrics = Metrics()

# SQS's largest message (256 KiB); a request whose message would be larger is answered
# 503, as without a buffer.
MAX_MESSAGE_BYTES = 256 * 1024


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receivedAt: datetime


class BufferedEvents(_Message):
    """A ``POST /v1/events`` request: its body as received (validated again on replay, by the
    same model) and what the request added to its events."""

    kind: Literal["events"] = "events"
    body: str
    ip: str | None
    userAgent: str | None
    headers: dict[str, str] = Field(description="the request headers the beacon path reads")
    siteHosts: list[str]


class BufferedLead(_Message):
    """A ``POST /v1/leads/capture`` request: the validated capture (a form's fields already
    as JSON) and the submission id that makes its write idempotent."""

    kind: Literal["lead"] = "lead"
    capture: dict[str, Any]
    submissionId: UUID
    ip: str | None
    userAgent: str | None
    requestId: str | None
    # The site origin the capture came from, checked: its consent's evidence.
    origin: str | None = None


class BufferedWebhook(_Message):
    """A webhook: its body exactly as signed (the hash that tells a redelivery from a reused
    ``webhook-id`` is made of it) and its ``webhook-id``."""

    kind: Literal["webhook"] = "webhook"
    body: str
    webhookId: str | None


class BufferedRequest(RootModel[BufferedEvents | BufferedLead | BufferedWebhook]):
    root: Annotated[BufferedEvents | BufferedLead | BufferedWebhook, Field(discriminator="kind")]


class IngestBuffer:
    """Sends messages to the ingest queue, with short timeouts and one retry, so a request
    that already waited out the database's deadline still ends well inside its function's
    timeout.

    Parameters
    ----------
    queue_url
        The queue (``INGEST_QUEUE_URL``; ``AWS_ENDPOINT_URL_SQS`` points boto3 at a local
        SQS-compatible server).
    timeout_seconds
        Connect and read timeout of each of at most two attempts.
    """

    def __init__(self, queue_url: str, *, timeout_seconds: float) -> None:
        self.queue_url = queue_url
        self._timeout = timeout_seconds
        self._client: SQSClient | None = None

    def client(self) -> SQSClient:
        if self._client is None:
            # Imported on first use: only a request the database could not take needs it.
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "sqs",
                config=Config(
                    connect_timeout=self._timeout,
                    read_timeout=self._timeout,
                    retries={"max_attempts": 2, "mode": "standard"},
                ),
            )
        return self._client

    def send(self, message: BufferedRequest) -> str:
        """Send ``message``; returns its SQS message id."""
        body = message.model_dump_json()
        if len(body.encode("utf-8")) > MAX_MESSAGE_BYTES:
            raise ValueError(f"the message is over SQS's {MAX_MESSAGE_BYTES} bytes")
        sent = self.client().send_message(QueueUrl=self.queue_url, MessageBody=body)
        return sent["MessageId"]


def hold(buffer: IngestBuffer | None, message: BufferedRequest, unavailable: DatabaseUnavailable) -> None:
    """Put a request the database could not take on the queue, or raise ``unavailable``
    (the 503 it would have been) when there is no queue or it refuses the message."""
    kind = message.root.kind
    if buffer is None:
        raise unavailable
    try:
        message_id = buffer.send(message)
    except Exception as exc:
        # boto3's errors (throttling, timeouts, a queue that is gone, a message too large):
        # the client hears the database's 503 and retries, as without a buffer.
        logger.error("request could not be buffered", extra={"kind": kind, "error": type(exc).__name__})
        metrics.add_metric(name="BufferSendFailures", unit=MetricUnit.Count, value=1)
        raise unavailable from exc
    logger.warning(
        "request buffered: the database is away",
        extra={"kind": kind, "message_id": message_id, "write_in_doubt": unavailable.in_doubt},
    )
    metrics.add_metric(name="RequestsBuffered", unit=MetricUnit.Count, value=1)
