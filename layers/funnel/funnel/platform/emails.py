"""Email normalisation: the one function lead capture and webhook attribution share, so
that a lead and a tenant with the same address always meet on ``email_normalized``; and
the redaction of addresses in free text (docs/privacy.md#email-addresses-in-free-text)."""

from __future__ import annotations

# The IDNA codec of every domain: imported with the module, so a function's first address
# costs its cold start no import.
import encodings.idna  # noqa: F401
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


# An address inside free text: a page path (its "@" possibly percent-encoded, even twice),
# a campaign name, a page title, a custom property, an error message. Deliberately broad:
# a false positive costs a campaign name a word, a miss keeps personal data that
# delete-by-email cannot find (it looks for the lead's rows, not for text that happens to
# hold the address).
# - The local part is what addresses use in practice: RFC 5322 also allows "?", "=", "&"
#   and more, which would swallow the query around an address.
# - Labels may be percent-encoded (an internationalised domain in a path), and the last
#   one needs a letter, so "lodash@4.17.21" is a version, not an address.
# - A percent escape counts as one character, and "%40" (or "%2540") is never part of a
#   local part or a label, so every run ends where it must and can be matched without
#   backtracking (possessive quantifiers); runs are bounded too (64 characters of local
#   part, RFC 5321's limit; 63 per label; 10 labels). A hostile 4 KB path costs about a
#   millisecond, not a rescan of the text from every character.
_ESCAPE = r"%(?!(?:25)?40)[0-9A-Fa-f]{2}"
_EMBEDDED_EMAIL = re.compile(
    rf"(?:[\w.+'-]|{_ESCAPE}){{1,64}}+"  # local part
    r"(?:@|%40|%2540)"
    rf"(?:(?:[\w-]|{_ESCAPE}){{1,63}}+\.){{1,10}}"  # labels
    rf"(?=[\w%-]{{0,62}}[^\W\d_])(?:[\w-]|{_ESCAPE}){{1,63}}+"  # top-level label, with a letter
)
EMAIL_PLACEHOLDER = "[email]"


def redact_emails(text: str) -> str:
    """Return ``text`` with every email address in it replaced by ``[email]``.

    Applied to whatever free text is stored from the site and the description service, so
    that no address is kept where delete-by-email would not reach it. The result can be a
    little longer than ``text`` (``a@b.io`` is shorter than the placeholder): callers that
    store it in a bounded column cut it after redacting.
    """
    if "@" not in text and "%40" not in text and "%2540" not in text:
        return text
    return _EMBEDDED_EMAIL.sub(EMAIL_PLACEHOLDER, text)
