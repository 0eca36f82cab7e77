"""Where secret values come from when an ARN is configured: the AWS Parameters and Secrets
Lambda Extension on localhost when the function has it, otherwise (or when it does not
answer) Secrets Manager through Powertools Parameters, each cached for
``SECRETS_CACHE_SECONDS``.

The extension is read with the standard library: a cold start that reads its secrets there
imports no AWS SDK (botocore alone costs about as much CPU as the rest of a function's
imports); the boto3 client is made only when the extension is missing or unreachable.
"""

from __future__ import annotations

# Connecting by name encodes the host with the IDNA codec: imported with the module, so
# the first secret costs a cold start no import.
import encodings.idna  # noqa: F401
import http.client
import json
import os
import time
from typing import Any, Protocol
from urllib.parse import quote

from funnel.platform.errors import ConfigurationError


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


class ExtensionSecretsSource:
    """The AWS Parameters and Secrets Lambda Extension, at ``localhost:port``.

    The extension keeps its own cache (``SECRETS_MANAGER_TTL``, which the template sets
    to ``SECRETS_CACHE_SECONDS``). A ``fresh`` read (a rotated secret) goes to
    ``fallback`` and is kept for ``max_age_seconds``, since the extension would answer
    from its cache; so does every read while the extension does not answer.

    Parameters
    ----------
    port
        The extension's port (``PARAMETERS_SECRETS_EXTENSION_HTTP_PORT``).
    fallback
        Secrets Manager itself (a :class:`SecretsManagerSource`).
    max_age_seconds
        How long a value read from the fallback is reused.
    timeout_seconds
        How long to wait for the extension, which answers from memory or fetches once.
    host
        Where the extension listens: Lambda's loopback (tests run a stand-in there).
    """

    PATH = "/secretsmanager/get"

    def __init__(
        self,
        *,
        port: int,
        fallback: SecretSource,
        max_age_seconds: int,
        timeout_seconds: float = 3.0,
        host: str = "127.0.0.1",
    ) -> None:
        self._host = host
        self._port = port
        self._fallback = fallback
        self._max_age = max_age_seconds
        self._timeout = timeout_seconds
        self._fresh: dict[str, tuple[str, float]] = {}

    def get(self, secret_id: str, *, fresh: bool = False) -> str:
        if fresh:
            value = self._fallback.get(secret_id, fresh=True)
            self._fresh[secret_id] = (value, time.monotonic() + self._max_age)
            return value
        kept = self._fresh.get(secret_id)
        if kept is not None and kept[1] > time.monotonic():
            return kept[0]
        try:
            status, body = self._request(secret_id)
        except OSError:
            # Not attached, or not listening: Secrets Manager is still there.
            return self._fallback.get(secret_id)
        if status != 200:
            raise ConfigurationError(f"cannot read secret {secret_id}: the extension answered {status}")
        try:
            value = json.loads(body)["SecretString"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"secret {secret_id} has no string value") from exc
        if not isinstance(value, str):
            raise ConfigurationError(f"secret {secret_id} has no string value")
        return value

    def _request(self, secret_id: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            # The extension only answers callers holding the function's session token.
            connection.request(
                "GET",
                f"{self.PATH}?secretId={quote(secret_id, safe='')}",
                headers={"X-Aws-Parameters-Secrets-Token": os.environ.get("AWS_SESSION_TOKEN", "")},
            )
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def secret_source(*, extension_port: int | None, max_age_seconds: int) -> SecretSource:
    """The extension when the function has it (its port is set), with Secrets Manager
    behind it; Secrets Manager alone otherwise."""
    secrets_manager = SecretsManagerSource(max_age_seconds=max_age_seconds)
    if extension_port is None:
        return secrets_manager
    return ExtensionSecretsSource(
        port=extension_port, fallback=secrets_manager, max_age_seconds=max_age_seconds
    )
