"""Email normalisation: the one function lead capture and webhook attribution share, so
that a lead and a tenant with the same address always meet on ``email_normalized``."""

from __future__ import annotations

import re
import unicodedata

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_LENGTH = 64
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_email(raw: str) -> str:
    """Return the canonical form of an address, or raise ``ValueError``.

    Surrounding white space is removed, the address is NFC-normalised and lower-cased,
    and an internationalised domain becomes its IDNA (punycode) form. The local part is
    kept as written otherwise: sub-addresses (``+tag``) and dots are meaningful to many
    providers, and merging them could link one person's consent to another's address.
    """
    email = unicodedata.normalize("NFC", raw.strip()).lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("not an email address")
    if len(local) > MAX_LOCAL_LENGTH or not _LOCAL.match(local):
        raise ValueError("invalid local part")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValueError("invalid local part")
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("invalid domain") from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise ValueError("invalid domain")
    normalized = f"{local}@{domain}"
    if len(normalized) > MAX_EMAIL_LENGTH:
        raise ValueError("address too long")
    return normalized
