"""Consent (CASL/PIPEDA): express opt-in only, never assumed; every grant and withdrawal
is recorded with its evidence (time, source, wording version, origin, page, request, the
status it replaced), so consent can be proven; and a grant after a withdrawal only when
the person asks to be subscribed again (docs/privacy.md#consent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

import psycopg

from funnel.platform import audit
from funnel.platform.rows import fetch_one
from funnel.platform.sql import query


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class ConsentChange(StrEnum):
    """What a request did to a lead's consent."""

    RECORDED = "recorded"
    UNCHANGED = "unchanged"
    # A grant for an address that withdrew, without the person asking again: refused.
    REGRANT_REFUSED = "regrant_refused"


@dataclass(frozen=True)
class ConsentEvidence:
    """How a consent change came about, beyond its time.

    Attributes
    ----------
    source
        Where it happened: ``form:<formId>``, ``unsubscribe_link``, ``one_click``...
    wording_version
        The version of the consent text the person saw (required to prove a grant).
    origin
        The site origin the request came from, as checked against ``ALLOWED_ORIGINS``.
    page
        The path of the page the form was on (never its query).
    request_id
        API Gateway's id of the request (its access log and ours name it).
    reconsent
        The person asked to be subscribed again (a grant after a withdrawal needs it).
    """

    source: str
    wording_version: str | None = None
    origin: str | None = None
    page: str | None = None
    request_id: str | None = None
    reconsent: bool = False


@dataclass(frozen=True, slots=True)
class _Recorded:
    """A row of ``leads/record_consent``: the lead's status before, and whether the change
    was recorded."""

    previous_status: str
    recorded: bool


def record_consent(
    conn: psycopg.Connection,
    lead_id: UUID,
    status: ConsentStatus,
    evidence: ConsentEvidence,
    *,
    occurred_at: datetime,
    actor: str,
) -> ConsentChange:
    """Set a lead's consent; record and audit it when it changes, audit a refused re-grant.

    Returns
    -------
    ConsentChange
        ``RECORDED``, ``UNCHANGED`` (a repeated request, or no such lead) or
        ``REGRANT_REFUSED`` (a grant after a withdrawal without ``reconsent``).
    """
    row = fetch_one(
        conn,
        _Recorded,
        query("leads/record_consent"),
        {
            "lead_id": lead_id,
            "status": status.value,
            "source": evidence.source,
            "wording_version": evidence.wording_version,
            "occurred_at": occurred_at,
            "origin": evidence.origin,
            "page": evidence.page,
            "request_id": evidence.request_id,
            "reconsent": evidence.reconsent,
        },
    )
    if row is None:
        return ConsentChange.UNCHANGED
    previous_status = row.previous_status
    if row.recorded:
        action = f"consent.{'grant' if status is ConsentStatus.GRANTED else 'withdraw'}"
        change = ConsentChange.RECORDED
    elif status is ConsentStatus.GRANTED and previous_status == ConsentStatus.WITHDRAWN:
        action = "consent.regrant_refused"
        change = ConsentChange.REGRANT_REFUSED
    else:
        return ConsentChange.UNCHANGED
    details: dict[str, object] = {"source": evidence.source, "wordingVersion": evidence.wording_version}
    if status is ConsentStatus.GRANTED:
        details |= {
            "previousStatus": previous_status,
            "reconsent": evidence.reconsent,
            "origin": evidence.origin,
            "page": evidence.page,
        }
    audit.record(
        conn,
        actor=actor,
        action=action,
        subject_type="lead",
        subject_id=str(lead_id),
        request_id=evidence.request_id,
        details=details,
    )
    return change
