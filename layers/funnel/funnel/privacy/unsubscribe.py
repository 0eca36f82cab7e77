"""Unsubscribe links (CASL): signed per-lead tokens, the admin call that issues them, and
the public flow that uses them (its pages are :mod:`funnel.privacy.pages`).

Token format (version 1)::

    base64url(payload) "." base64url(mac)          # no padding; 28 + 1 + 22 characters
    payload = 0x01 | lead id (16 bytes) | issue day (4 bytes, big-endian days since 1970-01-01 UTC)
    mac     = HMAC-SHA256(key, "funnel-unsubscribe" 0x00 | payload)[:16]

The keys are ``Runtime.unsubscribe_keys()`` (the first signs). A token cannot be guessed or forged without
the key (a 128-bit MAC), names no email, and is checked in constant time. It is valid
through ``issue day + UNSUBSCRIBE_LINK_DAYS`` (180 by default, never under 60: CASL wants
an unsubscribe mechanism to work for at least 60 days after the message is sent). Links
of one lead issued on one day are identical, so a mailing tool may cache them per day.

The flow: ``GET /v1/unsubscribe?token=`` only shows a confirmation page with a button
(mail scanners prefetch links, so a GET never changes anything); the button posts the
token back, which withdraws consent at once. RFC 8058 one-click (``POST`` to the link
with ``List-Unsubscribe=One-Click``) withdraws directly. The answer never reveals whether
an address is (still) known: the token of a deleted lead gets the same success page
(docs/privacy.md#unsubscribe-links).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode
from uuid import UUID

import psycopg
from aws_lambda_powertools import Logger

from funnel.capture.consent import ConsentChange, ConsentEvidence, ConsentStatus, record_consent
from funnel.platform import audit
from funnel.platform.errors import (
    ConfigurationError,
    FunnelError,
    MalformedRequest,
    NotFound,
    ServiceUnavailable,
)
from funnel.platform.observability import traced
from funnel.platform.rows import fetch_value
from funnel.platform.runtime import Runtime
from funnel.platform.sql import query
from funnel.privacy.pages import Page, confirmation_page, error_page, text_page, unsubscribed_page
from funnel.privacy.schemas import UnsubscribeForm

logger = Logger(child=True)

TOKEN_VERSION = 1
EPOCH = date(1970, 1, 1)
PATH = "/v1/unsubscribe"
ONE_CLICK = "One-Click"
_MAC_CONTEXT = b"funnel-unsubscribe\x00"
_MAC_BYTES = 16
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{28})\.([A-Za-z0-9_-]{22})$")
# A token issued "tomorrow" is tolerated (clocks of two functions may straddle midnight).
_MAX_FUTURE_DAYS = 1


class UnsubscribeTokenError(FunnelError):
    """A token that cannot be used; ``reason`` is for logs, never shown."""

    def __init__(self, reason: str) -> None:
        super().__init__(details={"reason": reason})
        self.reason = reason


class InvalidUnsubscribeToken(UnsubscribeTokenError):
    """Missing, malformed, tampered with, or signed with another key."""

    status = 400
    code = "invalid_unsubscribe_token"


class ExpiredUnsubscribeToken(UnsubscribeTokenError):
    """Genuine but older than the link lifetime (410 Gone: it will never work again)."""

    status = 410
    code = "unsubscribe_link_expired"


class Source(StrEnum):
    """Where a withdrawal came from, as recorded in ``consent_records.source``."""

    LINK = "unsubscribe_link"
    ONE_CLICK = "one_click"


@dataclass(frozen=True)
class TokenClaims:
    lead_id: UUID
    issued_on: date


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _mac(key: bytes, payload: bytes) -> str:
    return _b64(hmac.new(key, _MAC_CONTEXT + payload, hashlib.sha256).digest()[:_MAC_BYTES])


def issue_token(lead_id: UUID, *, key: bytes, now: datetime) -> str:
    """The unsubscribe token of ``lead_id``, issued on ``now``'s UTC day."""
    day = (now.date() - EPOCH).days
    payload = bytes([TOKEN_VERSION]) + lead_id.bytes + day.to_bytes(4, "big")
    return f"{_b64(payload)}.{_mac(key, payload)}"


def read_token(token: str | None, *, keys: Sequence[bytes], now: datetime) -> TokenClaims:
    """Check a token's form and signature (in constant time) and return what it says.

    Any of ``keys`` may have signed it: the first signs new links, the others are older
    keys still honoured while links they signed are valid (rotation without breaking
    links already sent).

    Raises
    ------
    InvalidUnsubscribeToken
        It is missing, malformed, signed with another key, of an unknown version, or
        issued in the future.
    """
    match = _TOKEN.match(token or "")
    if match is None:
        raise InvalidUnsubscribeToken("malformed")
    encoded_payload, given_mac = match.groups()
    payload = base64.urlsafe_b64decode(encoded_payload)  # 28 characters: exactly 21 bytes
    if not any(hmac.compare_digest(_mac(key, payload), given_mac) for key in keys):
        raise InvalidUnsubscribeToken("bad_signature")
    if payload[0] != TOKEN_VERSION:
        raise InvalidUnsubscribeToken("unknown_version")
    issued_on = EPOCH + timedelta(days=int.from_bytes(payload[17:21], "big"))
    if issued_on > now.date() + timedelta(days=_MAX_FUTURE_DAYS):
        raise InvalidUnsubscribeToken("issued_in_future")
    return TokenClaims(lead_id=UUID(bytes=payload[1:17]), issued_on=issued_on)


