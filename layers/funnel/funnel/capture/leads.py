"""Lead capture: one lead per normalised email, linked to its visitor, with first-touch
attribution, the form's submission record and express consent."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import psycopg
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from psycopg.types.json import Jsonb

from funnel.capture import accounting, classify
from funnel.capture.accounting import Kind, Outcome
from funnel.capture.beacons import SESSION_TIMEOUT
from funnel.capture.consent import ConsentChange, ConsentEvidence, ConsentStatus, record_consent
from funnel.capture.identity import Client, DailySalts, visitor_key
from funnel.capture.schemas import LeadCapture
from funnel.platform.errors import ValidationFailed
from funnel.platform.sql import query
from funnel.readmodel import dirty_days

metrics = Metrics()


@dataclass(frozen=True)
class CaptureRequest:
    """What a capture's request tells besides its body: when, from whom (used, never
    stored), API Gateway's request id and the site origin it came from (checked)."""

    received_at: datetime
    client: Client
    request_id: str | None
    origin: str | None = None
    # The form submission's id: a capture buffered and then written twice (or written
    # after its first write committed unseen) is recorded once.
    submission_id: UUID = field(default_factory=uuid4)


class AlreadyCaptured(Exception):
    """The capture's submission is stored already; its transaction is rolled back."""


def allowed_redirect(capture: LeadCapture, allowed_origins: Collection[str]) -> str | None:
    """The form's redirect target, if its origin is one of the site's (no open redirect).

    Raises
    ------
    ValidationFailed
        ``invalid_redirect`` for any other target.
    """
    if capture.redirect is None:
        return None
    target = str(capture.redirect)
    parts = urlsplit(target)
    if f"{parts.scheme}://{parts.netloc}".lower() not in {origin.lower() for origin in allowed_origins}:
        raise ValidationFailed(
            "invalid_redirect", details={"field": "redirect", "msg": "the redirect's origin is not allowed"}
        )
    return target


def capture_lead(
    conn: psycopg.Connection,
    capture: LeadCapture,
    request: CaptureRequest,
    salts: DailySalts,
    *,
    written_at: datetime,
) -> UUID:
    """Record a capture in the caller's transaction; returns the lead's id.

    ``written_at`` is the clock now: a capture received before yesterday (written late)
    marks the days it changed dirty (``funnel.readmodel.dirty_days``).

    Raises
    ------
    AlreadyCaptured
        When the request's submission is stored already (the caller rolls back what this
        transaction did before it found out).
    """
    now = request.received_at
    salt = salts.salt(conn, now.date()) if capture.visitorId is None else b""
    key = visitor_key(capture.visitorId, salt=salt, property_id=capture.propertyId, client=request.client)
    visitor = conn.execute(
        query("visitors/upsert_visitor"),
        {"property_id": capture.propertyId, "visitor_key": key, "first_seen": now, "last_seen": now},
    ).fetchone()
    assert visitor is not None
    visitor_id, first_seen = visitor

    first_touch = _first_touch(conn, visitor_id, capture)
    lead = conn.execute(
        query("leads/upsert_lead"),
        {
            "email_normalized": capture.email,
            "property_id": capture.propertyId,
            "visitor_id": visitor_id,
            "visitor_first_seen_at": first_seen,
            **first_touch,
            "captured_at": now,
        },
    ).fetchone()
    assert lead is not None
    lead_id: UUID = lead[0]
    conn.execute(query("leads/link_identity"), {"lead_id": lead_id, "visitor_id": visitor_id})

    session_id, session_started_at = _current_session(conn, visitor_id, now)
    path = classify.split_path(capture.path)[0] if capture.path else None
    submitted = conn.execute(
        query("form_submissions/insert_submission"),
        {
            "id": request.submission_id,
            "property_id": capture.propertyId,
            "lead_id": lead_id,
            "visitor_id": visitor_id,
            "session_id": session_id,
            "form_id": capture.formId,
            "path": path,
            "payload": Jsonb(capture.fields) if capture.fields else None,
            "submitted_at": now,
        },
    ).fetchone()
    if submitted is None:
        raise AlreadyCaptured()
    if capture.consent:
        evidence = ConsentEvidence(
            source=f"form:{capture.formId}",
            wording_version=capture.consentWordingVersion,
            origin=request.origin,
            page=path,
            request_id=request.request_id,
            reconsent=capture.reconsent,
        )
        change = record_consent(
            conn, lead_id, ConsentStatus.GRANTED, evidence, occurred_at=now, actor="public"
        )
        if change is ConsentChange.REGRANT_REFUSED:
            metrics.add_metric(name="ConsentRegrantsRefused", unit=MetricUnit.Count, value=1)
    if session_id is not None:
        conn.execute(query("sessions/mark_converted"), {"id": session_id})
        conn.execute(query("traffic_logs/mark_entrance_converted"), {"session_ids": [session_id]})
    accounting.add(
        conn,
        property_id=capture.propertyId,
        day=now.date(),
        kind=Kind.LEAD,
        outcome=Outcome.ACCEPTED,
        count=1,
    )
    # The capture's day (a new lead, the counter) and every day after, where a first visit
    # it moved earlier makes the visitor returning; and the days of the converted session.
    changed = dirty_days.Changed()
    changed.add_from(dirty_days.utc_day(now))
    if session_started_at is not None:
        changed.add_from(dirty_days.utc_day(session_started_at))
    dirty_days.mark(conn, changed, written_at=written_at)
    return lead_id


def _first_touch(conn: psycopg.Connection, visitor_id: UUID, capture: LeadCapture) -> dict[str, str | None]:
    row = conn.execute(query("sessions/find_first_session"), {"visitor_id": visitor_id}).fetchone()
    if row is not None:
        source, referrer_host, utm_source, utm_medium, utm_campaign = row
    else:
        # Captured before any beacon: the form page's own UTM parameters are all there is.
        params = classify.split_path(capture.path)[1] if capture.path else {}
        attribution = classify.attribute(
            path_params=params, explicit_utm={}, explicit_click_ids=(), referrer=None, site_hosts=frozenset()
        )
        source, referrer_host = attribution.traffic_source, attribution.referrer_host
        utm_source, utm_medium, utm_campaign = (
            attribution.utm_source,
            attribution.utm_medium,
            attribution.utm_campaign,
        )
    return {
        "traffic_source": source,
        "referrer_host": referrer_host,
        "utm_source": utm_source,
        "utm_medium": utm_medium,
        "utm_campaign": utm_campaign,
    }


def _current_session(
    conn: psycopg.Connection, visitor_id: UUID, now: datetime
) -> tuple[UUID | None, datetime | None]:
    """The session a capture now converts, and when it started (None, None: none)."""
    row = conn.execute(query("sessions/find_latest_session"), {"visitor_id": visitor_id}).fetchone()
    if row is None or now - row[2] > SESSION_TIMEOUT:
        return None, None
    session_id: UUID = row[0]
    started_at: datetime = row[1]
    return session_id, started_at
