"""Settings, validated once and lazily (never at import time).

Each concern is a small ``BaseSettings`` reading flat environment variables; empty
variables count as unset, because the template passes ``""`` for what is not configured.
Secrets come from Secrets Manager when an ``*_ARN`` is set and from the plain variable
(for local runs) otherwise; see ``funnel.platform.runtime``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from funnel.platform.errors import ConfigurationError
from funnel.platform.schemas import PROPERTY_ID_PATTERN

_ENV = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True)
# STAGE when the code runs in process (tests, the CLI): the template sets dev or prod.
LOCAL_STAGE = "local"


class DatabaseSettings(BaseSettings):
    model_config = _ENV

    database_url: SecretStr | None = None
    db_secret_arn: str | None = None
    db_host: str | None = None
    db_port: int | None = Field(default=None, ge=1, le=65535)
    db_name: str | None = None
    db_sslmode: str = "prefer"
    db_statement_timeout_ms: int = Field(default=5000, ge=100)
    # libpq counts whole seconds, 2 at least.
    db_connect_timeout_seconds: int = Field(default=2, ge=2)
    # The client-side deadline of one unit of database work, connecting included: unset
    # (the scheduled jobs), none; the API's functions set it well below their Timeout.
    db_deadline_ms: int | None = Field(default=None, ge=100)
    # TCP only (RDS Proxy, Aurora): a peer gone silent is found by keepalives on an idle
    # connection and by tcp_user_timeout when what was sent stays unacknowledged.
    db_keepalives_idle_seconds: int = Field(default=5, ge=1)
    db_keepalives_interval_seconds: int = Field(default=2, ge=1)
    db_keepalives_count: int = Field(default=2, ge=1)
    db_tcp_user_timeout_ms: int = Field(default=3000, ge=100)

    @field_validator("db_deadline_ms")
    @classmethod
    def _deadline_leaves_time_to_connect(cls, value: int | None, info: ValidationInfo) -> int | None:
        connect_seconds = info.data.get("db_connect_timeout_seconds")
        if value is not None and connect_seconds is not None and value <= connect_seconds * 1000:
            raise ValueError("DB_DEADLINE_MS must exceed DB_CONNECT_TIMEOUT_SECONDS")
        return value


class SecuritySettings(BaseSettings):
    model_config = _ENV

    admin_api_key: SecretStr | None = None
    admin_api_key_secret_arn: str | None = None
    # Keys by purpose, whitespace-separated (several during a rotation): the webhook's own
    # keys, and read-only keys of the metrics routes.
    webhook_api_keys: SecretStr | None = None
    webhook_api_keys_secret_arn: str | None = None
    # The template's WebhookRefusesAdminKey: the webhook route takes webhook keys only.
    webhook_refuses_admin_key: bool = False
    metrics_api_keys: SecretStr | None = None
    metrics_api_keys_secret_arn: str | None = None
    webhook_signing_secrets: SecretStr | None = None
    webhook_signing_secrets_arn: str | None = None
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    secrets_cache_seconds: int = Field(default=300, ge=0)
    # Set (by the template) when the function has the AWS Parameters and Secrets Lambda
    # Extension, whose own variable this is: secrets are read there first.
    parameters_secrets_extension_http_port: int | None = Field(default=None, ge=1, le=65535)


class HttpSettings(BaseSettings):
    model_config = _ENV

    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Comma-separated in the environment; the origins the public routes answer with CORS
    # and the only origins a form may redirect to.
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()

    # Comma-separated in the environment; the properties the public routes collect for.
    # Anything else is refused (422 unknown_property) and counted under one bucket, so no
    # caller can add rows (or counters) under names of its choosing.
    property_ids: Annotated[frozenset[str], NoDecode] = frozenset({"default"})

    # The bound per client (per hashed address, in each warm container; funnel.platform.client_limits):
    # requests a minute sustained and at once, for beacons, for leads and for the health
    # check. (Unsubscribing is never refused: see client_limits.)
    client_events_per_minute: int = Field(default=600, ge=1)
    client_events_burst: int = Field(default=120, ge=1)
    client_leads_per_minute: int = Field(default=10, ge=1)
    client_leads_burst: int = Field(default=10, ge=1)
    client_health_per_minute: int = Field(default=60, ge=1)
    client_health_burst: int = Field(default=30, ge=1)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())
        return value

    @field_validator("property_ids", mode="before")
    @classmethod
    def _split_property_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("property_ids")
    @classmethod
    def _valid_property_ids(cls, value: frozenset[str]) -> frozenset[str]:
        if not value:
            raise ValueError("at least one property id")
        bad = sorted(name for name in value if not PROPERTY_ID_PATTERN.fullmatch(name))
        if bad:
            raise ValueError(f"not property ids: {', '.join(bad)}")
        return value


class PrivacySettings(BaseSettings):
    model_config = _ENV

    unsubscribe_secret: SecretStr | None = None
    unsubscribe_secret_arn: str | None = None
    # Links stay valid at least 60 days (CASL); a longer life costs nothing.
    unsubscribe_link_days: int = Field(default=180, ge=60)
    # Base of unsubscribe links; unset or empty: the domain the request came to (the API's
    # own). Local runs set it to the local gateway's address.
    public_base_url: str | None = None
    raw_retention_days: int = Field(default=90, ge=1)
    rollup_retention_months: int = Field(default=24, ge=1)
    purge_batch_size: int = Field(default=5000, ge=1)


class RollupSettings(BaseSettings):
    model_config = _ENV

    # Days before today that every scheduled rollup recomputes, so late events land (a
    # beacon may arrive up to 24 hours late, a webhook later still).
    # At least 1: a beacon may arrive up to 24 h after it happened.
    rollup_batch_days: int = Field(default=7, ge=1, le=365)
    # Dirty days (older days that late writes changed) each scheduled run recomputes besides
    # its own, oldest first; the rest wait for the next run.
    rollup_dirty_days_per_run: int = Field(default=30, ge=1, le=366)
    # Sort and hash memory of a day's rollup transaction (PostgreSQL's work_mem).
    rollup_work_mem_mb: int = Field(default=64, ge=4, le=2048)
    # Keys of one breakdown dimension (paths, countries...) a property's day keeps; the rest
    # are folded into one "(other)" row, so distinct paths cannot grow the rollups unbounded.
    rollup_breakdown_keys_per_day: int = Field(default=100, ge=1, le=10_000)


class BufferSettings(BaseSettings):
    model_config = _ENV

    # The ingest buffer's SQS queue (funnel.platform.buffer); unset, a request the database cannot
    # take is answered 503. AWS_ENDPOINT_URL_SQS points boto3 at a local SQS server.
    ingest_queue_url: str | None = None
    # Connect and read timeout of each of the two attempts to send to it.
    ingest_queue_timeout_seconds: float = Field(default=1.0, gt=0, le=5)


class Settings(BaseModel):
    model_config = {"frozen": True}

    stage: str
    service_name: str
    database: DatabaseSettings
    security: SecuritySettings
    http: HttpSettings
    privacy: PrivacySettings
    rollup: RollupSettings
    buffer: BufferSettings


class _Identity(BaseSettings):
    model_config = _ENV

    stage: str = LOCAL_STAGE
    powertools_service_name: str = "funnel"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The container's settings, read from the environment on first use.

    Raises
    ------
    ConfigurationError
        When a variable is set to a value that does not validate.
    """
    try:
        identity = _Identity()
        return Settings(
            stage=identity.stage,
            service_name=identity.powertools_service_name,
            database=DatabaseSettings(),
            security=SecuritySettings(),
            http=HttpSettings(),
            privacy=PrivacySettings(),
            rollup=RollupSettings(),
            buffer=BufferSettings(),
        )
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in error["loc"]) for error in exc.errors()})
        raise ConfigurationError(f"invalid settings: {', '.join(fields)}") from None
