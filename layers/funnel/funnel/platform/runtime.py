"""The per-container dependencies a handler needs: settings, secrets, the database and a
clock. Built on first use and reused while the container is warm; tests build their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from pydantic import SecretStr

from funnel.platform.auth import KeyKind
from funnel.platform.buffer import IngestBuffer
from funnel.platform.client_limits import ClientLimiter
from funnel.platform.db import Database, TcpSettings, database_conninfo
from funnel.platform.errors import ConfigurationError
from funnel.platform.secrets import SecretSource, secret_source
from funnel.platform.settings import Settings, get_settings
from funnel.platform.signatures import secret_key


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    secrets: SecretSource
    database: Database
    clock: Callable[[], datetime] = field(default=utc_now)
    # Each client's token buckets, for as long as the container is warm.
    client_limiter: ClientLimiter = field(default_factory=ClientLimiter)
    _buffer: IngestBuffer | None = field(default=None, init=False, repr=False)

    def ingest_buffer(self) -> IngestBuffer | None:
        """The ingest queue's sender, or None when no queue is configured."""
        queue = self.settings.buffer
        if queue.ingest_queue_url is None:
            return None
        if self._buffer is None:
            self._buffer = IngestBuffer(
                queue.ingest_queue_url, timeout_seconds=queue.ingest_queue_timeout_seconds
            )
        return self._buffer

    def admin_api_key(self) -> str | None:
        """The configured admin key, or None when there is none (admin routes then 503)."""
        security = self.settings.security
        if security.admin_api_key_secret_arn:
            return self.secrets.get(security.admin_api_key_secret_arn).strip() or None
        if security.admin_api_key is not None:
            return security.admin_api_key.get_secret_value() or None
        return None

    def api_keys(self, kind: KeyKind) -> tuple[str, ...]:
        """The configured keys of ``kind``'s purpose, empty when there are none: the admin
        key, or the whitespace-separated webhook or metrics keys (several during a
        rotation), each from its secret when its ARN is set, else from its local variable."""
        security = self.settings.security
        match kind.purpose:
            case "admin":
                admin = self.admin_api_key()
                return (admin,) if admin else ()
            case "webhook":
                return self._keys(security.webhook_api_keys_secret_arn, security.webhook_api_keys)
            case "metrics":
                return self._keys(security.metrics_api_keys_secret_arn, security.metrics_api_keys)

    def _keys(self, arn: str | None, local: SecretStr | None) -> tuple[str, ...]:
        if arn:
            return tuple(self.secrets.get(arn).split())
        return tuple(local.get_secret_value().split()) if local is not None else ()

    def unsubscribe_keys(self) -> tuple[bytes, ...]:
        """The keys of unsubscribe links: the first signs new links, any verifies (so a
        rotated key keeps already-sent links working). Whitespace-separated, each at
        least 16 characters.

        Raises
        ------
        ConfigurationError
            When none is configured: links cannot be made or checked.
        """
        privacy = self.settings.privacy
        if privacy.unsubscribe_secret_arn:
            raw = self.secrets.get(privacy.unsubscribe_secret_arn)
        elif privacy.unsubscribe_secret is not None:
            raw = privacy.unsubscribe_secret.get_secret_value()
        else:
            raw = ""
        keys = tuple(key.encode() for key in raw.split())
        if not keys or any(len(key) < 16 for key in keys):
            raise ConfigurationError("unsubscribe keys must be configured, each at least 16 characters")
        return keys

    def webhook_signing_secrets(self) -> list[str]:
        """Every signing secret, each checked (``whsec_`` and the base64 of 24 to 64 bytes);
        empty only when none is configured at all (neither the ARN nor the variable).

        Raises
        ------
        ConfigurationError
            When the configured value holds no secret (it is blank) or an invalid one:
            verification must never be turned off by a bad value.
        """
        security = self.settings.security
        if security.webhook_signing_secrets_arn:
            raw = self.secrets.get(security.webhook_signing_secrets_arn)
        elif security.webhook_signing_secrets is not None:
            raw = security.webhook_signing_secrets.get_secret_value()
        else:
            return []
        secrets = raw.split()
        if not secrets:
            raise ConfigurationError("the webhook signing secrets are blank")
        for position, secret in enumerate(secrets, start=1):
            try:
                secret_key(secret)
            except ValueError as exc:
                raise ConfigurationError(
                    f"webhook signing secret {position} of {len(secrets)}: {exc}"
                ) from None
        return secrets


def build_runtime(settings: Settings, secrets: SecretSource | None = None) -> Runtime:
    """Wire a runtime from settings; secrets default to the extension (when the function has
    it) and Secrets Manager."""
    source = secrets or secret_source(
        extension_port=settings.security.parameters_secrets_extension_http_port,
        max_age_seconds=settings.security.secrets_cache_seconds,
    )
    db = settings.database
    database = Database(
        lambda fresh=False: database_conninfo(db, source, fresh=fresh),
        statement_timeout_ms=db.db_statement_timeout_ms,
        connect_timeout_seconds=db.db_connect_timeout_seconds,
        application_name=f"{settings.service_name}-{settings.stage}",
        deadline_ms=db.db_deadline_ms,
        tcp=TcpSettings(
            keepalives_idle_seconds=db.db_keepalives_idle_seconds,
            keepalives_interval_seconds=db.db_keepalives_interval_seconds,
            keepalives_count=db.db_keepalives_count,
            user_timeout_ms=db.db_tcp_user_timeout_ms,
        ),
    )
    return Runtime(settings=settings, secrets=source, database=database)


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """The warm container's runtime."""
    return build_runtime(get_settings())


def reset_runtime() -> None:
    """Forget the cached runtime and settings (closing the connection): for tests and the CLI."""
    if get_runtime.cache_info().currsize:
        get_runtime().database.close()
    get_runtime.cache_clear()
    get_settings.cache_clear()
