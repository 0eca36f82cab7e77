"""Keys by purpose: where each kind of key is presented, which configured keys it is
compared with, and that every comparison is constant-time."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from funnel.platform.auth import ADMIN_KEY, METRICS_KEY, WEBHOOK_KEY, check_key, key_matches
from funnel.platform.errors import KeyNotConfigured, Unauthorized
from funnel.platform.runtime import build_runtime
from funnel.platform.settings import get_settings

ADMIN = "admin-key-0123456789"
HOOK_OLD, HOOK_NEW = "webhook-key-old-0001", "webhook-key-new-0002"
READ = "metrics-key-012345678"


class DictSecrets:
    """A secret source backed by a dict, recording what is read (Secrets Manager itself is
    tested against moto)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads: list[str] = []

    def get(self, secret_id: str, *, fresh: bool = False) -> str:
        self.reads.append(secret_id)
        return self.values[secret_id]


@pytest.fixture
def compared(monkeypatch):  # type: ignore[no-untyped-def]
    """Every pair ``hmac.compare_digest`` is asked to compare (it still compares them)."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):  # type: ignore[no-untyped-def]
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class TestWhereAKeyIsPresented:
    def test_the_admin_and_webhook_keys_travel_in_x_admin_key(self):
        headers = {"x-admin-key": "k", "authorization": "Bearer other"}
        assert ADMIN_KEY.presented(headers) == WEBHOOK_KEY.presented(headers) == "k"

    @pytest.mark.parametrize(
        ("value", "token"),
        [
            ("Bearer abc", "abc"),
            ("bearer abc", "abc"),
            ("BEARER   abc  ", "abc"),
            ("Bearer", None),
            ("Bearer ", None),
            ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", None),
            ("abc", None),
            ("", None),
        ],
    )
    def test_the_metrics_key_travels_as_a_bearer_token(self, value, token):
        assert METRICS_KEY.presented({"authorization": value}) == token

    def test_a_metrics_key_in_x_admin_key_is_not_presented_as_one(self):
        assert METRICS_KEY.presented({"x-admin-key": READ}) is None


class TestCheckKey:
    ROUTE = ((ADMIN_KEY, (ADMIN,)), (WEBHOOK_KEY, (HOOK_OLD, HOOK_NEW)))

    @pytest.mark.parametrize(
        ("supplied", "kind"), [(ADMIN, ADMIN_KEY), (HOOK_OLD, WEBHOOK_KEY), (HOOK_NEW, WEBHOOK_KEY)]
    )
    def test_any_configured_key_of_an_accepted_kind_passes_and_is_named(self, supplied, kind):
        assert check_key(self.ROUTE, {"x-admin-key": supplied}) == kind

    @pytest.mark.parametrize("supplied", [READ, f"{HOOK_OLD} {HOOK_NEW}", HOOK_NEW[:-1], ""])
    def test_any_other_key_is_unauthorized(self, supplied):
        with pytest.raises(Unauthorized):
            check_key(self.ROUTE, {"x-admin-key": supplied})

    def test_a_kind_without_keys_is_skipped_while_another_has_some(self):
        route = [(ADMIN_KEY, ()), (WEBHOOK_KEY, (HOOK_NEW,))]
        assert check_key(route, {"x-admin-key": HOOK_NEW}) == WEBHOOK_KEY
        with pytest.raises(Unauthorized):
            check_key(route, {"x-admin-key": ""})

    def test_no_keys_at_all_is_503_naming_the_first_accepted_kind(self):
        with pytest.raises(KeyNotConfigured) as raised:
            check_key([(WEBHOOK_KEY, ())], {"x-admin-key": HOOK_NEW})
        assert (raised.value.status, raised.value.code) == (503, "webhook_auth_not_configured")

    def test_a_bearer_route_names_its_scheme_when_it_refuses(self):
        route = [(ADMIN_KEY, (ADMIN,)), (METRICS_KEY, (READ,))]
        assert check_key(route, {"authorization": f"Bearer {READ}"}) == METRICS_KEY
        with pytest.raises(Unauthorized) as raised:
            check_key(route, {"authorization": "Bearer wrong"})
        assert raised.value.headers == {"WWW-Authenticate": 'Bearer realm="funnel"'}

    def test_one_right_key_is_enough_beside_a_wrong_one(self):
        route = [(ADMIN_KEY, (ADMIN,)), (METRICS_KEY, (READ,))]
        headers = {"x-admin-key": "wrong", "authorization": f"Bearer {READ}"}
        assert check_key(route, headers) == METRICS_KEY


class TestConstantTime:
    def test_hmac_compare_digest_compares_hashes_of_both_sides(self, compared):
        # When a wrong key is checked against one configured key
        assert not key_matches([ADMIN], "guess")
        # Then compare_digest did the comparing, on fixed-length digests (so the time
        # says nothing of the supplied key's length)
        assert compared == [(sha256(ADMIN), sha256("guess"))]

    def test_every_configured_key_is_compared_even_after_a_match(self, compared):
        # Given two webhook keys, the first one matching
        assert key_matches([HOOK_OLD, HOOK_NEW], HOOK_OLD)
        # Then both were compared: the time does not say which key matched
        assert compared == [(sha256(HOOK_OLD), sha256(HOOK_OLD)), (sha256(HOOK_NEW), sha256(HOOK_OLD))]

    def test_a_route_compares_every_presented_key_with_every_key_of_its_kind(self, compared):
        route = [(ADMIN_KEY, (ADMIN,)), (WEBHOOK_KEY, (HOOK_OLD, HOOK_NEW)), (METRICS_KEY, (READ,))]
        check_key(route, {"x-admin-key": ADMIN, "authorization": f"Bearer {READ}"})
        assert len(compared) == 4

    def test_a_header_that_is_not_unicode_is_a_wrong_key_not_a_crash(self):
        with pytest.raises(Unauthorized):
            check_key([(ADMIN_KEY, (ADMIN,))], {"x-admin-key": "\udcff"})


@pytest.fixture
def clean_env(monkeypatch):  # type: ignore[no-untyped-def]
    for name in (
        "ADMIN_API_KEY",
        "ADMIN_API_KEY_SECRET_ARN",
        "WEBHOOK_API_KEYS",
        "WEBHOOK_API_KEYS_SECRET_ARN",
        "WEBHOOK_REFUSES_ADMIN_KEY",
        "METRICS_API_KEYS",
        "METRICS_API_KEYS_SECRET_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


class TestConfiguredKeys:
    def test_keys_come_from_their_secrets_when_their_arns_are_set(self, clean_env):
        # Given secrets for each purpose, and local values that must lose to them
        clean_env.setenv("WEBHOOK_API_KEYS", "local-webhook")
        clean_env.setenv("WEBHOOK_API_KEYS_SECRET_ARN", "arn:webhook-keys")
        clean_env.setenv("METRICS_API_KEYS_SECRET_ARN", "arn:metrics-keys")
        secrets = DictSecrets({"arn:webhook-keys": f" {HOOK_NEW}\n{HOOK_OLD}\n", "arn:metrics-keys": READ})
        runtime = build_runtime(get_settings(), secrets)
        # Then each purpose reads its own secret, split on whitespace
        assert runtime.api_keys(WEBHOOK_KEY) == (HOOK_NEW, HOOK_OLD)
        assert runtime.api_keys(METRICS_KEY) == (READ,)
        assert runtime.api_keys(ADMIN_KEY) == ()

    def test_local_variables_are_used_without_arns(self, clean_env):
        clean_env.setenv("ADMIN_API_KEY", ADMIN)
        clean_env.setenv("WEBHOOK_API_KEYS", f"{HOOK_NEW} {HOOK_OLD}")
        clean_env.setenv("METRICS_API_KEYS", "")
        secrets = DictSecrets({})
        runtime = build_runtime(get_settings(), secrets)
        assert runtime.api_keys(ADMIN_KEY) == (ADMIN,)
        assert runtime.api_keys(WEBHOOK_KEY) == (HOOK_NEW, HOOK_OLD)
        assert runtime.api_keys(METRICS_KEY) == ()
        assert secrets.reads == []

    @pytest.mark.parametrize(("value", "refused"), [(None, False), ("false", False), ("true", True)])
    def test_the_webhook_takes_the_admin_key_unless_told_otherwise(self, clean_env, value, refused):
        if value is not None:
            clean_env.setenv("WEBHOOK_REFUSES_ADMIN_KEY", value)
        assert get_settings().security.webhook_refuses_admin_key is refused
