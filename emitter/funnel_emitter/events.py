"""The six description-service events as typed structures, checked before anything is sent.

Each event is a frozen dataclass whose fields are the payload's fields in snake_case
(``job_id`` is sent as ``jobId``). Constructing one checks every field against what
Funnel's webhook accepts (``layers/funnel/funnel/schemas/webhooks.py``), so a missing,
mistyped or out-of-range field raises :class:`InvalidEvent` in the caller instead of
coming back later as a 422 that no retry can fix. ``mypy`` catches most of the same
mistakes earlier still.

>>> ScanCompleted(tenant_id="t-1", job_id="j-1", media_count=3, identities_detected=2,
...               duration_ms=900).payload()
{'jobId': 'j-1', 'mediaCount': 3, 'identitiesDetected': 2, 'durationMs': 900}
"""

from __future__ import annotations

import json
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

__all__ = [
    "EARLIEST_OCCURRED_AT",
    "EVENT_CLASSES",
    "EVENT_TYPES",
    "MAX_CLOCK_SKEW",
    "ApiKeyCreated",
    "ClusterCreated",
    "Event",
    "InvalidEvent",
    "ScanCompleted",
    "ScanFailed",
    "SuggestionResolved",
    "TenantCreated",
    "as_event",
    "envelope_body",
    "event_from_payload",
    "utc_iso",
]

# Funnel refuses an occurredAt before this moment or more than MAX_CLOCK_SKEW ahead of
# its own clock (funnel.webhooks); the unit tests keep these equal to the server's.
EARLIEST_OCCURRED_AT = datetime(2020, 1, 1, tzinfo=timezone.utc)
MAX_CLOCK_SKEW = timedelta(hours=1)

MAX_COUNT = 1_000_000_000
MAX_IDENTIFIER_LENGTH = 128
MAX_SHORT_TEXT_LENGTH = 64
MAX_KEY_PREFIX_LENGTH = 32
MAX_ERROR_MESSAGE_LENGTH = 2000
MAX_SITE_URL_LENGTH = 2048
MAX_EMAIL_INPUT_LENGTH = 320
MAX_EMAIL_LENGTH = 254
MAX_EMAIL_LOCAL_LENGTH = 64

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]*")
_EMAIL_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# The envelope's own names; a payload field may not take them.
_ENVELOPE_NAMES = frozenset({"eventType", "tenantId", "occurredAt", "payload"})

_CHECK = "funnel_check"


class InvalidEvent(ValueError):
    """An event Funnel would refuse: raised before anything is queued or sent."""


# --- field checks: each returns nothing or raises InvalidEvent naming the wire field --


