"""Which signing secrets verification accepts: Standard Webhooks' ``whsec_`` and the
base64 of 24 to 64 random bytes, nothing that could turn verification off, and an error
message that never holds the secret."""

from __future__ import annotations

import base64

import pytest

from funnel.platform.errors import ConfigurationError
from funnel.platform.runtime import build_runtime
from funnel.platform.settings import get_settings
from funnel.platform.signatures import MAX_SECRET_BYTES, MIN_SECRET_BYTES, secret_key, sign


def whsec(size: int) -> str:
    return "whsec_" + base64.b64encode(bytes(i % 251 + 1 for i in range(size))).decode()


class DictSecrets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, secret_id: str, *, fresh: bool = False) -> str:
        return self.values[secret_id]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for name in ("WEBHOOK_SIGNING_SECRETS", "WEBHOOK_SIGNING_SECRETS_ARN", "STAGE"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize("size", [MIN_SECRET_BYTES, 32, MAX_SECRET_BYTES])
def test_keys_of_24_to_64_bytes_sign(size):
    # Given a secret of a size the specification allows, Then it decodes and signs
    assert len(secret_key(whsec(size))) == size
    assert sign(whsec(size), "msg_1", 1_700_000_000, "{}").startswith("v1,")


@pytest.mark.parametrize("size", [0, 1, MIN_SECRET_BYTES - 1, MAX_SECRET_BYTES + 1, 512])
def test_keys_outside_24_to_64_bytes_are_refused(size):
    # Given "whsec_" with an empty key, or a key just outside the bounds
    secret = whsec(size)

    # Then it is refused, saying how many bytes it holds and never what they are
    with pytest.raises(ValueError, match=f"holds {size} bytes") as raised:
        secret_key(secret)
    encoded = secret.removeprefix("whsec_")
    assert not encoded or encoded not in str(raised.value)


@pytest.mark.parametrize("raw", [" ", "\n\t  \n"])
@pytest.mark.parametrize("source", ["variable", "secret"])
def test_a_blank_configured_value_is_a_configuration_error_not_no_signing(clean_env, raw, source):
    # Given signing secrets configured, but whitespace only
    if source == "variable":
        clean_env.setenv("WEBHOOK_SIGNING_SECRETS", raw)
    else:
        clean_env.setenv("WEBHOOK_SIGNING_SECRETS_ARN", "arn:signing")
    runtime = build_runtime(get_settings(), DictSecrets({"arn:signing": raw}))

    # Then reading them fails, instead of answering "no secrets" (which skips verification)
    with pytest.raises(ConfigurationError, match="blank"):
        runtime.webhook_signing_secrets()


def test_one_invalid_secret_among_valid_ones_is_a_configuration_error_naming_its_position(clean_env):
    # Given a rotation where the second secret is "whsec_" alone
    short = whsec(MIN_SECRET_BYTES - 1)
    clean_env.setenv("WEBHOOK_SIGNING_SECRETS", f"{whsec(32)} whsec_ {short}")
    runtime = build_runtime(get_settings(), DictSecrets({}))

    # Then the whole configuration is refused, naming which secret, not its value
    with pytest.raises(ConfigurationError, match=r"secret 2 of 3: .* holds 0 bytes") as raised:
        runtime.webhook_signing_secrets()
    assert whsec(32) not in str(raised.value)


def test_nothing_configured_is_no_secrets(clean_env):
    # Given neither the variable nor the ARN, Then there are no secrets (the guard decides)
    assert build_runtime(get_settings(), DictSecrets({})).webhook_signing_secrets() == []
