"""The description-service webhook: an envelope ``{eventType, tenantId, occurredAt,
payload}`` whose payload model is chosen by ``eventType`` (a discriminated union).

Payload models ignore fields they do not declare, so the emitter can add fields without
breaking ingestion; only declared fields are ever stored, minus personal data (the
``tenant.created`` email is used for attribution and dropped). The event types and their
fields are docs/webhooks.md#event-types-and-payloads.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    RootModel,
    StringConstraints,
    model_validator,
)

from funnel.platform.emails import redact_emails
from funnel.platform.schemas import Count, Identifier, NormalizedEmail, ShortText, Text, Timestamp

_IGNORED_FIELDS = (
    "Fields not listed here are accepted and ignored (never stored), so a sender may add "
    "fields before Funnel knows them; the envelope around the payload takes no others."
)


class _Payload(BaseModel):
    # The document says so: additionalProperties true and a description on every payload.
    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra={"additionalProperties": True, "description": _IGNORED_FIELDS},
    )

    # Never stored: the envelope's tenantId is the one kept, the email is PII.
    NOT_STORED: ClassVar[frozenset[str]] = frozenset({"tenantId", "email"})
    # The field naming what the event is about (None: the tenant itself).
    SUBJECT: ClassVar[str | None] = None
    tenantId: Identifier | None = None

    def subject_id(self) -> str:
        """The id of what the event is about, part of the duplicate-detection key."""
        return str(getattr(self, self.SUBJECT)) if self.SUBJECT else ""

    def stored(self) -> dict[str, object]:
        """The payload as stored: declared fields only, without personal data, and with
        any email address inside other text than the subject's id (an error message, a
        URL) replaced."""
        kept = self.model_dump(mode="json", exclude=set(self.NOT_STORED), exclude_none=True)
        return {
            name: redact_emails(value) if isinstance(value, str) and name != self.SUBJECT else value
            for name, value in kept.items()
        }


class TenantCreatedPayload(_Payload):
    siteUrl: Annotated[HttpUrl, Field(max_length=2048)] | None = None
    email: NormalizedEmail | None = None
    createdAt: Timestamp | None = None


class ApiKeyCreatedPayload(_Payload):
    SUBJECT = "keyPrefix"
    keyPrefix: Annotated[Text, StringConstraints(min_length=1, max_length=32)]
    rateLimitTier: ShortText | None = None
    createdAt: Timestamp | None = None


class ScanCompletedPayload(_Payload):
    SUBJECT = "jobId"
    jobId: Identifier
    mediaCount: Count
    identitiesDetected: Count
    durationMs: Count
    suggestionsGenerated: Count | None = None
    completedAt: Timestamp | None = None


class ScanFailedPayload(_Payload):
    SUBJECT = "jobId"
    jobId: Identifier
    mediaCount: Count
    errorMessage: Annotated[Text, StringConstraints(max_length=2000)] | None = None
    failedAt: Timestamp | None = None


class ClusterCreatedPayload(_Payload):
    SUBJECT = "clusterId"
    clusterId: Identifier
    identityCount: Count
    algorithm: ShortText | None = None
    createdAt: Timestamp | None = None


class SuggestionResolvedPayload(_Payload):
    SUBJECT = "suggestionId"
    suggestionId: Identifier
    resolution: ShortText
    resolvedAt: Timestamp | None = None


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenantId: Identifier = Field(description="the tenant; payload.tenantId, when sent, must be the same")
    occurredAt: Timestamp = Field(
        description="when it happened: not before 2020-01-01, and at most one hour ahead of the "
        "moment it is received (clock skew)"
    )

    @model_validator(mode="after")
    def _payload_names_the_same_tenant(self) -> _Envelope:
        payload_tenant = getattr(getattr(self, "payload", None), "tenantId", None)
        if payload_tenant is not None and payload_tenant != self.tenantId:
            raise ValueError("payload.tenantId differs from tenantId")
        return self


class TenantCreated(_Envelope):
    eventType: Literal["tenant.created"]
    payload: TenantCreatedPayload


class ApiKeyCreated(_Envelope):
    eventType: Literal["apikey.created"]
    payload: ApiKeyCreatedPayload


class ScanCompleted(_Envelope):
    eventType: Literal["scan.completed"]
    payload: ScanCompletedPayload


class ScanFailed(_Envelope):
    eventType: Literal["scan.failed"]
    payload: ScanFailedPayload


class ClusterCreated(_Envelope):
    eventType: Literal["cluster.created"]
    payload: ClusterCreatedPayload


class SuggestionResolved(_Envelope):
    eventType: Literal["suggestion.resolved"]
    payload: SuggestionResolvedPayload


WebhookEvent = (
    TenantCreated | ApiKeyCreated | ScanCompleted | ScanFailed | ClusterCreated | SuggestionResolved
)


EVENT_TYPES: tuple[str, ...] = (
    "tenant.created",
    "apikey.created",
    "scan.completed",
    "scan.failed",
    "cluster.created",
    "suggestion.resolved",
)


class WebhookDelivery(RootModel[WebhookEvent]):
    """The request body: one webhook, its model chosen by ``eventType``."""

    root: WebhookEvent = Field(discriminator="eventType")


class WebhookAccepted(BaseModel):
    """``{"ok": true, "eventId": ...}``; ``duplicate`` only on a redelivery."""

    ok: Literal[True] = True
    eventId: UUID
    duplicate: bool | None = Field(default=None, description="true when this delivery was already stored")
