"""Types shared by several schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from funnel.emails import normalize_email


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
Count = Annotated[int, Field(ge=0, le=1_000_000_000, strict=True)]
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")
]

# Non-blank text, stripped. The constraints come before the Text check so that they see
# the stripped text: stacked on Text, its validator would make them check the length
# before stripping ("   " would pass as "").
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True), AfterValidator(storable)
]


def _normalized(value: str) -> str:
    try:
        return normalize_email(value)
    except ValueError as exc:
        raise ValueError(f"invalid email: {exc}") from None


NormalizedEmail = Annotated[Text, StringConstraints(max_length=320), AfterValidator(_normalized)]


class ErrorResponse(BaseModel):
    """Every error answer: ``{"ok": false, "error": code, "details": ...}``."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = False
    error: str
    details: object | None = None
