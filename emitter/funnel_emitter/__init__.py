"""Send signed description-service events to Funnel's webhook endpoint, losing none.

Each event is one JSON envelope posted to ``POST /v1/webhooks/description-service``,
signed with the Standard Webhooks scheme (https://www.standardwebhooks.com) and
authenticated with ``x-admin-key``. Network errors, 408, 429 and 5xx answers are retried
after 1 s, 5 s and 30 s with the same ``webhook-id`` and body, so the receiver can drop
duplicates; with an outbox (a local SQLite file) an event still failing is then retried
with exponential backoff for up to 3 days, across restarts, instead of being dropped.
Events are typed (:class:`ScanCompleted`...), so a missing field fails in the caller.
Every attempt is logged on the ``funnel_emitter`` logger.

Only the standard library is used, so the description service can install this
package without pulling anything else in.
"""

from funnel_emitter._version import __version__
from funnel_emitter.background import BackgroundSender
from funnel_emitter.backoff import Backoff
from funnel_emitter.client import DeliveryResult, WebhookEmitter, sign
from funnel_emitter.events import (
    EVENT_TYPES,
    ApiKeyCreated,
    ClusterCreated,
    Event,
    InvalidEvent,
    ScanCompleted,
    ScanFailed,
    SuggestionResolved,
    TenantCreated,
)
from funnel_emitter.outbox import Outbox, OutboxEntry, OutboxError, WebhookIdReused

__all__ = [
    "EVENT_TYPES",
    "ApiKeyCreated",
    "BackgroundSender",
    "Backoff",
    "ClusterCreated",
    "DeliveryResult",
    "Event",
    "InvalidEvent",
    "Outbox",
    "OutboxEntry",
    "OutboxError",
    "ScanCompleted",
    "ScanFailed",
    "SuggestionResolved",
    "TenantCreated",
    "WebhookEmitter",
    "WebhookIdReused",
    "__version__",
    "sign",
]