def _require_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidEvent(f"{name} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise InvalidEvent(f"{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(f"{name} must be valid Unicode (no lone surrogates)") from None
    return value


def identifier(name: str, value: object) -> None:
    """1 to 128 characters: a letter or digit, then letters, digits and ``._:@/-``."""
    text = _require_str(name, value)
    if not 1 <= len(text) <= MAX_IDENTIFIER_LENGTH or not _IDENTIFIER.fullmatch(text):
        raise InvalidEvent(
            f"{name} must be 1 to {MAX_IDENTIFIER_LENGTH} characters: a letter or digit, then letters, "
            "digits or ._:@/-"
        )


def count(name: str, value: object) -> None:
    """An integer (not a bool, not a float) from 0 to 1,000,000,000."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(f"{name} must be an integer, not {type(value).__name__}")
    if not 0 <= value <= MAX_COUNT:
        raise InvalidEvent(f"{name} must be between 0 and {MAX_COUNT}")


def short_text(name: str, value: object) -> None:
    """1 to 64 characters once surrounding white space is stripped."""
    text = _require_str(name, value)
    if not 1 <= len(text.strip()) <= MAX_SHORT_TEXT_LENGTH:
        raise InvalidEvent(f"{name} must be 1 to {MAX_SHORT_TEXT_LENGTH} characters, not blank")


def _text(min_length: int, max_length: int) -> Callable[[str, object], None]:
    def check(name: str, value: object) -> None:
        text = _require_str(name, value)
        if not min_length <= len(text) <= max_length:
            raise InvalidEvent(f"{name} must be {min_length} to {max_length} characters")

    return check


key_prefix = _text(1, MAX_KEY_PREFIX_LENGTH)
error_message = _text(0, MAX_ERROR_MESSAGE_LENGTH)


def site_url(name: str, value: object) -> None:
    """An absolute http(s) URL with a host, at most 2048 characters."""
    text = _require_str(name, value)
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError:
        parts = None
    if (
        parts is None
        or len(text) > MAX_SITE_URL_LENGTH
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() or not char.isprintable() for char in text)
    ):
        raise InvalidEvent(
            f"{name} must be an http(s) URL with a host, at most {MAX_SITE_URL_LENGTH} characters"
        )


def email(name: str, value: object) -> None:
    """An address Funnel can normalise (the same rules as ``funnel.emails``)."""
    text = _require_str(name, value)
    if len(text) > MAX_EMAIL_INPUT_LENGTH or not _valid_email(text):
        raise InvalidEvent(f"{name} is not a valid email address")


def _valid_email(raw: str) -> bool:
    address = unicodedata.normalize("NFC", raw.strip()).lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(local) > MAX_EMAIL_LOCAL_LENGTH:
        return False
    if not _EMAIL_LOCAL.fullmatch(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit() or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return False
    return len(local) + 1 + len(domain) <= MAX_EMAIL_LENGTH


def moment(name: str, value: object) -> None:
    """A timezone-aware datetime (sent as ISO 8601 in UTC with a ``Z``)."""
    if not isinstance(value, datetime):
        raise InvalidEvent(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidEvent(f"{name} must be timezone-aware; a naive time is ambiguous")


def _checked(check: Callable[[str, object], None]) -> dict[str, Any]:
    """A field's metadata naming the check its value must pass."""
    return {_CHECK: check}


def wire_name(attribute: str) -> str:
    """The JSON name of a field: ``identities_detected`` -> ``identitiesDetected``."""
    head, *rest = attribute.split("_")
    return head + "".join(part.capitalize() for part in rest)


# --- the events -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Event:
    """Fields every event has.

    Attributes
    ----------
    tenant_id
        The tenant the event belongs to (the envelope's ``tenantId``).
    extra
        Payload fields Funnel does not know yet, sent as given (Funnel ignores fields it
        does not declare). They must be JSON-serialisable and may not reuse a declared
        field's name.
    """

    EVENT_TYPE: ClassVar[str]
    # The payload field that says when the event happened; the envelope's occurredAt
    # defaults to it.
    TIME_FIELD: ClassVar[str | None] = None

    tenant_id: str = field(metadata=_checked(identifier))
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for spec in fields(self):
            check = spec.metadata.get(_CHECK)
            value = getattr(self, spec.name)
            if check is None or (value is None and spec.default is None):
                continue
            try:
                check(wire_name(spec.name), value)
            except InvalidEvent as exc:
                raise InvalidEvent(f"{self.EVENT_TYPE}: {exc}") from None
        declared = {wire_name(spec.name) for spec in fields(self)}
        for key in self.extra:
            if not isinstance(key, str):
                raise InvalidEvent(f"{self.EVENT_TYPE}: extra field names must be strings")
            if key in declared or key in _ENVELOPE_NAMES:
                raise InvalidEvent(f"{self.EVENT_TYPE}: extra field {key!r} would shadow a declared field")

    @property
    def event_type(self) -> str:
        """The envelope's ``eventType``."""
        return self.EVENT_TYPE

    def payload(self) -> dict[str, Any]:
        """The payload as sent: declared fields by their JSON names (unset optional ones
        left out, times in UTC with a ``Z``), then ``extra``."""
        body: dict[str, Any] = {}
        for spec in fields(self):
            if spec.name in ("tenant_id", "extra"):
                continue
            value = getattr(self, spec.name)
            if value is not None:
                body[wire_name(spec.name)] = utc_iso(value) if isinstance(value, datetime) else value
        body.update(self.extra)
        return body

    def happened_at(self) -> datetime | None:
        """When the event happened by its own time field (``completedAt``...), if set."""
        return getattr(self, self.TIME_FIELD) if self.TIME_FIELD else None


@dataclass(frozen=True, kw_only=True)
class TenantCreated(Event):
    """``tenant.created``: a tenant signed up. ``email`` links it to a lead; Funnel uses
    it for that and does not store it."""

    EVENT_TYPE = "tenant.created"
    TIME_FIELD = "created_at"

    site_url: str | None = field(default=None, metadata=_checked(site_url))
    email: str | None = field(default=None, metadata=_checked(email))
    created_at: datetime | None = field(default=None, metadata=_checked(moment))


@dataclass(frozen=True, kw_only=True)
class ApiKeyCreated(Event):
    """``apikey.created``: a key was issued (its prefix, never the key)."""

    EVENT_TYPE = "apikey.created"
    TIME_FIELD = "created_at"

    key_prefix: str = field(metadata=_checked(key_prefix))
    rate_limit_tier: str | None = field(default=None, metadata=_checked(short_text))
    created_at: datetime | None = field(default=None, metadata=_checked(moment))


@dataclass(frozen=True, kw_only=True)
class ScanCompleted(Event):
    """``scan.completed``: a scan job finished; ``suggestions_generated`` is what it
    proposed (Funnel's suggestion resolution rate divides by it)."""

    EVENT_TYPE = "scan.completed"
    TIME_FIELD = "completed_at"

    job_id: str = field(metadata=_checked(identifier))
    media_count: int = field(metadata=_checked(count))
    identities_detected: int = field(metadata=_checked(count))
    duration_ms: int = field(metadata=_checked(count))
    suggestions_generated: int | None = field(default=None, metadata=_checked(count))
    completed_at: datetime | None = field(default=None, metadata=_checked(moment))


@dataclass(frozen=True, kw_only=True)
class ScanFailed(Event):
    """``scan.failed``: a scan job failed."""

    EVENT_TYPE = "scan.failed"
    TIME_FIELD = "failed_at"

    job_id: str = field(metadata=_checked(identifier))
    media_count: int = field(metadata=_checked(count))
    error_message: str | None = field(default=None, metadata=_checked(error_message))
    failed_at: datetime | None = field(default=None, metadata=_checked(moment))


@dataclass(frozen=True, kw_only=True)
class ClusterCreated(Event):
    """``cluster.created``: an identity cluster was formed."""

    EVENT_TYPE = "cluster.created"
    TIME_FIELD = "created_at"

    cluster_id: str = field(metadata=_checked(identifier))
    identity_count: int = field(metadata=_checked(count))
    algorithm: str | None = field(default=None, metadata=_checked(short_text))
    created_at: datetime | None = field(default=None, metadata=_checked(moment))


@dataclass(frozen=True, kw_only=True)
class SuggestionResolved(Event):
    """``suggestion.resolved``: a user accepted or rejected a suggestion."""

    EVENT_TYPE = "suggestion.resolved"
    TIME_FIELD = "resolved_at"

    suggestion_id: str = field(metadata=_checked(identifier))
    resolution: str = field(metadata=_checked(short_text))
    resolved_at: datetime | None = field(default=None, metadata=_checked(moment))


EVENT_CLASSES: Mapping[str, type[Event]] = {
    cls.EVENT_TYPE: cls
    for cls in (TenantCreated, ApiKeyCreated, ScanCompleted, ScanFailed, ClusterCreated, SuggestionResolved)
}
EVENT_TYPES = frozenset(EVENT_CLASSES)
"""Event types Funnel accepts; anything else is rejected before sending."""


def event_from_payload(event_type: str, tenant_id: str, payload: Mapping[str, Any]) -> Event:
    """Build the typed event from a payload given by its JSON names.

    Times may be aware datetimes or ISO 8601 strings with a zone. Fields the event does
    not declare are kept in ``extra``; a ``tenantId`` in the payload must equal
    ``tenant_id``.

    Raises
    ------
    InvalidEvent
        On an unknown event type, a missing required field or any field Funnel would
        refuse.
    """
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        raise InvalidEvent(f"unknown event type {event_type!r}; expected one of {sorted(EVENT_TYPES)}")
    if not isinstance(payload, Mapping):
        raise InvalidEvent(f"{event_type}: the payload must be a JSON object")
    values: dict[str, Any] = {}
    declared: set[str] = {"tenantId"}
    for spec in fields(cls):
        if spec.name in ("tenant_id", "extra"):
            continue
        name = wire_name(spec.name)
        declared.add(name)
        if name in payload:
            value = payload[name]
            if spec.metadata.get(_CHECK) is moment and isinstance(value, str):
                value = parse_iso(f"{event_type}: {name}", value)
            values[spec.name] = value
        elif spec.default is MISSING:
            raise InvalidEvent(f"{event_type}: {name} is required")
    if payload.get("tenantId", tenant_id) != tenant_id:
        raise InvalidEvent(f"{event_type}: payload tenantId differs from tenant_id")
    extra = {key: value for key, value in payload.items() if key not in declared}
    return cls(tenant_id=tenant_id, extra=extra, **values)


def as_event(event: Event | str, tenant_id: str | None, payload: Mapping[str, Any] | None) -> Event:
    """A typed event as given, or built from an event type, a tenant id and a payload.

    Raises
    ------
    TypeError
        When a typed event comes with a tenant id or payload, or an event type without.
    InvalidEvent
        As :func:`event_from_payload`.
    """
    if isinstance(event, Event):
        if tenant_id is not None or payload is not None:
            raise TypeError("pass either a typed event or event_type, tenant_id and payload")
        return event
    if tenant_id is None or payload is None:
        raise TypeError("an event type needs a tenant_id and a payload")
    return event_from_payload(event, tenant_id, payload)


def parse_iso(name: str, text: str) -> datetime:
    """An ISO 8601 date-time with a zone (``Z`` or an offset).

    Raises
    ------
    InvalidEvent
        When ``text`` is not ISO 8601 or has no zone.
    """
    raw = text.strip()
    # datetime.fromisoformat only understands a trailing "Z" from Python 3.11 on.
    if raw[-1:] in ("Z", "z"):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidEvent(f"{name} {text!r} is not an ISO-8601 date-time") from None
    moment(name, value)
    return value


def utc_iso(value: datetime) -> str:
    """A moment as ISO 8601 in UTC with a ``Z`` suffix."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def envelope_body(event: Event, occurred_at: datetime, *, now: datetime) -> bytes:
    """The request body: ``{"eventType", "tenantId", "occurredAt", "payload"}`` as
    compact JSON.

    Raises
    ------
    InvalidEvent
        When ``occurred_at`` is naive, before 2020 or more than an hour after ``now``
        (Funnel would refuse it), or the payload holds a non-finite number or something
        JSON cannot encode.
    """
    moment("occurredAt", occurred_at)
    if occurred_at < EARLIEST_OCCURRED_AT:
        raise InvalidEvent(f"occurredAt must not be before {utc_iso(EARLIEST_OCCURRED_AT)}")
    if occurred_at > now + MAX_CLOCK_SKEW:
        raise InvalidEvent("occurredAt must not be more than an hour in the future")
    document = {
        "eventType": event.event_type,
        "tenantId": event.tenant_id,
        "occurredAt": utc_iso(occurred_at),
        "payload": event.payload(),
    }
    try:
        return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
    except ValueError as exc:
        raise InvalidEvent(f"{event.event_type}: the payload is not valid JSON: {exc}") from None
    except TypeError as exc:
        raise InvalidEvent(f"{event.event_type}: the payload cannot be encoded as JSON: {exc}") from None
