"""funnel.privacy.unsubscribe tokens: signed, per lead, valid for the configured days, refused
when expired, tampered with, malformed or signed with another key."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from funnel.platform.errors import FunnelError
from funnel.privacy.unsubscribe import (
    ExpiredUnsubscribeToken,
    InvalidUnsubscribeToken,
    confirmation_page,
    error_page,
    expires_on,
    issue_token,
    link_url,
    read_token,
    verify_token,
)

KEY = b"unit-test-unsubscribe-key"
LEAD = UUID("0b7e4c2a-93d5-4f1e-8a6b-2c9d1e5f7a30")
ISSUED = datetime(2026, 2, 13, 23, 59, tzinfo=UTC)


def verify(token: str | None, *, now: datetime = ISSUED, key: bytes = KEY, days: int = 180) -> UUID:
    return verify_token(token, keys=[key], now=now, valid_days=days)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign(payload: bytes) -> str:
    """A token made by hand, following the documented format."""
    mac = hmac.new(KEY, b"funnel-unsubscribe\x00" + payload, hashlib.sha256).digest()[:16]
    return f"{b64(payload)}.{b64(mac)}"


def flip(text: str, index: int) -> str:
    """The same text with one base64url character changed."""
    replacement = "B" if text[index] == "A" else "A"
    return text[:index] + replacement + text[index + 1 :]


class TestIssueAndVerify:
    def test_a_fresh_token_names_its_lead(self):
        token = issue_token(LEAD, key=KEY, now=ISSUED)
        assert verify(token) == LEAD

    def test_the_token_is_url_safe_and_holds_no_email_or_padding(self):
        token = issue_token(LEAD, key=KEY, now=ISSUED)
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
        assert len(token) == 51 and token.count(".") == 1

    def test_tokens_differ_per_lead_and_per_day_but_not_within_a_day(self):
        same_day = issue_token(LEAD, key=KEY, now=ISSUED - timedelta(hours=23))
        assert same_day == issue_token(LEAD, key=KEY, now=ISSUED)
        assert issue_token(uuid4(), key=KEY, now=ISSUED) != same_day
        assert issue_token(LEAD, key=KEY, now=ISSUED + timedelta(days=1)) != same_day

    def test_the_payload_carries_the_issue_day(self):
        token = issue_token(LEAD, key=KEY, now=ISSUED)
        assert read_token(token, keys=[KEY], now=ISSUED).issued_on == date(2026, 2, 13)

    def test_link_url_carries_the_token_under_the_base_url(self):
        token = issue_token(LEAD, key=KEY, now=ISSUED)
        assert (
            link_url("https://go.example.org/", token)
            == f"https://go.example.org/v1/unsubscribe?token={token}"
        )


class TestExpiry:
    def test_valid_through_the_last_day_of_its_life(self):
        # Given a token issued on 2026-02-13 with a 180-day life
        token = issue_token(LEAD, key=KEY, now=ISSUED)
        last_day = expires_on(date(2026, 2, 13), 180)
        assert last_day == date(2026, 8, 12)

        # Then it works at the last moment of its last day
        assert verify(token, now=datetime(2026, 8, 12, 23, 59, 59, tzinfo=UTC)) == LEAD

        # And not one second later
        with pytest.raises(ExpiredUnsubscribeToken) as refused:
            verify(token, now=datetime(2026, 8, 13, tzinfo=UTC))
        assert refused.value.status == 410

    def test_the_lifetime_follows_the_setting(self):
        token = issue_token(LEAD, key=KEY, now=ISSUED)
        later = ISSUED + timedelta(days=70)
        with pytest.raises(ExpiredUnsubscribeToken):
            verify(token, now=later, days=60)
        assert verify(token, now=later, days=90) == LEAD

    def test_a_token_from_the_future_is_invalid(self):
        # Tolerates tomorrow (clocks straddling midnight), not later
        assert verify(issue_token(LEAD, key=KEY, now=ISSUED + timedelta(days=1))) == LEAD
        with pytest.raises(InvalidUnsubscribeToken):
            verify(issue_token(LEAD, key=KEY, now=ISSUED + timedelta(days=2)))


class TestTampering:
    @pytest.mark.parametrize("index", [0, 1, 5, 20, 26, 27, 29, 40, 50])
    def test_any_changed_character_is_refused(self, index):
        token = issue_token(LEAD, key=KEY, now=ISSUED)
        tampered = flip(token, index)
        with pytest.raises(InvalidUnsubscribeToken) as refused:
            verify(tampered)
        assert refused.value.status == 400

    def test_another_leads_id_under_the_original_signature_is_refused(self):
        # Given a valid token whose payload is swapped for another lead's
        token = issue_token(LEAD, key=KEY, now=ISSUED)
        other = issue_token(uuid4(), key=KEY, now=ISSUED)
        forged = other.split(".")[0] + "." + token.split(".")[1]

        # Then the signature no longer matches
        with pytest.raises(InvalidUnsubscribeToken):
            verify(forged)

    def test_an_extended_issue_day_is_refused(self):
        # Given a token whose issue day is moved forward to dodge expiry
        token = issue_token(LEAD, key=KEY, now=ISSUED)
        payload = bytearray(base64.urlsafe_b64decode(token.split(".")[0]))
        payload[-1] += 30
        moved = b64(bytes(payload)) + "." + token.split(".")[1]
        with pytest.raises(InvalidUnsubscribeToken):
            verify(moved)

    def test_a_token_signed_with_another_key_is_refused(self):
        token = issue_token(LEAD, key=b"someone-elses-key-0000", now=ISSUED)
        with pytest.raises(InvalidUnsubscribeToken):
            verify(token)

    @pytest.mark.parametrize(
        "token",
        [
            None,
            "",
            "not-a-token",
            "AQt-TCqT1U8eimssnR5fejAAAFAR",
            "AQt-TCqT1U8eimssnR5fejAAAFAR.",
            "AQt-TCqT1U8eimssnR5fejAAAFAR.zWFfJdyjMhRtjkHrHjwfYw.extra",
            "AQt+TCqT1U8eimssnR5fejAAAFAR.zWFfJdyjMhRtjkHrHjwfYw",
            "AQt-TCqT1U8eimssnR5fejAAAFAR=.zWFfJdyjMhRtjkHrHjwfYw",
            " AQt-TCqT1U8eimssnR5fejAAAFAR.zWFfJdyjMhRtjkHrHjwfYw",
            "A" * 5000,
            "<script>alert(1)</script>",
        ],
    )
    def test_malformed_tokens_are_refused(self, token):
        with pytest.raises(InvalidUnsubscribeToken) as refused:
            verify(token)
        assert refused.value.reason == "malformed"

    def test_the_documented_format_is_the_one_checked(self):
        # Given a token built by hand from the format in the module's docstring
        day = (date(2026, 2, 13) - date(1970, 1, 1)).days
        payload = bytes([1]) + LEAD.bytes + day.to_bytes(4, "big")
        token = sign(payload)

        # Then it is the token the module issues, and it verifies
        assert token == issue_token(LEAD, key=KEY, now=ISSUED)
        assert verify(token) == LEAD

    def test_a_correctly_signed_unknown_version_is_refused(self):
        # Given a token of version 2, correctly signed (a future format this code does not know)
        payload = bytes([2]) + LEAD.bytes + (20497).to_bytes(4, "big")
        with pytest.raises(InvalidUnsubscribeToken) as refused:
            verify(sign(payload))
        assert refused.value.reason == "unknown_version"


class TestPages:
    def test_the_confirmation_page_escapes_what_it_echoes(self):
        page = confirmation_page('"><script>alert(1)</script>')
        assert "<script>alert" not in page.body
        assert "&quot;&gt;&lt;script&gt;" in page.body

    def test_the_confirmation_page_is_a_post_form_with_a_button(self):
        page = confirmation_page("tok")
        assert page.status == 200 and page.content_type == "text/html; charset=utf-8"
        assert '<form method="post" action="unsubscribe">' in page.body
        assert '<input type="hidden" name="token" value="tok">' in page.body
        assert '<button type="submit">' in page.body
        assert '<html lang="en">' in page.body

    @pytest.mark.parametrize(
        ("error", "status", "title"),
        [
            (InvalidUnsubscribeToken("malformed"), 400, "not valid"),
            (ExpiredUnsubscribeToken("expired"), 410, "expired"),
            (FunnelError(), 500, "could not be processed"),
        ],
    )
    def test_error_pages_take_the_errors_status(self, error, status, title):
        page = error_page(error)
        assert page.status == status
        assert title in page.body

    def test_every_page_forbids_framing_caching_and_referrers(self):
        headers = confirmation_page("tok").response().headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"


class TestKeyRotation:
    OLD = b"the-key-links-were-signed-with"
    NEW = b"the-key-that-replaced-it-0001"

    def test_a_link_signed_with_a_rotated_out_key_still_works_while_that_key_is_listed(self):
        # Given a link sent before the key was rotated
        token = issue_token(LEAD, key=self.OLD, now=ISSUED)
        # Then it is honoured while the old key is still configured after the new one
        assert verify_token(token, keys=[self.NEW, self.OLD], now=ISSUED, valid_days=180) == LEAD

    def test_once_the_old_key_is_removed_its_links_stop_working(self):
        token = issue_token(LEAD, key=self.OLD, now=ISSUED)
        with pytest.raises(InvalidUnsubscribeToken):
            verify_token(token, keys=[self.NEW], now=ISSUED, valid_days=180)
