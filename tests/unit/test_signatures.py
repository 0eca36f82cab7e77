"""Standard Webhooks signing and verification (pure logic, pinned clock)."""

from __future__ import annotations

import pytest

from funnel.platform.errors import InvalidSignature
from funnel.platform.signatures import secret_key, sign, verify

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER = "whsec_dGVzdC1zZWNvbmQtc2lnbmluZy1zZWNyZXQtMDAx"


def headers(signature: str = VECTOR_SIGNATURE, ts: int = VECTOR_TS) -> dict[str, str]:
    return {"webhook-id": VECTOR_ID, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_the_standard_webhooks_test_vector_signs_as_published():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_the_test_vector_verifies_and_returns_the_message_id():
    assert verify([VECTOR_SECRET], headers(), VECTOR_BODY, now=VECTOR_TS, tolerance_seconds=300) == VECTOR_ID


@pytest.mark.parametrize("offset", [-299, 0, 299, -300, 300])
def test_timestamps_within_the_tolerance_pass(offset):
    assert verify([VECTOR_SECRET], headers(), VECTOR_BODY, now=VECTOR_TS - offset, tolerance_seconds=300)


@pytest.mark.parametrize("offset", [-301, 301, 86_400])
def test_timestamps_beyond_the_tolerance_fail_either_way(offset):
    with pytest.raises(InvalidSignature) as raised:
        verify([VECTOR_SECRET], headers(), VECTOR_BODY, now=VECTOR_TS - offset, tolerance_seconds=300)
    assert raised.value.reason == "timestamp_out_of_tolerance"


def test_one_good_signature_among_bad_ones_passes():
    offered = f"v1,bm90LWl0 v1a,xyz {VECTOR_SIGNATURE} v2,abc"
    assert verify([VECTOR_SECRET], headers(offered), VECTOR_BODY, now=VECTOR_TS, tolerance_seconds=300)


def test_any_configured_secret_may_have_signed():
    signature = sign(OTHER, VECTOR_ID, VECTOR_TS, VECTOR_BODY)
    assert verify(
        [VECTOR_SECRET, OTHER], headers(signature), VECTOR_BODY, now=VECTOR_TS, tolerance_seconds=300
    )


@pytest.mark.parametrize(
    ("body", "signature", "reason"),
    [
        ('{"test": 2432232315}', VECTOR_SIGNATURE, "signature_mismatch"),
        (VECTOR_BODY, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=", "signature_mismatch"),
        (VECTOR_BODY, VECTOR_SIGNATURE.replace("v1,", "v2,"), "signature_mismatch"),
        (VECTOR_BODY, "", "missing_signature_headers"),
    ],
)
def test_a_changed_body_or_signature_fails(body, signature, reason):
    with pytest.raises(InvalidSignature) as raised:
        verify([VECTOR_SECRET], headers(signature), body, now=VECTOR_TS, tolerance_seconds=300)
    assert raised.value.reason == reason


def test_a_signature_by_an_unconfigured_secret_fails():
    with pytest.raises(InvalidSignature):
        verify([OTHER], headers(), VECTOR_BODY, now=VECTOR_TS, tolerance_seconds=300)


def test_bytes_and_text_bodies_sign_alike():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY.encode()) == VECTOR_SIGNATURE


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"])
def test_malformed_secrets_are_refused(secret):
    with pytest.raises(ValueError, match=r"whsec_|base64"):
        secret_key(secret)


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [("9" * 12, "timestamp_out_of_tolerance"), ("9" * 13, "invalid_timestamp")],
    ids=["12-digits-read", "13-digits-refused"],
)
def test_a_timestamp_of_12_digits_is_read_and_13_are_refused_unread(timestamp, reason):
    with pytest.raises(InvalidSignature) as raised:
        verify(
            [VECTOR_SECRET],
            {**headers(), "webhook-timestamp": timestamp},
            VECTOR_BODY,
            now=VECTOR_TS,
            tolerance_seconds=300,
        )
    assert raised.value.reason == reason
