"""Writing buffered requests (:mod:`funnel.platform.buffer`) once the database is back, through the
live path's own functions: the beacon request's events deduplicated by ``eventId``, the
capture by its submission id, the webhook by its ``webhook-id`` and duplicate rule. So a
message delivered twice (SQS delivers at least once), or a request that was in doubt
(its write may have committed before it was buffered), is stored once.

Each write is dated by the clock when it is written: a request received before yesterday
marks the days it changes dirty, and the next scheduled rollup recomputes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from funnel.capture.beacons import BeaconRequest
from funnel.capture.collect import store_events, store_lead
from funnel.capture.identity import Client, DailySalts
from funnel.capture.leads import CaptureRequest
from funnel.capture.schemas import EventsBody, LeadCapture
from funnel.platform.buffer import BufferedEvents, BufferedLead, BufferedRequest, BufferedWebhook
from funnel.platform.errors import DatabaseUnavailable, FunnelError
from funnel.platform.http import strict_json
from funnel.platform.observability import traced
from funnel.platform.runtime import Runtime
from funnel.webhooks.ingest import store_webhook
from funnel.webhooks.schemas import WebhookDelivery

logger = Logger(child=True)
metrics = Metrics()


class DatabaseStillAway(Exception):
    """A record not tried: an earlier one of its batch found the database away."""


@traced
def replay(runtime: Runtime, message: BufferedRequest, salts: DailySalts) -> None:
    """Write one buffered request.

    Raises
    ------
    FunnelError
        ``DatabaseUnavailable`` (and other 503s) when the write should be tried again
        later; a 4xx when the write is refused for good (a ``webhook-id`` reused with
        another body).
    """
    request = message.root
    match request:
        case BufferedEvents():
            events = EventsBody.model_validate(strict_json(request.body)).events()
            beacon = BeaconRequest(
                received_at=request.receivedAt,
                client=Client(ip=request.ip, user_agent=request.userAgent),
                headers=request.headers,
                site_hosts=frozenset(request.siteHosts),
            )
            store_events(runtime, events, beacon, salts)
        case BufferedLead():
            captured = CaptureRequest(
                received_at=request.receivedAt,
                client=Client(ip=request.ip, user_agent=request.userAgent),
                request_id=request.requestId,
                origin=request.origin,
                submission_id=request.submissionId,
            )
            store_lead(runtime, LeadCapture.model_validate(request.capture), captured, salts)
        case BufferedWebhook():
            body = request.body.encode("utf-8")
            event = WebhookDelivery.model_validate(strict_json(body)).root
            store_webhook(runtime, event, request.webhookId, body)


@dataclass
class BatchReplayer:
    """The record handler of one SQS batch: after the first record that finds the database
    away, the others of the batch fail at once (each would wait out the deadline too), and
    all are retried after the queue's visibility timeout.

    Each record is counted: ``BufferedRequestsWritten``, ``BufferedRequestsDeferred`` (to
    be retried), or ``BufferedRequestsRefused``: refused for good (a 4xx), logged and not
    retried: the client was answered 202 and no retry could change the outcome. A
    message that does not parse is a defect: it fails, and reaches the dead-letter queue.
    """

    runtime: Runtime
    salts: DailySalts
    database_away: bool = field(default=False)

    def __call__(self, body: str) -> None:
        if self.database_away:
            metrics.add_metric(name="BufferedRequestsDeferred", unit=MetricUnit.Count, value=1)
            raise DatabaseStillAway()
        message = BufferedRequest.model_validate_json(body)
        try:
            replay(self.runtime, message, self.salts)
        except DatabaseUnavailable:
            self.database_away = True
            metrics.add_metric(name="BufferedRequestsDeferred", unit=MetricUnit.Count, value=1)
            raise
        except FunnelError as exc:
            if exc.status >= 500:
                raise
            logger.error(
                "buffered request refused",
                extra={"kind": message.root.kind, "status": exc.status, "error": exc.code},
            )
            metrics.add_metric(name="BufferedRequestsRefused", unit=MetricUnit.Count, value=1)
            return
        metrics.add_metric(name="BufferedRequestsWritten", unit=MetricUnit.Count, value=1)
