"""A bound per client on the public routes: token buckets keyed by a hash of the client's
address, in the warm container's memory.

API Gateway throttles a route as a whole, so one client sending fast empties the bucket
everyone shares. The collect and health functions also count each client's requests (per
route group: beacons, leads, health) and answer a client over its bound 429 with
``Retry-After``, before reading the body, touching the database or counting anything.

The key is a keyed BLAKE2b hash of the address (IPv6 by its /64, what one subscriber
gets) under a random key made when the container starts and never written anywhere: the
address is not stored, and the hash means nothing outside this container's memory. At
most ``MAX_CLIENTS`` buckets are kept per container, the least recently used dropped
first (a dropped client starts again with a full bucket).

The bound is per container: a client whose requests are spread over N warm containers
gets up to N times it (Lambda runs one request per container at a time, so N is about the
client's own concurrency). It bounds the common abuse (one client in a loop) at no cost
to anyone else; a bound across containers belongs in front of the API (README: an AWS WAF
rate-based rule on CloudFront).
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
from collections import OrderedDict
from dataclasses import dataclass

from funnel.platform.settings import HttpSettings

# Clients remembered per container: 10,000 buckets are about 2 MB.
MAX_CLIENTS = 10_000


@dataclass(frozen=True)
class Limit:
    """A token bucket: ``per_minute`` requests a minute sustained, ``burst`` at once."""

    per_minute: int
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


def client_address(source_ip: str | None) -> bytes:
    """What one client is, as bytes: its IPv4 address, or the /64 of its IPv6 address (a
    subscriber's own prefix, in which it may pick any address). Text that is no address
    counts as itself."""
    if not source_ip:
        return b""
    if ":" not in source_ip:
        return source_ip.encode()
    try:
        # (inet_pton, not ipaddress: a microsecond, not tens, on every request.)
        return b"6" + socket.inet_pton(socket.AF_INET6, source_ip)[:8]
    except (OSError, ValueError):
        return source_ip.encode("utf-8", "replace")


class ClientLimiter:
    """Token buckets per (route group, hashed client), in this container.

    Parameters
    ----------
    key
        The hash's key; random unless given (tests give one to reproduce a hash).
    max_clients
        Buckets kept; the least recently used are dropped beyond it.
    """

    def __init__(self, *, key: bytes | None = None, max_clients: int = MAX_CLIENTS) -> None:
        self._key = key if key is not None else os.urandom(32)
        self._max_clients = max_clients
        # (tokens, when they were counted), by group and hashed client.
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def client_key(self, group: str, source_ip: str | None) -> bytes:
        """The bucket's key: a keyed hash of the group and the client (never the address)."""
        return hashlib.blake2b(
            group.encode() + b"\x00" + client_address(source_ip), key=self._key, digest_size=16
        ).digest()

    def take(self, group: str, source_ip: str | None, limit: Limit, *, now: float) -> int:
        """Take one request from the client's bucket.

        Returns
        -------
        int
            0 when the request is admitted; otherwise the whole seconds until the bucket
            holds a request again (``Retry-After``), at least 1.
        """
        key = self.client_key(group, source_ip)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            tokens = float(limit.burst)
        else:
            tokens, counted_at = bucket
            # A clock that stepped back refills nothing (and takes nothing away).
            tokens = min(float(limit.burst), tokens + max(0.0, now - counted_at) * limit.per_second)
        if tokens >= 1.0:
            self._remember(key, tokens - 1.0, now)
            return 0
        self._remember(key, tokens, now)
        return max(1, math.ceil((1.0 - tokens) / limit.per_second))

    def _remember(self, key: bytes, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)


def public_limit(path: str, http: HttpSettings) -> tuple[str, Limit]:
    """The group and bound of a public route, from its settings: beacons, leads, and
    anything else of a bounded function (the health check).

    The unsubscribe routes are not bounded, on purpose: a withdrawal must never be
    refused (CASL), and RFC 8058 one-click requests come from the mailbox providers'
    servers, a few addresses for all their users.
    """
    match path.rstrip("/"):
        case "/v1/events":
            return "events", Limit(http.client_events_per_minute, http.client_events_burst)
        case "/v1/leads/capture":
            return "leads", Limit(http.client_leads_per_minute, http.client_leads_burst)
        case _:
            return "health", Limit(http.client_health_per_minute, http.client_health_burst)
