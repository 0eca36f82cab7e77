"""Delete by email (PIPEDA): erase a lead and everything that holds its address, in one
transaction, and audit it without the address.

What goes: the lead, its consent records and its visitor links; its form submissions
lose their payload and their lead. What stays, detached: tenant events and milestones
(usage, not personal data; see docs/privacy.md#delete-by-email) and the pseudonymous
visitors, sessions and events, which expire with the raw data. The day the lead was first
captured counted it among its new leads: when that day is older than yesterday it is
marked dirty (``funnel.platform.dirty_days``), so the next scheduled rollup counts one lead
fewer there (if raw retention still keeps the day; an older day's rollup stays as it is).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import LiteralString
from uuid import UUID

import psycopg
from aws_lambda_powertools import Logger

from funnel.platform import audit, dirty_days
from funnel.platform.observability import traced
from funnel.platform.rows import fetch_one
from funnel.platform.runtime import Runtime
from funnel.platform.sql import query

logger = Logger(child=True)


@dataclass(frozen=True)
class LeadDeletion:
    """The outcome of a deletion: whether a lead had the address, and what was removed or
    unlinked, per kind of row (camelCase keys, as in the answer and the audit entry)."""

    found: bool
    removed: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _LockedLead:
    """A row of ``privacy/lock_lead``."""

    id: UUID
    first_captured_at: datetime


# What refers to a lead, each with the statement that scrubs, deletes or detaches it and
# the name its row count has in the answer; the lead itself goes last.
_ERASURE: tuple[tuple[str, LiteralString], ...] = (
    ("formSubmissionsScrubbed", query("privacy/scrub_form_submissions")),
    ("consentRecords", query("privacy/delete_consent_records")),
    ("leadIdentities", query("privacy/delete_lead_identities")),
    ("tenantEventsUnlinked", query("privacy/unlink_tenant_events")),
    ("tenantMilestonesUnlinked", query("privacy/unlink_tenant_milestones")),
    ("leads", query("privacy/delete_lead")),
)


@traced
def delete_lead_by_email(runtime: Runtime, email_normalized: str, *, request_id: str | None) -> LeadDeletion:
    """Erase the lead with this (normalised) email, if any; idempotent.

    Parameters
    ----------
    email_normalized
        The address as ``funnel.platform.emails.normalize_email`` returns it.
    request_id
        The API Gateway request id, for the audit entry.
    """
    now = runtime.clock()
    deletion = runtime.database.run(
        lambda conn: erase_lead(conn, email_normalized, request_id=request_id, written_at=now)
    )
    logger.info("lead deletion", extra={"found": deletion.found, **deletion.removed})
    return deletion


def erase_lead(
    conn: psycopg.Connection, email_normalized: str, *, request_id: str | None, written_at: datetime
) -> LeadDeletion:
    """The deletion itself, in the caller's transaction: the lead is locked first, then
    every row that refers to it is scrubbed, deleted or detached, then the lead goes, and
    the day it was first captured is marked dirty if it is older than yesterday at
    ``written_at`` (the clock now). The audit entry records the counts and the lead's id,
    never the address (not even hashed: a hash of an email is still personal data, and
    easy to reverse by guessing)."""
    lead = fetch_one(conn, _LockedLead, query("privacy/lock_lead"), {"email_normalized": email_normalized})
    if lead is None:
        deletion = LeadDeletion(found=False)
        subject_id = None
    else:
        removed = {
            name: conn.execute(statement, {"lead_id": lead.id}).rowcount for name, statement in _ERASURE
        }
        changed = dirty_days.Changed({dirty_days.utc_day(lead.first_captured_at)})
        dirty_days.mark(conn, changed, written_at=written_at)
        deletion = LeadDeletion(found=True, removed=removed)
        subject_id = str(lead.id)
    audit.record(
        conn,
        actor="admin",
        action="lead.delete",
        subject_type="lead",
        subject_id=subject_id,
        request_id=request_id,
        details={"found": deletion.found, **deletion.removed},
    )
    return deletion
