"""Consent (CASL/PIPEDA): express opt-in only, never assumed; every grant and withdrawal
is recorded with its time, source and wording version, so consent can be proven."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

import psycopg

from funnel import audit
from funnel.sql import query


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


def record_consent(
    conn: psycopg.Connection,
    lead_id: UUID,
    status: ConsentStatus,
    *,
    source: str,
    wording_version: str | None,
    occurred_at: datetime,
    actor: str,
    request_id: str | None = None,
) -> bool:
    """Set a lead's consent; record and audit it when it changes.

    Parameters
    ----------
    source
        Where it happened: ``form:<formId>``, ``unsubscribe_link``, ``one_click``...
    wording_version
        The version of the consent text the person saw (required to prove a grant).

    Returns
    -------
    bool
        Whether anything changed (a repeated request changes nothing).
    """
    changed = conn.execute(
        query("leads/record_consent"),
        {
            "lead_id": lead_id,
            "status": status.value,
            "source": source,
            "wording_version": wording_version,
            "occurred_at": occurred_at,
        },
    ).fetchone()
    if changed is None:
        return False
    audit.record(
        conn,
        actor=actor,
        action=f"consent.{'grant' if status is ConsentStatus.GRANTED else 'withdraw'}",
        subject_type="lead",
        subject_id=str(lead_id),
        request_id=request_id,
        details={"source": source, "wordingVersion": wording_version},
    )
    return True
