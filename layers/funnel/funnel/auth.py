"""Admin authentication: the shared ``x-admin-key`` header (seed 002, "Admin Auth
Extraction"), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

from funnel.errors import AdminAuthNotConfigured, Unauthorized


def check_admin_key(configured: str | None, supplied: str | None) -> None:
    """Pass when ``supplied`` equals the configured key.

    Both sides are hashed first, so the comparison takes the same time whatever the
    supplied key's length or content.

    Raises
    ------
    AdminAuthNotConfigured
        No key is configured (503): the route must not be open by accident.
    Unauthorized
        The header is missing or wrong (401).
    """
    if not configured:
        raise AdminAuthNotConfigured()
    if supplied is None:
        raise Unauthorized()
    expected = hashlib.sha256(configured.encode()).digest()
    # (surrogatepass: a header with a lone surrogate is a wrong key, not a crash)
    given = hashlib.sha256(supplied.encode("utf-8", "surrogatepass")).digest()
    if not hmac.compare_digest(expected, given):
        raise Unauthorized()
