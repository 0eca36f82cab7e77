"""Small builders that derive variations from the sample events in ``events/``."""

from __future__ import annotations

import base64
import copy
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from funnel.platform.signatures import sign
from tests.conftest import ADMIN_KEY, load_event


def webhook_event(
    sample: str = "tenant_created",
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str | None] | None = None,
    sign_with: str | list[str] | None = None,
    timestamp: int | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    """An API Gateway event for ``POST /v1/webhooks/description-service``.

    Parameters
    ----------
    sample
        Which ``events/webhook_ingest/<sample>.json`` to start from.
    body
        A whole replacement JSON body; ``envelope`` keywords instead patch the sample's.
    raw_body
        The body text exactly (for malformed JSON).
    headers
        Headers to set; a ``None`` value removes the header.
    sign_with
        A secret, or several (one signature each), to sign with at ``timestamp``.
    """
    event = copy.deepcopy(load_event(f"webhook_ingest/{sample}.json"))
    event["headers"]["x-admin-key"] = ADMIN_KEY
    if raw_body is None:
        document = body if body is not None else {**json.loads(event["body"]), **envelope}
        raw_body = json.dumps(document, separators=(",", ":"))
    event["body"] = raw_body
    for name, value in (headers or {}).items():
        if value is None:
            event["headers"].pop(name, None)
        else:
            event["headers"][name] = value
    if sign_with is not None:
        secrets = [sign_with] if isinstance(sign_with, str) else sign_with
        stamp = int(time.time()) if timestamp is None else timestamp
        msg_id = event["headers"]["webhook-id"]
        event["headers"]["webhook-timestamp"] = str(stamp)
        event["headers"]["webhook-signature"] = " ".join(sign(s, msg_id, stamp, raw_body) for s in secrets)
    return event


def as_base64(event: dict[str, Any], raw: bytes | None = None) -> dict[str, Any]:
    """The same event with its body base64-encoded, as API Gateway sends binary bodies."""
    encoded = copy.deepcopy(event)
    encoded["body"] = base64.b64encode(raw if raw is not None else event["body"].encode()).decode()
    encoded["isBase64Encoded"] = True
    return encoded


def response_json(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def with_changes(
    event: dict[str, Any],
    *,
    body: str | None = None,
    headers: dict[str, str | None] | None = None,
    query: str | dict[str, str] | None = None,
) -> dict[str, Any]:
    """A copy of an API event with its raw body, headers (``None`` removes one) or query
    string (a dict is urlencoded) changed."""
    event = copy.deepcopy(event)
    if body is not None:
        event["body"] = body
        event["isBase64Encoded"] = False
    for name, value in (headers or {}).items():
        if value is None:
            event["headers"].pop(name, None)
        else:
            event["headers"][name] = value
    if query is not None:
        pairs = dict(parse_qsl(query, keep_blank_values=True)) if isinstance(query, str) else query
        event["rawQueryString"] = query if isinstance(query, str) else urlencode(query)
        event["queryStringParameters"] = pairs
    return event


def api_event(
    sample: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str | None] | None = None,
    query: str | dict[str, str] | None = None,
) -> dict[str, Any]:
    """A sample API event (``events/<sample>.json``) with its body, headers or query changed."""
    if body is not None:
        raw_body = json.dumps(body, separators=(",", ":"))
    return with_changes(load_event(f"{sample}.json"), body=raw_body, headers=headers, query=query)


def sample_body(sample: str) -> Any:
    """The decoded JSON body of a sample event."""
    event = load_event(f"{sample}.json")
    raw = base64.b64decode(event["body"]).decode() if event.get("isBase64Encoded") else event["body"]
    return json.loads(raw)
