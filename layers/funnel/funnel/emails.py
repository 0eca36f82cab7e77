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


# An address inside free text: a page path (its "@" possibly percent-encoded), a campaign
# name, a page title, a custom property, an error message. Deliberately broad: a false
# positive costs a campaign name a word, a miss keeps personal data that delete-by-email
# cannot find (it looks for the lead's rows, not for text that happens to hold the address).
# The local part is what addresses use in practice (RFC 5322 allows "?", "=", "&" and
# more, which would swallow the query around an address).
_EMBEDDED_EMAIL = re.compile(r"[\w.%+'-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+")
EMAIL_PLACEHOLDER = "[email]"


def redact_emails(text: str) -> str:
    """Return ``text`` with every email address in it replaced by ``[email]``.

    Applied to whatever free text is stored from the site and the description service, so
    that no address is kept where delete-by-email would not reach it.
    """
    if "@" not in text and "%40" not in text:
        return text
    return _EMBEDDED_EMAIL.sub(EMAIL_PLACEHOLDER, text)
