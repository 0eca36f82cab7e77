"""The webhook client: signs, posts, retries, and parks what it cannot deliver yet.

Without an outbox, :meth:`WebhookEmitter.send` is the sender Funnel's
docs/webhooks.md#retries describes: network errors, 408, 429 and 5xx are retried after
1 s, 5 s and 30 s with the same ``webhook-id`` and body, then the event is given up. With
an outbox, every event is written to it before the first attempt and stays there until
Funnel accepts it: after the quick retries it is retried with exponential backoff
(:class:`~funnel_emitter.backoff.Backoff`) for up to 3 days, by whichever sender of the
same outbox file takes it, and it is kept as dead when Funnel refuses it or time runs out.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import http.client
import json
import logging
import os
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import Message
from typing import IO, Any, overload

from funnel_emitter._version import __version__
from funnel_emitter.backoff import Backoff
from funnel_emitter.events import Event, as_event, envelope_body, parse_iso
from funnel_emitter.outbox import Outbox, OutboxEntry, OutboxError

__all__ = ["DeliveryResult", "WebhookEmitter", "sign"]

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format marker, not a secret
USER_AGENT = f"funnel-emitter/{__version__}"
# During the quick retries a blocking send waits; Retry-After may stretch a wait this far.
RETRY_AFTER_CAP_SECONDS = 60.0
# A receiver that streams an endless body must not exhaust the sender's memory; Funnel's
# answers are a few hundred bytes.
MAX_RESPONSE_BYTES = 1 << 20
# 408 and 429 say "later"; every other 4xx says "never" (409 webhook_id_reused, 422...).
RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})
REFUSED = "refused"
EXPIRED = "expired"

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
    """Outcome of :meth:`WebhookEmitter.send` and :meth:`WebhookEmitter.deliver_next`.

    Attributes
    ----------
    ok
        True when the last attempt got a 2xx answer.
    status
        HTTP status of the last attempt; None when it failed before any answer.
    body
        The last answer's body when it is a JSON object, else None.
    attempts
        Requests made for this event so far, retries (and earlier runs) included.
    webhook_id
        The ``webhook-id`` every attempt carried.
    error
        Why delivery failed (``"HTTP 422"`` or the network error); None when ``ok``.
    queued
        True when the event is in the outbox and will be tried again.
    dead
        True when the event is kept in the outbox as dead: Funnel refused it, or it
        was still failing 3 days after it was queued.
    """

    ok: bool
    status: int | None
    body: dict[str, Any] | None
    attempts: int
    webhook_id: str
    error: str | None
    queued: bool = False
    dead: bool = False


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
        The quick retries: seconds to wait before each, in the sending call itself.
    outbox
        An :class:`~funnel_emitter.outbox.Outbox` or the path of its SQLite file. With
        one, nothing is dropped: see :meth:`send`, :meth:`enqueue` and
        :meth:`deliver_next`.
    backoff
        When the outbox retries after the quick retries, and for how long.
    claim_lease
        Seconds a sender holds an outbox row for one attempt; a row left claimed by a
        crashed process is taken again after this.
    sleep, clock
        ``time.sleep`` and ``time.time`` stand-ins, so tests neither wait nor depend
        on the wall clock.
    opener
        The urllib opener to send with; by default one that does not follow redirects.

    Raises
    ------
    ValueError
        On a malformed secret, a non-http(s) URL, an empty admin key, a non-positive
        timeout, a negative retry delay or a claim lease not longer than the timeout.
    """

    def __init__(
        self,
        url: str,
        *,
        signing_secret: str,
        admin_key: str,
        timeout: float = 10.0,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0),
        outbox: Outbox | str | os.PathLike[str] | None = None,
        backoff: Backoff | None = None,
        claim_lease: float = 600.0,
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
        if claim_lease <= timeout:
            raise ValueError("claim_lease must be longer than timeout")
        self._url = url
        self._secret = signing_secret
        self._admin_key = admin_key
        self._timeout = timeout
        self._retry_delays = tuple(retry_delays)
        self._outbox = outbox if isinstance(outbox, Outbox) or outbox is None else Outbox(outbox)
        self._backoff = backoff or Backoff()
        self._claim_lease = claim_lease
        self._sleep = sleep
        self._clock = clock
        self._opener = opener or urllib.request.build_opener(_RefuseRedirects)

    @property
    def outbox(self) -> Outbox | None:
        """The outbox this emitter keeps undelivered events in, if any."""
        return self._outbox

    @property
    def clock(self) -> Callable[[], float]:
        """The clock this emitter schedules by (Unix seconds)."""
        return self._clock

    @overload
    def send(
        self,
        event: Event,
        /,
        *,
        occurred_at: datetime | str | None = None,
        webhook_id: str | None = None,
    ) -> DeliveryResult: ...

    @overload
    def send(
        self,
        event: str,
        tenant_id: str,
        payload: Mapping[str, Any],
        /,
        *,
        occurred_at: datetime | str | None = None,
        webhook_id: str | None = None,
    ) -> DeliveryResult: ...

    def send(
        self,
        event: Event | str,
        tenant_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        /,
        *,
        occurred_at: datetime | str | None = None,
        webhook_id: str | None = None,
    ) -> DeliveryResult:
        """Deliver one event now, retrying network errors, 408, 429 and 5xx.

        Blocks through the quick retries (``retry_delays``). Without an outbox, the
        event is then given up. With one, it was written to the outbox before the
        first attempt, and an event still failing after the quick retries stays there
        (``queued``) for :meth:`deliver_next` to retry; one Funnel refuses stays as
        ``dead``.

        Parameters
        ----------
        event
            A typed event (:class:`~funnel_emitter.events.ScanCompleted`...), or an
            event type followed by ``tenant_id`` and ``payload`` (the payload's fields by
            their JSON names, checked the same way).
        occurred_at
            A timezone-aware datetime or an ISO-8601 string with a zone; by default the
            event's own time field (``completedAt``...) or now.
        webhook_id
            Idempotency key sent as ``webhook-id``; a fresh ``msg_<hex>`` when omitted.
            Pass the same id to re-send the same event later.

        Returns
        -------
        DeliveryResult
            The last attempt's outcome; failures are reported here, not raised.

        Raises
        ------
        InvalidEvent
            (a ``ValueError``) On an unknown event type, a missing or invalid field, a
            naive or implausible ``occurred_at``, or a payload JSON cannot carry.
        ValueError
            On a malformed ``webhook_id``.
        WebhookIdReused
            (a ``ValueError``) When ``webhook_id`` is in the outbox with another body.
        """
        typed, msg_id, body = self._prepare(event, tenant_id, payload, occurred_at, webhook_id)
        if self._outbox is None:
            return self._send_without_outbox(typed.event_type, msg_id, body)
        now = self._clock()
        entry = self._outbox.add(
            webhook_id=msg_id,
            event_type=typed.event_type,
            tenant_id=typed.tenant_id,
            body=body,
            now=now,
            retry_until=now + self._backoff.horizon,
            claim_until=now + self._claim_lease,
        )
        if entry is None:
            logger.info(
                "webhook %s (%s) is being delivered by another sender",
                msg_id,
                typed.event_type,
                extra={"webhook_id": msg_id, "event_type": typed.event_type},
            )
            return DeliveryResult(
                ok=False,
                status=None,
                body=None,
                attempts=0,
                webhook_id=msg_id,
                error="being delivered by another sender",
                queued=True,
            )
        while True:
            result, entry, pause = self._attempt(entry, inline=True)
            if pause is None or entry is None:
                return result
            self._sleep(pause)

    @overload
    def enqueue(
        self,
        event: Event,
        /,
        *,
        occurred_at: datetime | str | None = None,
        webhook_id: str | None = None,
    ) -> str: ...

    @overload
    def enqueue(
        self,
        event: str,
        tenant_id: str,
        payload: Mapping[str, Any],
        /,
        *,
        occurred_at: datetime | str | None = None,
        webhook_id: str | None = None,
    ) -> str: ...

    def enqueue(
        self,
        event: Event | str,
        tenant_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        /,
        *,
        occurred_at: datetime | str | None = None,
        webhook_id: str | None = None,
    ) -> str:
        """Write one event to the outbox, due now, and return at once with its webhook-id.

        Nothing is sent here: :meth:`deliver_next` (or a
        :class:`~funnel_emitter.background.BackgroundSender`) sends it. The arguments and
        errors are :meth:`send`'s; enqueueing an id already queued with the same body
        makes it due now again.

        Raises
        ------
        RuntimeError
            When this emitter has no outbox.
        """
        if self._outbox is None:
            raise RuntimeError("enqueue needs an emitter with an outbox")
        typed, msg_id, body = self._prepare(event, tenant_id, payload, occurred_at, webhook_id)
        now = self._clock()
        self._outbox.add(
            webhook_id=msg_id,
            event_type=typed.event_type,
            tenant_id=typed.tenant_id,
            body=body,
            now=now,
            retry_until=now + self._backoff.horizon,
        )
        return msg_id

    def deliver_next(self) -> DeliveryResult | None:
        """Take the outbox row due longest that no other sender holds, and try it once.

        Returns
        -------
        DeliveryResult or None
            The attempt's outcome; None when nothing is due.

        Raises
        ------
        RuntimeError
            When this emitter has no outbox.
        """
        return self._deliver_next(due_by=None)

    def deliver_due(self, limit: int | None = None) -> list[DeliveryResult]:
        """Try every row that is due now once (at most ``limit``); rows that fail are
        rescheduled, not retried within the call, however long it takes."""
        started = self._clock()
        results: list[DeliveryResult] = []
        while limit is None or len(results) < limit:
            result = self._deliver_next(due_by=started)
            if result is None:
                break
            results.append(result)
        return results

    def _deliver_next(self, *, due_by: float | None) -> DeliveryResult | None:
        if self._outbox is None:
            raise RuntimeError("delivering from the outbox needs an emitter with an outbox")
        now = self._clock()
        entry = self._outbox.claim_next(now=now, claim_until=now + self._claim_lease, due_by=due_by)
        if entry is None:
            return None
        result, _, _ = self._attempt(entry, inline=False)
        return result

    # --- one attempt ------------------------------------------------------------------

    def _attempt(
        self, entry: OutboxEntry, *, inline: bool
    ) -> tuple[DeliveryResult, OutboxEntry | None, float | None]:
        """Post a claimed row once and record the outcome.

        Returns the result, the row as now stored (still claimed when the caller is to
        retry it itself), and how long to pause before that retry (None: stop here).
        """
        assert self._outbox is not None
        started = time.perf_counter()
        outcome = self._post(entry.body, entry.webhook_id)
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        attempts = entry.attempts + 1
        now = self._clock()
        log = functools.partial(
            _log_attempt,
            webhook_id=entry.webhook_id,
            event_type=entry.event_type,
            attempt=attempts,
            max_attempts=None,
            outcome=outcome,
            elapsed_ms=elapsed_ms,
        )

        def result(*, ok: bool = False, queued: bool = False, dead: bool = False) -> DeliveryResult:
            return DeliveryResult(
                ok=ok,
                status=outcome.status,
                body=outcome.body,
                attempts=attempts,
                webhook_id=entry.webhook_id,
                error=outcome.error,
                queued=queued,
                dead=dead,
            )

        if outcome.ok:
            try:
                removed = self._outbox.remove_delivered(entry)
            except OutboxError:
                # Delivered all the same; the row is sent again once its claim runs out,
                # and Funnel answers that redelivery as a duplicate.
                logger.exception(
                    "webhook %s was delivered but is still in the outbox",
                    entry.webhook_id,
                    extra={"webhook_id": entry.webhook_id},
                )
                removed = True
            if not removed:
                logger.warning(
                    "webhook %s was delivered after its outbox claim ran out",
                    entry.webhook_id,
                    extra={"webhook_id": entry.webhook_id},
                )
            log(step="delivered", level=logging.INFO)
            return result(ok=True), None, None

        delay = self._retry_delay(attempts, outcome) if outcome.retryable else None
        dead_reason: str | None = REFUSED
        next_at: float | None = None
        if delay is not None:
            if now >= entry.retry_until:
                dead_reason = EXPIRED
            else:
                dead_reason = None
                next_at = min(now + delay, entry.retry_until)
        # The quick retries happen in the sending call, which keeps the row meanwhile.
        pause = (
            next_at - now if inline and next_at is not None and attempts <= len(self._retry_delays) else None
        )
        stored = self._outbox.record_attempt(
            entry,
            now=now,
            status=outcome.status,
            error=outcome.detail,
            next_attempt_at=next_at,
            dead_reason=dead_reason,
            keep_claim_until=None if pause is None else now + pause + self._claim_lease,
        )
        if stored is None:
            log(step="its outbox row was taken over or purged meanwhile", level=logging.WARNING)
            return result(), None, None
        if next_at is None:
            step = "refused, kept as dead" if dead_reason == REFUSED else "out of time, kept as dead"
            log(step=step, level=logging.ERROR)
            return result(dead=True), None, None
        wait = next_at - now
        step = (
            f"retrying in {wait:g} s" if pause is not None else f"kept in the outbox, retrying in {wait:g} s"
        )
        log(step=step, level=logging.WARNING, retry_in=wait)
        return result(queued=True), stored, pause

    def _send_without_outbox(self, event_type: str, msg_id: str, body: bytes) -> DeliveryResult:
        max_attempts = len(self._retry_delays) + 1
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            outcome = self._post(body, msg_id)
            elapsed_ms = round((time.perf_counter() - started) * 1000)
            delay = (
                self._retry_delay(attempt, outcome) if outcome.retryable and attempt < max_attempts else None
            )
            if outcome.ok:
                step, level = "delivered", logging.INFO
            elif delay is not None:
                step, level = f"retrying in {delay:g} s", logging.WARNING
            else:
                step, level = "giving up", logging.ERROR
            _log_attempt(
                webhook_id=msg_id,
                event_type=event_type,
                attempt=attempt,
                max_attempts=max_attempts,
                outcome=outcome,
                elapsed_ms=elapsed_ms,
                step=step,
                level=level,
                retry_in=delay,
            )
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

    def _retry_delay(self, attempts: int, outcome: _Attempt) -> float:
        """Seconds to wait after the ``attempts``-th attempt failed transiently."""
        quick = len(self._retry_delays)
        if attempts <= quick:
            scheduled, honour_up_to = self._retry_delays[attempts - 1], RETRY_AFTER_CAP_SECONDS
        else:
            scheduled, honour_up_to = self._backoff.delay(attempts - quick), self._backoff.cap
        if outcome.status in (429, 503) and outcome.retry_after is not None:
            return max(scheduled, min(outcome.retry_after, honour_up_to))
        return scheduled

    def _prepare(
        self,
        event: Event | str,
        tenant_id: str | None,
        payload: Mapping[str, Any] | None,
        occurred_at: datetime | str | None,
        webhook_id: str | None,
    ) -> tuple[Event, str, bytes]:
        typed = as_event(event, tenant_id, payload)
        msg_id = _new_webhook_id() if webhook_id is None else _checked_webhook_id(webhook_id)
        now = datetime.fromtimestamp(self._clock(), tz=timezone.utc)
        if isinstance(occurred_at, str):
            when = parse_iso("occurredAt", occurred_at)
        else:
            when = occurred_at or typed.happened_at() or now
        return typed, msg_id, envelope_body(typed, when, now=now)

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
    def detail(self) -> str | None:
        """``error`` with Funnel's error code when the answer has one."""
        code = (self.body or {}).get("error")
        if self.error is None or self.status is None or not isinstance(code, str):
            return self.error
        return f"{self.error} {code[:100]}"

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE_CLIENT_ERRORS or 500 <= self.status < 600


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
    *,
    webhook_id: str,
    event_type: str,
    attempt: int,
    max_attempts: int | None,
    outcome: _Attempt,
    elapsed_ms: int,
    step: str,
    level: int,
    retry_in: float | None = None,
) -> None:
    label = f"{attempt}/{max_attempts}" if max_attempts else str(attempt)
    logger.log(
        level,
        "webhook %s (%s) attempt %s: %s after %d ms, %s",
        webhook_id,
        event_type,
        label,
        outcome.detail or f"HTTP {outcome.status}",
        elapsed_ms,
        step,
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
