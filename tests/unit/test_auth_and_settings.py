"""Key checks, settings from the environment, and secrets through the runtime."""

from __future__ import annotations

import json

import pytest

from funnel.platform.auth import ADMIN_KEY, check_key
from funnel.platform.db import database_conninfo
from funnel.platform.errors import ConfigurationError, KeyNotConfigured, Unauthorized
from funnel.platform.runtime import build_runtime
from funnel.platform.settings import DatabaseSettings, get_settings
from tests.conftest import OTHER_SIGNING_SECRET as SECRET_B
from tests.conftest import SIGNING_SECRET as SECRET_A


class DictSecrets:
    """A secret source backed by a dict (the Secrets Manager one is tested against moto)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads: list[str] = []

    def get(self, secret_id: str, *, fresh: bool = False) -> str:
        self.reads.append(secret_id)
        return self.values[secret_id]


ADMIN = [(ADMIN_KEY, ("s3cret-key",))]


def test_the_right_admin_key_passes():
    assert check_key(ADMIN, {"x-admin-key": "s3cret-key"}) is ADMIN_KEY


@pytest.mark.parametrize("supplied", [None, "", "s3cret-ke", "s3cret-key ", "S3CRET-KEY"])
def test_any_other_admin_key_is_unauthorized(supplied):
    headers = {} if supplied is None else {"x-admin-key": supplied}
    with pytest.raises(Unauthorized) as raised:
        check_key(ADMIN, headers)
    # x-admin-key is no standard scheme: there is none to name in WWW-Authenticate
    assert raised.value.headers == {}


def test_no_configured_admin_key_is_not_configured():
    with pytest.raises(KeyNotConfigured) as raised:
        check_key([(ADMIN_KEY, ())], {"x-admin-key": "anything"})
    assert (raised.value.status, raised.value.code) == (503, "admin_auth_not_configured")


@pytest.fixture
def clean_env(monkeypatch):  # type: ignore[no-untyped-def]
    for name in (
        "DATABASE_URL",
        "DB_SECRET_ARN",
        "DB_HOST",
        "DB_PORT",
        "DB_NAME",
        "ADMIN_API_KEY",
        "ADMIN_API_KEY_SECRET_ARN",
        "WEBHOOK_SIGNING_SECRETS",
        "WEBHOOK_SIGNING_SECRETS_ARN",
        "STAGE",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_empty_variables_count_as_unset(clean_env):
    # Given the template's way of saying "not configured"
    clean_env.setenv("DB_HOST", "")
    clean_env.setenv("ADMIN_API_KEY_SECRET_ARN", "")
    # Then the settings hold None, not ""
    settings = get_settings()
    assert settings.database.db_host is None
    assert settings.security.admin_api_key_secret_arn is None


def test_an_invalid_setting_is_a_configuration_error_naming_it(clean_env):
    clean_env.setenv("DB_STATEMENT_TIMEOUT_MS", "soon")
    with pytest.raises(ConfigurationError, match="db_statement_timeout_ms"):
        get_settings()


def test_the_rollup_batch_days_default_to_a_week_and_follow_the_template(clean_env):
    clean_env.delenv("ROLLUP_BATCH_DAYS", raising=False)
    clean_env.delenv("ROLLUP_WORK_MEM_MB", raising=False)
    assert get_settings().rollup.rollup_batch_days == 7
    assert get_settings().rollup.rollup_work_mem_mb == 64
    get_settings.cache_clear()
    clean_env.setenv("ROLLUP_BATCH_DAYS", "3")
    assert get_settings().rollup.rollup_batch_days == 3
    get_settings.cache_clear()
    clean_env.setenv("ROLLUP_BATCH_DAYS", "-1")
    with pytest.raises(ConfigurationError, match="rollup_batch_days"):
        get_settings()


# Each numeric setting: its variable, where it lands, its default (the README's
# configuration table), and the lowest and highest values it takes (None: no bound).
NUMERIC_SETTINGS = [
    ("DB_STATEMENT_TIMEOUT_MS", "database.db_statement_timeout_ms", 5000, 100, None),
    ("DB_CONNECT_TIMEOUT_SECONDS", "database.db_connect_timeout_seconds", 2, 2, None),
    ("DB_DEADLINE_MS", "database.db_deadline_ms", None, 2001, None),
    ("DB_KEEPALIVES_IDLE_SECONDS", "database.db_keepalives_idle_seconds", 5, 1, None),
    ("DB_KEEPALIVES_INTERVAL_SECONDS", "database.db_keepalives_interval_seconds", 2, 1, None),
    ("DB_KEEPALIVES_COUNT", "database.db_keepalives_count", 2, 1, None),
    ("DB_TCP_USER_TIMEOUT_MS", "database.db_tcp_user_timeout_ms", 3000, 100, None),
    ("DB_PORT", "database.db_port", None, 1, 65535),
    ("WEBHOOK_TOLERANCE_SECONDS", "security.webhook_tolerance_seconds", 300, 1, None),
    ("SECRETS_CACHE_SECONDS", "security.secrets_cache_seconds", 300, 0, None),
    ("MAX_BODY_BYTES", "http.max_body_bytes", 256 * 1024, 1024, None),
    ("CLIENT_EVENTS_PER_MINUTE", "http.client_events_per_minute", 600, 1, None),
    ("CLIENT_EVENTS_BURST", "http.client_events_burst", 120, 1, None),
    ("CLIENT_LEADS_PER_MINUTE", "http.client_leads_per_minute", 10, 1, None),
    ("CLIENT_LEADS_BURST", "http.client_leads_burst", 10, 1, None),
    ("CLIENT_HEALTH_PER_MINUTE", "http.client_health_per_minute", 60, 1, None),
    ("CLIENT_HEALTH_BURST", "http.client_health_burst", 30, 1, None),
    ("UNSUBSCRIBE_LINK_DAYS", "privacy.unsubscribe_link_days", 180, 60, None),
    ("RAW_RETENTION_DAYS", "privacy.raw_retention_days", 90, 1, None),
    ("ROLLUP_RETENTION_MONTHS", "privacy.rollup_retention_months", 24, 1, None),
    ("PURGE_BATCH_SIZE", "privacy.purge_batch_size", 5000, 1, None),
    ("ROLLUP_BATCH_DAYS", "rollup.rollup_batch_days", 7, 1, 365),
    ("ROLLUP_WORK_MEM_MB", "rollup.rollup_work_mem_mb", 64, 4, 2048),
]


def _setting(path: str) -> object:
    group, name = path.split(".")
    return getattr(getattr(get_settings(), group), name)


@pytest.mark.parametrize(("variable", "path", "default", "lowest", "highest"), NUMERIC_SETTINGS)
def test_a_numeric_setting_has_its_default_and_takes_values_up_to_its_bounds_only(
    clean_env, variable, path, default, lowest, highest
):
    # Unset, it has its documented default
    clean_env.delenv(variable, raising=False)
    assert _setting(path) == default

    # Its bounds are taken, and one past either is an error naming it
    for value, taken in [
        (lowest, True),
        (lowest - 1, False),
        (highest, True),
        (highest and highest + 1, False),
    ]:
        if value is None:
            continue
        get_settings.cache_clear()
        clean_env.setenv(variable, str(value))
        if taken:
            assert _setting(path) == value
        else:
            with pytest.raises(ConfigurationError, match=path.split(".")[1]):
                get_settings()


@pytest.mark.parametrize(
    ("keys", "usable"),
    [("k" * 16, True), ("k" * 15, False), ("k" * 16 + " " + "o" * 15, False)],
    ids=["16-characters", "15-characters", "one-of-two-short"],
)
def test_unsubscribe_keys_are_at_least_16_characters_each(clean_env, keys, usable):
    clean_env.delenv("UNSUBSCRIBE_SECRET_ARN", raising=False)
    clean_env.setenv("UNSUBSCRIBE_SECRET", keys)
    runtime = build_runtime(get_settings(), DictSecrets({}))
    if usable:
        assert runtime.unsubscribe_keys() == (b"k" * 16,)
    else:
        with pytest.raises(ConfigurationError, match="at least 16 characters"):
            runtime.unsubscribe_keys()


def test_settings_are_read_once(clean_env):
    clean_env.setenv("STAGE", "dev")
    first = get_settings()
    clean_env.setenv("STAGE", "prod")
    assert get_settings() is first and first.stage == "dev"


def test_secrets_come_from_their_arns_when_set(clean_env):
    # Given ARNs for the admin key and the signing secrets, and local values too
    clean_env.setenv("ADMIN_API_KEY", "local-value")
    clean_env.setenv("ADMIN_API_KEY_SECRET_ARN", "arn:admin")
    clean_env.setenv("WEBHOOK_SIGNING_SECRETS_ARN", "arn:webhook")
    secrets = DictSecrets({"arn:admin": " from-secrets-manager\n", "arn:webhook": f"{SECRET_A} {SECRET_B}\n"})
    runtime = build_runtime(get_settings(), secrets)

    # Then the secret values win, trimmed and split
    assert runtime.admin_api_key() == "from-secrets-manager"
    assert runtime.webhook_signing_secrets() == [SECRET_A, SECRET_B]


def test_local_values_are_used_without_arns(clean_env):
    clean_env.setenv("ADMIN_API_KEY", "local-value")
    runtime = build_runtime(get_settings(), DictSecrets({}))
    assert runtime.admin_api_key() == "local-value"
    assert runtime.webhook_signing_secrets() == []


def test_the_database_secret_builds_a_tls_connection_string_with_overrides():
    # Given the JSON RDS stores, and a proxy endpoint the template passes as DB_HOST
    secret = {
        "username": "funnel_admin",
        "password": "p@ss word",
        "host": "cluster.local",
        "port": 5432,
        "dbname": "funnel",
    }
    settings = DatabaseSettings(db_secret_arn="arn:db", db_host="proxy.local", db_sslmode="require")
    conninfo = database_conninfo(settings, DictSecrets({"arn:db": json.dumps(secret)}))
    # Then the proxy is used, TLS required, and the password quoted safely
    assert "host=proxy.local" in conninfo and "sslmode=require" in conninfo
    assert "password='p@ss word'" in conninfo and "dbname=funnel" in conninfo


@pytest.mark.parametrize(
    "secret", ["not json", "{}", '{"username": "u"}', '{"username": "u", "password": "p"}']
)
def test_an_unusable_database_secret_is_a_configuration_error(secret):
    with pytest.raises(ConfigurationError):
        database_conninfo(DatabaseSettings(db_secret_arn="arn:db"), DictSecrets({"arn:db": secret}))


def test_no_database_at_all_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        database_conninfo(DatabaseSettings(), DictSecrets({}))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {"default"}),
        ("default", {"default"}),
        (" default , docs,,", {"default", "docs"}),
        ("www.example.com,blog:2026", {"www.example.com", "blog:2026"}),
    ],
)
def test_the_configured_properties_are_a_comma_separated_list(clean_env, value, expected):
    clean_env.delenv("PROPERTY_IDS", raising=False)
    if value is not None:
        clean_env.setenv("PROPERTY_IDS", value)
    assert get_settings().http.property_ids == expected


@pytest.mark.parametrize("value", [",", "has space", "-leading-dash", "p" * 129, "(unknown)"])
def test_a_property_id_that_no_request_could_name_is_a_configuration_error(clean_env, value):
    clean_env.setenv("PROPERTY_IDS", value)
    with pytest.raises(ConfigurationError, match="property_ids"):
        get_settings()
