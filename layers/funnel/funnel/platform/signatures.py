"""Standard Webhooks signatures (https://www.standardwebhooks.com).

A delivery carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries computed over
``"{id}.{timestamp}.{body}"`` with the secret's key bytes. Secrets are ``whsec_<base64>``
of 24 to 64 random bytes (the specification's bounds: a shorter key is guessable, and an
empty one would make every signature forgeable). Several configured secrets and several
signatures are accepted so secrets can rotate. The contract: docs/webhooks.md#signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from functools import lru_cache

from funnel.platform.errors import InvalidSignature

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SIGNATURE_VERSION = "v1"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
# Unix seconds stay within 10 digits until the year 2286; 12 leaves room, and no more.
MAX_TIMESTAMP_DIGITS = 12


@lru_cache(maxsize=32)
def secret_key(secret: str) -> bytes:
    """Key bytes of a ``whsec_<base64>`` secret (cached: decoding is per secret, not per call).

    Raises
    ------
    ValueError
        When the secret is not ``whsec_`` followed by valid base64 of 24 to 64 bytes. The
        message never contains the secret.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook signing secrets must start with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise ValueError("webhook signing secret is not valid base64 after 'whsec_'") from exc
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"webhook signing secret holds {len(key)} bytes after 'whsec_'; "
            f"it must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}"
        )
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """Return the ``v1,<base64>`` signature of one delivery."""
    return f"{SIGNATURE_VERSION},{_signature(secret, msg_id, timestamp, body)}"


def _signature(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """The base64 HMAC-SHA256 of ``"{id}.{timestamp}.{body}"`` (a signature without its version)."""
    payload = body.encode() if isinstance(body, str) else body
    # (surrogatepass: an id no sender could have signed fails to match, never crashes)
    signed = f"{msg_id}.{timestamp}.".encode("utf-8", "surrogatepass") + payload
    return base64.b64encode(hmac.digest(secret_key(secret), signed, hashlib.sha256)).decode()


def verify(
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: str | bytes,
    *,
    now: float,
    tolerance_seconds: int,
) -> str:
    """Check a delivery's signature; return its ``webhook-id``.

    Parameters
    ----------
    secrets
        Every currently valid secret; a signature made with any of them passes.
    headers
        Request headers with lower-cased names.
    body
        The raw request body, exactly as received.
    now
        Current Unix time (injected, so tests can pin the clock).
    tolerance_seconds
        Largest accepted distance between ``webhook-timestamp`` and ``now``, either way.

    Raises
    ------
    InvalidSignature
        With a reason code: missing headers, a stale or future timestamp, or no match.
    """
    msg_id = headers.get("webhook-id", "").strip()
    raw_timestamp = headers.get("webhook-timestamp", "").strip()
    raw_signatures = headers.get("webhook-signature", "").strip()
    if not (msg_id and raw_timestamp and raw_signatures):
        raise InvalidSignature("missing_signature_headers")
    # Unix seconds in ASCII digits; int() would also take other scripts' digits, and one
    # of hundreds of digits cannot be compared with a float clock.
    if not (
        raw_timestamp.isascii() and raw_timestamp.isdigit() and len(raw_timestamp) <= MAX_TIMESTAMP_DIGITS
    ):
        raise InvalidSignature("invalid_timestamp")
    timestamp = int(raw_timestamp)
    if abs(now - timestamp) > tolerance_seconds:
        raise InvalidSignature("timestamp_out_of_tolerance")

    offered = [
        candidate.split(",", 1)[1]
        for candidate in raw_signatures.split()
        # (a signature is base64: anything else cannot match, and compare_digest refuses
        # non-ASCII text)
        if candidate.startswith(f"{SIGNATURE_VERSION},") and candidate.isascii()
    ]
    for secret in secrets:
        expected = _signature(secret, msg_id, timestamp, body)
        if any(hmac.compare_digest(expected, signature) for signature in offered):
            return msg_id
    raise InvalidSignature("signature_mismatch")
