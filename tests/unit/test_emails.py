"""Email normalisation, shared by lead capture and webhook attribution."""

from __future__ import annotations

import pytest

from funnel.platform.emails import normalize_email, redact_emails


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


# The longest parts RFC 5321 allows: a local part of 64, a label of 63, an address of 254.
LOCAL_64 = "a" * 64
LABEL_63 = "b" * 63
DOMAIN_189 = "c" * 61 + "." + "d" * 61 + "." + "e" * 61 + ".org"


@pytest.mark.parametrize(
    ("longest", "one_more", "refusal"),
    [
        (LOCAL_64 + "@example.org", "a" + LOCAL_64 + "@example.org", "invalid local part"),
        ("ada@" + LABEL_63 + ".org", "ada@b" + LABEL_63 + ".org", "invalid domain"),
        (LOCAL_64 + "@" + DOMAIN_189, LOCAL_64 + "@c" + DOMAIN_189, "address too long"),
    ],
    ids=["local-part-64", "label-63", "address-254"],
)
def test_the_longest_parts_are_accepted_and_one_character_more_is_not(longest, one_more, refusal):
    assert len(LOCAL_64 + "@" + DOMAIN_189) == 254
    assert normalize_email(longest) == longest
    with pytest.raises(ValueError, match=refusal):
        normalize_email(one_more)


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("/account/ada.lovelace+news@example.org/edit", "/account/[email]/edit"),
        ("/unsubscribe/ada%40example.co.uk", "/unsubscribe/[email]"),
        ("/unsubscribe/ada%2540example.co.uk", "/unsubscribe/[email]"),
        ("/u/ada%40b%C3%BCcher.example", "/u/[email]"),
        ("/u/ada%2Bnews%40example.org/", "/u/[email]/"),
        ("/r?ref=ada@example.org&page=2", "/r?ref=[email]&page=2"),
        ("could not notify Ada@Example.ORG or o'brien@example.ie.", "could not notify [email] or [email]."),
        ("ada@bücher.example", "[email]"),
        ("ada@163.com", "[email]"),
        ("a@x.org'bob@y.com", "[email][email]"),
    ],
)
def test_addresses_inside_text_are_replaced(text, redacted):
    assert redact_emails(text) == redacted


@pytest.mark.parametrize(
    "text",
    ["/@ada", "spring-sale", "/docs/lodash@4.17.21", "v1.2@3", "/pricing%2040", "", "ada at example dot org"],
)
def test_text_without_an_address_is_kept_as_it_is(text):
    assert redact_emails(text) == text


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 4093 + "%40",
        "." * 4095 + "@",
        "%40" * 1365,
        ("/" + ("%40" + "a" * 8) * 372)[:4096],
        "%2540" * 819,
    ],
)
def test_hostile_runs_without_an_address_are_kept_as_they_are(hostile):
    # (A pattern that rescans such text from every character takes seconds over a batch of
    # page views; this one reads it in about a millisecond.)
    assert redact_emails(hostile) == hostile
