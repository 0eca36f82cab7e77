"""Keys by purpose (see docs/keys.md#kinds-of-key): a key opens what its name says and
nothing more.

- the admin key (the shared ``x-admin-key``) administers, and opens every route a key
  protects, except the webhook route when the deployment refuses it there;
- a webhook key opens the webhook route only; it travels in the same ``x-admin-key``
  header, so the description service's sender contract is unchanged (see
  docs/webhooks.md#authentication);
- a metrics key reads ``GET /v1/metrics/*`` only; it travels as ``Authorization: Bearer``,
  the header a browser application (the dashboard) sends.

Webhook and metrics keys may be several at once (rotation). Every comparison goes through
:func:`key_matches`, in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from funnel.platform.errors import KeyNotConfigured, Unauthorized


@dataclass(frozen=True)
class KeyKind:
    """One purpose of key, and where a request presents it.

    Parameters
    ----------
    purpose
        ``admin``, ``webhook`` or ``metrics``: which configured keys it is compared with,
        and the error code when none is configured (``<purpose>_auth_not_configured``).
    header
        The lower-cased header that carries it.
    bearer
        Whether the header's value is ``Bearer <key>`` (RFC 6750) rather than the key.
    """

    purpose: Literal["admin", "webhook", "metrics"]
    header: str
    bearer: bool = False

    def presented(self, headers: Mapping[str, str]) -> str | None:
        """The key this request presents for this purpose, or None."""
        value = headers.get(self.header)
        if value is None or not self.bearer:
            return value
        scheme, _, token = value.strip().partition(" ")
        token = token.strip()
        # The scheme's name is case-insensitive (RFC 9110 §11.1).
        return token if scheme.lower() == "bearer" and token else None


ADMIN_KEY = KeyKind("admin", "x-admin-key")
WEBHOOK_KEY = KeyKind("webhook", "x-admin-key")
METRICS_KEY = KeyKind("metrics", "authorization", bearer=True)


def _digest(key: str) -> bytes:
    # (surrogatepass: a header with a lone surrogate is a wrong key, not a crash)
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_matches(configured: Iterable[str], supplied: str) -> bool:
    """Whether ``supplied`` is one of the ``configured`` keys.

    Both sides are hashed first and every configured key is compared, without stopping at
    a match, so the time taken says nothing about the supplied key's length or content,
    nor which key it matched.
    """
    given = _digest(supplied)
    found = False
    for key in configured:
        found |= hmac.compare_digest(_digest(key), given)
    return found


def check_key(accepted: Sequence[tuple[KeyKind, Sequence[str]]], headers: Mapping[str, str]) -> KeyKind:
    """The kind of key the request authenticates with, among those ``accepted``.

    Parameters
    ----------
    accepted
        Each kind of key the route accepts, with its configured keys (empty when none).
    headers
        The request's lower-cased headers.

    Raises
    ------
    KeyNotConfigured
        No accepted kind has a configured key (503): the route must not be open by
        accident. The code names the first accepted kind.
    Unauthorized
        No presented key matches a configured one of its kind (401; with
        ``WWW-Authenticate: Bearer`` where a bearer key would do).
    """
    if not any(keys for _, keys in accepted):
        raise KeyNotConfigured(f"{accepted[0][0].purpose}_auth_not_configured" if accepted else None)
    matched = None
    for kind, keys in accepted:
        supplied = kind.presented(headers)
        if supplied is not None and key_matches(keys, supplied) and matched is None:
            matched = kind
    if matched is None:
        bearer = any(kind.bearer for kind, _ in accepted)
        # RFC 9110 §15.5.2: a 401 names the schemes that would do (x-admin-key is none).
        raise Unauthorized(headers={"WWW-Authenticate": 'Bearer realm="funnel"'} if bearer else None)
    return matched
