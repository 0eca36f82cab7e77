"""Send signed description-service events to Funnel's webhook endpoint.

Each event is one JSON envelope posted to ``POST /v1/webhooks/description-service``,
signed with the Standard Webhooks scheme (https://www.standardwebhooks.com) and
authenticated with ``x-admin-key``. Network errors, 429 and 5xx answers are retried
after 1 s, 5 s and 30 s with the same ``webhook-id`` and body, so the receiver can
drop duplicates; every attempt is logged on the ``funnel_emitter`` logger.

Only the standard library is used, so the description service can install this
package without pulling anything else in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from typing import IO, Any

__all__ = [
    "EVENT_TYPES",
    "DeliveryResult",
    "WebhookEmitter",
    "__version__",
    "sign",
]

__version__ = "0.1.0"

EVENT_TYPES = frozenset(
    {
        "tenant.created",
        "apikey.created",
        "scan.completed",
        "scan.failed",
        "cluster.created",
        "suggestion.resolved",
    }
)
"""Event types Funnel accepts; anything else is rejected before sending."""

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format marker, not a secret
USER_AGENT = f"funnel-emitter/{__version__}"
RETRY_AFTER_CAP_SECONDS = 60.0
# A receiver that streams an endless body must not exhaust the sender's memory; Funnel's
# answers are a few hundred bytes.
MAX_RESPONSE_BYTES = 1 << 20

logger = logging.getLogger("funnel_emitter")


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """Return the Standard Webhooks signature of one delivery.

    Parameters
    ----------
    secret
        ``whsec_`` followed by the base64 of the key bytes.
    msg_id
        The ``webhook-id`` header value.
    timestamp
        The ``webhook-timestamp`` header value, in Unix seconds.
    body
        The request body exactly as sent (text is encoded as UTF-8).

    Returns
    -------
    str
        ``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">``.

    Raises
    ------
    ValueError
        When the secret is not ``whsec_`` followed by valid base64.
    """
    payload = body.encode() if isinstance(body, str) else body
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    digest = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of :meth:`WebhookEmitter.send`.

    Attributes
    ----------
    ok
        True when the last attempt got a 2xx answer.
    status
        HTTP status of the last attempt; None when it failed before any answer.
    body
        The last answer's body when it is a JSON object, else None.
    attempts
        Number of requests made, retries included.
    webhook_id
        The ``webhook-id`` every attempt carried.
    error
        Why delivery failed (``"HTTP 422"`` or the network error); None when ``ok``.
    """

    ok: bool
    status: int | None
    body: dict[str, Any] | None
    attempts: int
    webhook_id: str
    error: str | None


class WebhookEmitter:
    """Signs and posts events to Funnel, retrying transient failures.

    Parameters
    ----------
    url
        Full URL of ``POST /v1/webhooks/description-service`` (http or https).
    signing_secret
        The shared ``whsec_...`` Standard Webhooks secret.
    admin_key
        Value of the ``x-admin-key`` header.
    timeout
        Seconds allowed for each attempt's connection and each read.
    retry_delays
        Seconds to wait before each retry; its length is the number of retries.
    sleep, clock
        ``time.sleep`` and ``time.time`` stand-ins, so tests neither wait nor depend
        on the wall clock.
    opener
        The urllib opener to send with; by default one that does not follow redirects.

    Raises
    ------
    ValueError
        On a malformed secret, a non-http(s) URL, an empty admin key, a non-positive
        timeout or a negative retry delay.
    """

    def __init__(
        self,
        url: str,
        *,
        signing_secret: str,
        admin_key: str,
        timeout: float = 10.0,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        opener: urllib.request.OpenerDirector | None = None,
    ) -> None:
        # urllib would also open file:// and ftp:// URLs; only HTTP makes sense here.
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError("url must be an http:// or https:// URL")
        _secret_key(signing_secret)
        if not admin_key:
            raise ValueError("admin_key must not be empty")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if any(delay < 0 for delay in retry_delays):
            raise ValueError("retry delays must not be negative")
        self._url = url
        self._secret = signing_secret
        self._admin_key = admin_key
        self._timeout = timeout
        self._retry_delays = tuple(retry_delays)
        self._sleep = sleep
        self._clock = clock
        self._opener = opener or urllib.request.build_opener(_RefuseRedirects)

    def send(
        self,
        event_type: str,
        tenant_id: str,
        payload: Mapping[str, Any],
        *,
        occurred_at: datetime | str | None = None,
        webhook_id: str | None = None,
    ) -> DeliveryResult:
        """Deliver one event, retrying network errors, 429 and 5xx.

        Parameters
        ----------
        event_type
            One of :data:`EVENT_TYPES`.
        tenant_id
            The tenant the event belongs to.
        payload
            Event-specific fields; must be JSON-serialisable.
        occurred_at
            A timezone-aware datetime or an ISO-8601 string with an offset; now (from
            ``clock``) when omitted.
        webhook_id
            Idempotency key sent as ``webhook-id``; a fresh ``msg_<hex>`` when omitted.
            Pass the same id to re-send the same event later.

        Returns
        -------
        DeliveryResult
            The last attempt's outcome; failures are reported here, not raised.

        Raises
        ------
        ValueError
            On an unknown event type, an empty tenant id, a naive or unparsable
            ``occurred_at``, a malformed ``webhook_id`` or a non-finite number in the
            payload.
        TypeError
            When the payload holds something JSON cannot encode.
        """
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}; expected one of {sorted(EVENT_TYPES)}")
        if not tenant_id:
            raise ValueError("tenant_id must not be empty")
        msg_id = _new_webhook_id() if webhook_id is None else _checked_webhook_id(webhook_id)
        when = datetime.fromtimestamp(self._clock(), tz=timezone.utc) if occurred_at is None else occurred_at
        envelope = {
            "eventType": event_type,
            "tenantId": tenant_id,
            "occurredAt": _utc_iso(when),
            "payload": dict(payload),
        }
        body = json.dumps(envelope, separators=(",", ":"), allow_nan=False).encode()

        max_attempts = len(self._retry_delays) + 1
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            outcome = self._post(body, msg_id)
            elapsed_ms = round((time.perf_counter() - started) * 1000)
            delay = self._retry_delay(attempt, outcome) if attempt < max_attempts else None
            _log_attempt(event_type, msg_id, attempt, max_attempts, outcome, elapsed_ms, delay)
            if delay is None:
                return DeliveryResult(
                    ok=outcome.ok,
                    status=outcome.status,
                    body=outcome.body,
                    attempts=attempt,
                    webhook_id=msg_id,
                    error=outcome.error,
                )
            self._sleep(delay)

    def _post(self, body: bytes, msg_id: str) -> _Attempt:
        timestamp = int(self._clock())
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self._url,
            data=body,
            method="POST",
            headers={
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(self._secret, msg_id, timestamp, body),
                "x-admin-key": self._admin_key,
                "content-type": "application/json",
                "user-agent": USER_AGENT,
            },
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                return _Attempt(status=response.status, body=_read_json(response))
        except urllib.error.HTTPError as exc:
            with exc:
                return _Attempt(
                    status=exc.code, body=_read_json(exc), retry_after=_retry_after_seconds(exc.headers)
                )
        except (OSError, http.client.HTTPException) as exc:
            # URLError (refused, DNS), timeouts and resets are all OSErrors; a truncated
            # or garbled answer is an HTTPException.
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            return _Attempt(status=None, body=None, network_error=f"{type(exc).__name__}: {reason}")

    def _retry_delay(self, attempt: int, outcome: _Attempt) -> float | None:
        """Seconds to wait before the next attempt, or None when this one is final."""
        if not outcome.retryable:
            return None
        scheduled = self._retry_delays[attempt - 1]
        if outcome.status in (429, 503) and outcome.retry_after is not None:
            return max(scheduled, min(outcome.retry_after, RETRY_AFTER_CAP_SECONDS))
        return scheduled


