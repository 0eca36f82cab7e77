"""Types shared by several schemas."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from funnel.platform.emails import normalize_email


def storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded as UTF-8:
    # either would fail at the database, so both are input errors here.
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode") from None
    return value


Text = Annotated[str, AfterValidator(storable)]


def _integral(value: object) -> object:
    # JSON has one number type: 3.0 is the integer 3 (as JSON Schema's "integer" says), while
    # 3.5, "3" and true stay refused by the strict check.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Count = Annotated[int, BeforeValidator(_integral), Field(ge=0, le=1_000_000_000, strict=True)]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
]
# What a property id may be (an Identifier); configured ids are checked against it.
PROPERTY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}")

# Non-blank text, stripped. The constraints come before the Text check so that they see
# the stripped text: stacked on Text, its validator would make them check the length
# before stripping ("   " would pass as "").
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True), AfterValidator(storable)
]


# RFC 3339's date-time (the profile of ISO 8601 that OpenAPI's "date-time" names): seconds,
# any fraction (kept to the microsecond), and a zone, Z or an offset.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)


def _date_time_text(value: object) -> object:
    # pydantic's datetime also takes numbers and numeric strings as Unix time (0 would be
    # 1970-01-01), dates alone, and times without seconds or zone colons: a timestamp here
    # is the text of an RFC 3339 date-time, or a datetime built in code.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        raise ValueError(
            "must be an ISO 8601 (RFC 3339) date-time string with seconds and a time zone, "
            "like 2026-02-13T12:00:00Z or 2026-02-13T07:00:00.250-05:00"
        )
    return value


# (Documented as JSON Schema's "date-time", which is exactly RFC 3339's.)
Timestamp = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]
"""An instant, sent as an RFC 3339 date-time string with a zone; never a number."""


def _normalized(value: str) -> str:
    try:
        return normalize_email(value)
    except ValueError as exc:
        raise ValueError(f"invalid email: {exc}") from None


NormalizedEmail = Annotated[
    Text,
    StringConstraints(max_length=320),
    AfterValidator(_normalized),
    Field(
        json_schema_extra={
            "format": "email",
            "description": "an email address (local part and a domain with a dot; case and "
            "surrounding spaces do not matter)",
        }
    ),
]


class ErrorResponse(BaseModel):
    """Every error answer: ``{"ok": false, "error": code, "details": ...}``."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = False
    error: str
    details: object | None = None
    accepted: list[str] | None = Field(
        default=None,
        description="with unknown_query_parameter only: the query parameters the route takes",
    )


class RequestQueued(BaseModel):
    """``{"ok": true, "queued": true}``: the database could not be reached in time, so the
    validated request is buffered (an SQS queue) and written, exactly once, when the
    database is back. Nothing need be sent again."""

    ok: Literal[True] = True
    queued: Literal[True] = True
