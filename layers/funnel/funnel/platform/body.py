"""Request bodies: what a body may be before anything reads it (its size, its encoding, its
media type), and how each accepted media type is read: JSON, strictly and to a bounded
depth; sendBeacon's ``text/plain``, which is JSON too; and HTML forms, urlencoded or
multipart, as a JSON object of their fields.

Plain bytes and strings in, plain values out: the resolver (:mod:`funnel.platform.http`)
reads bodies through it, and so does the replay of buffered requests and the webhook
digest, without an HTTP type.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from funnel.platform.errors import MalformedRequest, PayloadTooLarge, UnsupportedMediaType

JSON = "application/json"
TEXT = "text/plain"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
MAX_FORM_FIELDS = 200

MAX_JSON_DEPTH = 32
"""Deepest nesting of objects and arrays a request body may have (the body's own object or
array is level 1). No model here goes past 4; the limit bounds what validation, logging
and jsonb have to walk."""


def media_type(headers: Mapping[str, str]) -> str:
    """The media type of ``content-type`` without parameters, lower-cased ("" when absent)."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def decoded(raw: str, *, base64_encoded: bool) -> bytes:
    """The bytes of a body as API Gateway passes it: base64 text when it says so, else
    text (a lone surrogate kept as it came, for the UTF-8 check to refuse).

    Raises
    ------
    MalformedRequest
        ``invalid_body_encoding`` for base64 that does not decode.
    """
    if not base64_encoded:
        return raw.encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedRequest("invalid_body_encoding") from None


def admit(body: bytes, *, max_bytes: int, kind: str, accepted: Collection[str]) -> None:
    """Check what a body may be before anything reads it: at most ``max_bytes``, UTF-8 (every
    route takes text: JSON, or a form, which is ASCII; anything else would fail deep inside
    the framework), and, when not empty, of a media type ``kind`` among ``accepted`` (or of
    none named).

    Raises
    ------
    PayloadTooLarge
        413, with ``maxBytes``.
    MalformedRequest
        ``invalid_body_encoding`` for a body that is not UTF-8.
    UnsupportedMediaType
        415, with the ``contentType`` sent and the ``accepted`` ones.
    """
    if len(body) > max_bytes:
        raise PayloadTooLarge(details={"maxBytes": max_bytes})
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("invalid_body_encoding", details="the body is not UTF-8") from None
    if body and kind and kind not in accepted:
        raise UnsupportedMediaType(details={"contentType": kind[:100], "accepted": sorted(accepted)})


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if math.isinf(number):
        # 1e400: Python reads it as infinity, which JSON cannot write back.
        raise _NotJson(f"{literal[:20]} is out of a double's range")
    return number


# One decoder for every request (json.loads with an argument builds a new one per call).
_STRICT_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


class JsonTooDeep(json.JSONDecodeError):
    """A body nested deeper than :data:`MAX_JSON_DEPTH` (a 400 ``json_too_deep``)."""

    def __init__(self, document: str) -> None:
        super().__init__(f"the body is nested deeper than {MAX_JSON_DEPTH} levels", document, 0)


def _nesting_fits(node: dict[str, Any] | list[Any], room: int) -> bool:
    """Whether no container inside ``node`` is more than ``room`` levels below it.

    It visits each container's values once and goes no deeper than the limit; a webhook
    takes about a microsecond, a batch of 100 events a fraction of its parsing time.
    """
    for child in node.values() if type(node) is dict else node:
        if (type(child) is dict or type(child) is list) and (room == 0 or not _nesting_fits(child, room - 1)):
            return False
    return True


def strict_json(text: str | bytes) -> Any:
    """Parse a request body as JSON, refusing what PostgreSQL's jsonb or Python cannot
    hold: ``NaN``, ``Infinity`` and numbers beyond a double (Python's parser accepts them,
    jsonb refuses them), integers of more digits than Python converts, and nesting deeper
    than :data:`MAX_JSON_DEPTH` (:class:`JsonTooDeep`). Each is malformed JSON (400) here
    rather than a failed write or a crash later."""
    try:
        document = text if isinstance(text, str) else text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError("the body is not UTF-8", "", exc.start) from exc
    try:
        value = _STRICT_DECODER.decode(document)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise JsonTooDeep(document) from None
    except ValueError as exc:  # _NotJson, and int() refusing thousands of digits
        raise json.JSONDecodeError(str(exc)[:200], document, 0) from None
    if (type(value) is dict or type(value) is list) and not _nesting_fits(value, MAX_JSON_DEPTH - 1):
        raise JsonTooDeep(document)
    return value


_NESTED = re.compile(r"^([A-Za-z0-9_]+)\[([^\[\]]*)\]$")


def form_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Form fields as a JSON object: ``a=1`` is ``{"a": "1"}``, ``fields[b]=2`` is
    ``{"fields": {"b": "2"}}`` (one level, as HTML forms name grouped inputs); the last of
    repeated names wins.

    Raises
    ------
    MalformedRequest
        ``invalid_form`` for a name used both as a field and as a group.
    """
    fields: dict[str, Any] = {}
    for name, value in pairs:
        nested = _NESTED.match(name)
        if nested:
            group = fields.setdefault(nested.group(1), {})
            if not isinstance(group, dict):
                raise MalformedRequest(
                    "invalid_form", details=f"{nested.group(1)} is both a field and a group"
                )
            group[nested.group(2)] = value
        else:
            if isinstance(fields.get(name), dict):
                raise MalformedRequest("invalid_form", details=f"{name} is a field and a group")
            fields[name] = value
    return fields


def urlencoded_pairs(body: bytes) -> list[tuple[str, str]]:
    """An urlencoded body's fields, at most ``MAX_FORM_FIELDS``."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise MalformedRequest("invalid_form", details="too many form fields") from None


def multipart_pairs(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """A ``multipart/form-data`` body's text fields (uploaded files are not fields)."""
    # Imported here: the e-mail package's HTTP policy is no part of a cold start, and only
    # a multipart form post needs it.
    from email import policy
    from email.message import EmailMessage
    from email.parser import BytesParser

    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body
    )
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise MalformedRequest("invalid_form", details="not a multipart body")
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        if len(pairs) == MAX_FORM_FIELDS:
            raise MalformedRequest("invalid_form", details="too many form fields")
        payload = part.get_payload(decode=True)
        pairs.append((name, payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""))
    return pairs


def json_text(body: bytes, content_type: str) -> str:
    """A UTF-8 body (see :func:`admit`) as JSON text: a form, urlencoded or multipart, as
    the JSON object of its fields (:func:`form_fields`); anything else, JSON or
    sendBeacon's ``text/plain``, as it is.

    Raises
    ------
    MalformedRequest
        ``invalid_form`` for a form that cannot be read.
    """
    kind = media_type({"content-type": content_type})
    if kind == FORM:
        fields = form_fields(urlencoded_pairs(body))
    elif kind == MULTIPART:
        fields = form_fields(multipart_pairs(body, content_type))
    else:
        return body.decode("utf-8")
    return json.dumps(fields, separators=(",", ":"))


def readable_document(body: bytes, kind: str) -> object | None:
    """As much of a body as can be read without trusting it: an urlencoded form's fields
    (blank ones left out, the last of repeated names), else the body as JSON; None when
    it is neither (what a refused request's accounting looks for its property in)."""
    try:
        text = body.decode("utf-8")
        return dict(parse_qsl(text)) if kind == FORM else strict_json(text)
    except (UnicodeDecodeError, ValueError):
        return None