def expires_on(issued_on: date, valid_days: int) -> date:
    """The last UTC day a link issued on ``issued_on`` works."""
    return issued_on + timedelta(days=valid_days)


def verify_token(token: str | None, *, keys: Sequence[bytes], now: datetime, valid_days: int) -> UUID:
    """The lead id of a valid, unexpired token.

    Raises
    ------
    InvalidUnsubscribeToken
        See ``read_token``.
    ExpiredUnsubscribeToken
        It is genuine but was issued more than ``valid_days`` days before ``now``'s day.
    """
    claims = read_token(token, keys=keys, now=now)
    if now.date() > expires_on(claims.issued_on, valid_days):
        raise ExpiredUnsubscribeToken("expired")
    return claims.lead_id


def link_url(base_url: str, token: str) -> str:
    """The public unsubscribe URL carrying ``token``."""
    return f"{base_url.rstrip('/')}{PATH}?{urlencode({'token': token})}"


@dataclass(frozen=True)
class UnsubscribeLink:
    url: str
    expires_on: date


@traced
def unsubscribe_link(
    runtime: Runtime, email_normalized: str, *, request_id: str | None, request_base_url: str
) -> UnsubscribeLink:
    """The unsubscribe link of the lead with this email, for the mailing tool; audited.
    It is made on ``PUBLIC_BASE_URL``, or without one on ``request_base_url`` (the API's
    own address, as the request reached it).

    Raises
    ------
    NotFound
        ``lead_not_found``: no lead has this address (nothing is written).
    """
    key = runtime.unsubscribe_keys()[0]
    now = runtime.clock()

    def find_and_audit(conn: psycopg.Connection) -> UUID:
        lead_id: UUID | None = fetch_value(
            conn, query("unsubscribe/find_lead"), {"email_normalized": email_normalized}
        )
        if lead_id is None:
            raise NotFound("lead_not_found")
        audit.record(
            conn,
            actor="admin",
            action="admin.unsubscribe_link",
            subject_type="lead",
            subject_id=str(lead_id),
            request_id=request_id,
        )
        return lead_id

    lead_id = runtime.database.run(find_and_audit)
    privacy = runtime.settings.privacy
    return UnsubscribeLink(
        url=link_url(privacy.public_base_url or request_base_url, issue_token(lead_id, key=key, now=now)),
        expires_on=expires_on(now.date(), privacy.unsubscribe_link_days),
    )


def withdraw(runtime: Runtime, token: str | None, *, source: Source, request_id: str | None) -> bool:
    """Withdraw the consent of the token's lead, now; idempotent.

    Returns
    -------
    bool
        Whether anything changed: false when consent was already withdrawn or the lead no
        longer exists (callers must answer both the same way).
    """
    now = runtime.clock()
    lead_id = verify_token(
        token,
        keys=runtime.unsubscribe_keys(),
        now=now,
        valid_days=runtime.settings.privacy.unsubscribe_link_days,
    )
    changed = runtime.database.run(
        lambda conn: (
            record_consent(
                conn,
                lead_id,
                ConsentStatus.WITHDRAWN,
                ConsentEvidence(source=source.value, request_id=request_id),
                occurred_at=now,
                actor="public",
            )
            is ConsentChange.RECORDED
        )
    )
    logger.info("unsubscribe", extra={"source": source.value, "changed": changed})
    return changed


def _refused(exc: FunnelError | ConfigurationError, *, one_click: bool = False) -> Page:
    if isinstance(exc, ConfigurationError):
        logger.error("service misconfigured", extra={"reason": str(exc)})
        exc = ServiceUnavailable("service_misconfigured", retry_after_seconds=60)
    logger.info(
        "unsubscribe refused", extra={"status": exc.status, "error": exc.code, "details": exc.details}
    )
    if one_click:
        return text_page(exc.status, exc.code, headers=dict(exc.headers))
    return error_page(exc)


def show_confirmation(runtime: Runtime, token: str | None) -> Page:
    """``GET /v1/unsubscribe``: the confirmation page of a valid link, or why it is not.
    Reads nothing from the database and writes nothing."""
    try:
        verify_token(
            token,
            keys=runtime.unsubscribe_keys(),
            now=runtime.clock(),
            valid_days=runtime.settings.privacy.unsubscribe_link_days,
        )
    except (FunnelError, ConfigurationError) as exc:
        return _refused(exc)
    assert token is not None  # verify_token refuses a missing token
    return confirmation_page(token)


def submit(
    runtime: Runtime, form: UnsubscribeForm, *, query_token: str | None, request_id: str | None
) -> Page:
    """``POST /v1/unsubscribe``: the confirmation form (token in the body) or an RFC 8058
    one-click request (``List-Unsubscribe=One-Click``, token in the URL)."""
    one_click = form.list_unsubscribe is not None
    try:
        if one_click and form.list_unsubscribe != ONE_CLICK:
            raise MalformedRequest("invalid_one_click_request")
        withdraw(
            runtime,
            form.token or query_token,
            source=Source.ONE_CLICK if one_click else Source.LINK,
            request_id=request_id,
        )
    except (FunnelError, ConfigurationError) as exc:
        return _refused(exc, one_click=one_click)
    if one_click:
        return text_page(200, "Unsubscribed.")
    return unsubscribed_page()
