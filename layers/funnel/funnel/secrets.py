"""Where secret values come from: Secrets Manager through Powertools Parameters (cached
for ``SECRETS_CACHE_SECONDS``) when an ARN is configured, otherwise nothing."""

from __future__ import annotations

from typing import Any, Protocol

from funnel.errors import ConfigurationError


class SecretSource(Protocol):
    def get(self, secret_id: str, *, fresh: bool = False) -> str:
        """Return the secret's string value; ``fresh`` bypasses any cache (a rotated
        secret, found out by the credentials it holds failing)."""
        ...


class SecretsManagerSource:
    """Secrets Manager with Powertools' cache; the boto3 client is made on first use.

    Parameters
    ----------
    max_age_seconds
        How long a fetched value is reused before Secrets Manager is asked again; a rotated
        secret is picked up at most this late.
    boto3_client
        An explicit ``secretsmanager`` client (tests pass one bound to moto).
    """

    def __init__(self, *, max_age_seconds: int, boto3_client: Any = None) -> None:
        self._max_age = max_age_seconds
        self._client = boto3_client
        self._provider: Any = None

    def get(self, secret_id: str, *, fresh: bool = False) -> str:
        if self._provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._provider = SecretsProvider(boto3_client=self._client)
        try:
            value = self._provider.get(secret_id, max_age=self._max_age, force_fetch=fresh)
        except Exception as exc:
            # Any failure here (permissions, a missing secret, the network) is an
            # operator's problem: surfaced as misconfiguration, logged by the caller.
            raise ConfigurationError(f"cannot read secret {secret_id}: {type(exc).__name__}") from exc
        if not isinstance(value, str):
            raise ConfigurationError(f"secret {secret_id} has no string value")
        return value
