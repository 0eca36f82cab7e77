"""The pages of the public unsubscribe flow (:mod:`funnel.privacy.unsubscribe`): the
confirmation page with its button, the page once unsubscribed, a page for each refusal,
and the short text a mail client's one-click request gets. Each is sent with headers that
let it load nothing, run nothing, post only to its own origin and never be framed, cached
or indexed."""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass, field

from funnel.platform.errors import FunnelError, ServiceUnavailable

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:1.125rem;"
    "line-height:1.5;color:#1b1b1b;background:#fff;margin:0}"
    "main{max-width:34rem;margin:3rem auto;padding:0 1.25rem}"
    "h1{font-size:1.6rem;line-height:1.25}"
    "button{font:inherit;font-weight:600;padding:.65rem 1.4rem;border:2px solid #1b1b1b;"
    "border-radius:.375rem;background:#1b1b1b;color:#fff;cursor:pointer}"
    "button:hover{background:#3a3a3a}"
    "button:focus-visible{outline:3px solid #1a5fd0;outline-offset:3px}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# The pages load nothing, run nothing and may only post to this origin; no page may frame
# them (a framed button could be clicked by trickery); the token in the URL must not leak
# through Referer; and nothing is cached or indexed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Page:
    """An answer of the public unsubscribe function; its headers are
    :data:`SECURITY_HEADERS` and the page's own (a ``Retry-After``)."""

    status: int
    body: str
    content_type: str = HTML
    own_headers: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {**SECURITY_HEADERS, **self.own_headers}


def text_page(status: int, text: str, *, headers: dict[str, str] | None = None) -> Page:
    """A short text answer (to a mail client's one-click request)."""
    return Page(status, text, content_type=TEXT, own_headers=headers or {})


def _document(title: str, *paragraphs: str, form: str = "") -> str:
    body = "".join(f"<p>{html.escape(text)}</p>" for text in paragraphs)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}{form}</main></body></html>"
    )


def confirmation_page(token: str) -> Page:
    # The form posts to "unsubscribe", relative to this page's /v1/unsubscribe, so it
    # works under any base path; the token travels in the body, not the URL.
    form = (
        '<form method="post" action="unsubscribe">'
        f'<input type="hidden" name="token" value="{html.escape(token, quote=True)}">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return Page(
        200,
        _document(
            "Unsubscribe from AltContext emails",
            "Select the button below to stop receiving marketing email from AltContext. "
            "It takes effect immediately.",
            form=form,
        ),
    )


def unsubscribed_page() -> Page:
    return Page(
        200,
        _document(
            "You are unsubscribed",
            "You will not receive marketing email from AltContext any more. You can close this page.",
        ),
    )


# What a refused visitor reads, by error code (the link's errors, of
# funnel.privacy.unsubscribe), else whether to try again (any 503), else the last entry.
_ERROR_TEXT: dict[str, tuple[str, str]] = {
    "unsubscribe_link_expired": (
        "This unsubscribe link has expired",
        "Unsubscribe links work for at least 60 days after the email was sent. Use the "
        "unsubscribe link in a more recent email from AltContext, or reply to one and ask us to stop.",
    ),
    "invalid_unsubscribe_token": (
        "This unsubscribe link is not valid",
        "The link may have been cut short when it was copied. Open it again from the email, "
        "or use the unsubscribe link in another email from AltContext.",
    ),
    "": ("This request could not be processed", "Open the link again from the email."),
}
_RETRY = (
    "Please try again in a moment",
    "We could not process your request just now and nothing has changed. Please try again in a few minutes.",
)


def error_page(exc: FunnelError) -> Page:
    """The page for a refused request; the status (and any Retry-After) is the error's."""
    if isinstance(exc, ServiceUnavailable):
        title, text = _RETRY
    else:
        title, text = _ERROR_TEXT.get(exc.code, _ERROR_TEXT[""])
    return Page(exc.status, _document(title, text), own_headers=dict(exc.headers))
