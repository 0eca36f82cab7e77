"""The audit log of sensitive operations: deletes, consent changes, admin calls. Entries
name what happened to which record, never an email (docs/privacy.md#audit-log)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from funnel.platform.sql import query


def record(
    conn: psycopg.Connection,
    *,
    actor: str,
    action: str,
    subject_type: str | None = None,
    subject_id: str | None = None,
    request_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry, in the caller's transaction (so it exists exactly when the
    operation it records does)."""
    conn.execute(
        query("audit_log/record_entry"),
        {
            "actor": actor,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "request_id": request_id,
            "details": Jsonb(dict(details)) if details is not None else None,
        },
    )