@dataclass(frozen=True)
class _Attempt:
    status: int | None
    body: dict[str, Any] | None
    network_error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def error(self) -> str | None:
        if self.network_error is not None or self.ok:
            return self.network_error
        return f"HTTP {self.status}"

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or 500 <= self.status < 600


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Turn redirects into failed deliveries.

    urllib re-sends a redirected POST as a GET without the body but with
    ``x-admin-key``, which would leak the key to wherever the redirect points.
    """

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


def _secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook signing secrets must start with 'whsec_'")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise ValueError("webhook signing secret is not valid base64 after 'whsec_'") from exc


def _new_webhook_id() -> str:
    return "msg_" + secrets.token_hex(16)


def _checked_webhook_id(webhook_id: str) -> str:
    # Whitespace would be stripped by the receiver before verifying, and control
    # characters cannot travel in a header at all.
    if not webhook_id or not all("!" <= char <= "~" for char in webhook_id):
        raise ValueError("webhook_id must be non-empty printable ASCII without spaces")
    return webhook_id


def _utc_iso(value: datetime | str) -> str:
    """Render a moment as ISO-8601 UTC with a ``Z`` suffix, rejecting naive times."""
    if isinstance(value, str):
        text = value.strip()
        # datetime.fromisoformat only understands a trailing "Z" from Python 3.11 on.
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"occurred_at {value!r} is not an ISO-8601 date-time") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware; a naive time is ambiguous")
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _read_json(response: IO[bytes]) -> dict[str, Any] | None:
    """The answer's JSON object, or None when it is empty, not an object or cut short."""
    try:
        parsed = json.loads(response.read(MAX_RESPONSE_BYTES))
    except (OSError, http.client.HTTPException, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _retry_after_seconds(headers: Message) -> float | None:
    """``Retry-After`` in delta-seconds; the HTTP-date form is ignored."""
    raw = (headers.get("retry-after") or "").strip()
    return float(raw) if raw.isascii() and raw.isdigit() else None


def _log_attempt(
    event_type: str,
    webhook_id: str,
    attempt: int,
    max_attempts: int,
    outcome: _Attempt,
    elapsed_ms: int,
    retry_in: float | None,
) -> None:
    if outcome.ok:
        level, next_step = logging.INFO, "delivered"
    elif retry_in is not None:
        level, next_step = logging.WARNING, f"retrying in {retry_in:g} s"
    else:
        level, next_step = logging.ERROR, "giving up"
    logger.log(
        level,
        "webhook %s (%s) attempt %d/%d: %s after %d ms, %s",
        webhook_id,
        event_type,
        attempt,
        max_attempts,
        outcome.error or f"HTTP {outcome.status}",
        elapsed_ms,
        next_step,
        extra={
            "webhook_id": webhook_id,
            "event_type": event_type,
            "attempt": attempt,
            "status": outcome.status,
            "error": outcome.error,
            "elapsed_ms": elapsed_ms,
            "will_retry": retry_in is not None,
            "retry_in_s": retry_in,
        },
    )
