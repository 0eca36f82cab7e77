"""When an event kept in the outbox is tried again, after the quick retries."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DAY", "Backoff"]

DAY = 86_400.0
# Past 2**32 the cap has long been reached for any base; stopping the exponent there keeps
# the float from overflowing after thousands of retries.
_MAX_EXPONENT = 32


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, capped, for up to ``horizon`` seconds.

    The n-th retry from the outbox waits ``min(cap, base * factor ** (n - 1))``, shortened
    by a random fraction of at most ``jitter`` so that events parked during the same
    outage do not all come back in the same second. An event is retried until
    ``horizon`` seconds after it was first queued (Stripe's and Svix's 3 days); the last
    attempt is made at the horizon itself, and when it fails too the event is dead.

    Attributes
    ----------
    base
        Seconds before the first retry from the outbox (60).
    factor
        Growth of the wait from one retry to the next (2).
    cap
        Longest wait between two attempts, in seconds (1 hour). ``Retry-After`` on a 429
        or 503 is honoured up to this too.
    horizon
        Seconds from queueing after which a failed event is dead (3 days).
    jitter
        Largest fraction taken off a wait at random (0.2: each wait is 80 to 100 % of
        its nominal value).
    random
        ``random.random`` stand-in returning a float in [0, 1), so tests can pin it.

    Raises
    ------
    ValueError
        On a non-positive base or horizon, a factor below 1, a cap below the base or a
        jitter outside [0, 1).
    """

    base: float = 60.0
    factor: float = 2.0
    cap: float = 3600.0
    horizon: float = 3 * DAY
    jitter: float = 0.2
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.horizon <= 0:
            raise ValueError("backoff base and horizon must be positive")
        if self.factor < 1:
            raise ValueError("backoff factor must be at least 1")
        if self.cap < self.base:
            raise ValueError("backoff cap must not be below its base")
        if not 0 <= self.jitter < 1:
            raise ValueError("backoff jitter must be in [0, 1)")

    def nominal(self, retry: int) -> float:
        """The wait before the ``retry``-th retry from the outbox (1-based), unjittered."""
        if retry < 1:
            raise ValueError("retries are numbered from 1")
        return min(self.cap, self.base * self.factor ** min(retry - 1, _MAX_EXPONENT))

    def delay(self, retry: int) -> float:
        """The wait before the ``retry``-th retry from the outbox, jittered."""
        return self.nominal(retry) * (1.0 - self.jitter * self.random())
