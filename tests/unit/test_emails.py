"""Email normalisation, shared by lead capture and webhook attribution."""

from __future__ import annotations

import pytest

from funnel.emails import normalize_email, redact_emails


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Ada.Lovelace@Example.org", "ada.lovelace@example.org"),
        ("  ada@example.org\n", "ada@example.org"),
        ("ada+news@example.org", "ada+news@example.org"),
        ("ADA@EXAMPLE.ORG.", "ada@example.org"),
        ("ada@bücher.example", "ada@xn--bcher-kva.example"),
        ("o'brien@example.co.uk", "o'brien@example.co.uk"),
    ],
)
def test_addresses_normalise_to_one_canonical_form(raw, normalized):
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plainaddress",
        "@example.org",
        "ada@",
        "ada@localhost",
        "ada@example..org",
        "ada@-example.org",
        ".ada@example.org",
        "ada..l@example.org",
        "ada lovelace@example.org",
        "ada@example.123",
        "a" * 65 + "@example.org",
        "ada@" + "a" * 250 + ".org",
        'ada"@example.org',
    ],
)
def test_non_addresses_are_refused(raw):
    with pytest.raises(ValueError, match=r"invalid|not an email|too long"):
        normalize_email(raw)


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("/account/ada.lovelace+news@example.org/edit", "/account/[email]/edit"),
        ("/unsubscribe/ada%40example.co.uk", "/unsubscribe/[email]"),
        ("/r?ref=ada@example.org&page=2", "/r?ref=[email]&page=2"),
        ("could not notify Ada@Example.ORG or o'brien@example.ie", "could not notify [email] or [email]"),
        ("ada@bücher.example", "[email]"),
    ],
)
def test_addresses_inside_text_are_replaced(text, redacted):
    assert redact_emails(text) == redacted


@pytest.mark.parametrize(
    "text", ["/@ada", "spring-sale", "v1.2@3", "/pricing%2040", "", "ada at example dot org"]
)
def test_text_without_an_address_is_kept_as_it_is(text):
    assert redact_emails(text) == text
