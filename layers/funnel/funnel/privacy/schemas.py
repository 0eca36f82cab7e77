"""Lead privacy at the boundary: the admin requests (delete by email, unsubscribe links)
and their answers, and the public unsubscribe form."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from funnel.platform.schemas import NormalizedEmail


class LeadEmailRequest(BaseModel):
    """A request naming one lead by email (validated and normalised)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: NormalizedEmail


class DeleteLeadRequest(LeadEmailRequest):
    """``POST /v1/leads/delete``: erase everything held about this address."""


class UnsubscribeLinkRequest(LeadEmailRequest):
    """``POST /v1/leads/unsubscribe-link``: the signed unsubscribe link of this lead."""


class RemovedCounts(BaseModel):
    """What a deletion removed (or unlinked), per kind of row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    leads: int
    leadIdentities: int
    consentRecords: int
    formSubmissionsScrubbed: int = Field(description="payload and lead cleared; the row stays")
    tenantEventsUnlinked: int = Field(description="lead_id cleared; the usage event stays")
    tenantMilestonesUnlinked: int = Field(description="lead_id cleared; the milestones stay")


class LeadDeleted(BaseModel):
    """The answer to a deletion; ``deleted`` is false for an unknown address (idempotent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: Literal[True] = True
    deleted: bool
    removed: RemovedCounts | None = None


class UnsubscribeLinkCreated(BaseModel):
    """A lead's unsubscribe link, for the ``List-Unsubscribe`` header and the email footer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: Literal[True] = True
    url: str
    expiresOn: date = Field(description="the last UTC day the link works; ask for a new one before")


class UnsubscribeForm(BaseModel):
    """The body of ``POST /v1/unsubscribe``: the confirmation page's form (``token``) or an
    RFC 8058 one-click request (``List-Unsubscribe=One-Click``, the token in the URL).

    Other fields are ignored: this is a public form that mail clients also post, and none
    of it is stored. The token is checked by ``funnel.privacy.unsubscribe``, so a bad one gets a
    page rather than a validation error.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    token: str | None = None
    list_unsubscribe: str | None = Field(default=None, alias="List-Unsubscribe")
