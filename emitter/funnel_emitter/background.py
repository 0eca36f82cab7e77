"""Send from a web request without waiting: a thread that drains the outbox.

A request handler calls :meth:`BackgroundSender.enqueue` (or ``await
sender.aenqueue(...)`` from ``async def``), which writes the event to the outbox and
returns its webhook-id in a few milliseconds; the sender's thread delivers it, retries it
on the outbox's schedule, and picks up what an earlier process left behind. Several
processes (web workers) may each run one on the same outbox file: a row is only ever in
one sender's hands at a time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

from funnel_emitter.client import WebhookEmitter
from funnel_emitter.events import Event, as_event
from funnel_emitter.outbox import Outbox

__all__ = ["BackgroundSender"]

logger = logging.getLogger("funnel_emitter")

# The shortest idle wait, so a row that is due but cannot be taken yet (another
# process's claim about to run out) does not make the thread spin.
_MIN_WAIT = 0.05


class BackgroundSender:
    """Delivers an emitter's outbox from a daemon thread.

    Parameters
    ----------
    emitter
        A :class:`~funnel_emitter.WebhookEmitter` with an outbox.
    poll_interval
        Longest idle wait, in seconds, before looking at the outbox again: rows other
        processes add, or that ``python -m funnel_emitter outbox retry`` makes due, are
        noticed within this time.

    Raises
    ------
    ValueError
        When the emitter has no outbox or ``poll_interval`` is not positive.
    """

    def __init__(self, emitter: WebhookEmitter, *, poll_interval: float = 5.0) -> None:
        outbox = emitter.outbox
        if outbox is None:
            raise ValueError("a background sender needs an emitter with an outbox")
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self._emitter = emitter
        self._outbox: Outbox = outbox
        self._poll_interval = poll_interval
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._requested = 0  # flush requests made
        self._drained = 0  # the latest request after which a pass found nothing due
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> BackgroundSender:
        """Start the thread; returns the sender.

        Raises
        ------
        RuntimeError
            When it was started before.
        """
        if self._thread is not None:
            raise RuntimeError("a BackgroundSender can only be started once")
        self._thread = threading.Thread(target=self._run, name="funnel-emitter", daemon=True)
        self._thread.start()
        return self

    def enqueue(
        self,
        event: Event | str,
        tenant_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        /,
        *,
        occurred_at: datetime | str | None = None,
        webhook_id: str | None = None,
    ) -> str:
        """Write an event to the outbox and wake the thread; returns its webhook-id.

        Takes :meth:`WebhookEmitter.send`'s arguments and raises its errors, before
        anything is written. After :meth:`close` it still writes to the outbox (nothing
        is dropped), for the next sender on the file to deliver.
        """
        typed = as_event(event, tenant_id, payload)
        queued = self._emitter.enqueue(typed, occurred_at=occurred_at, webhook_id=webhook_id)
        self._wake.set()
        return queued

    async def aenqueue(
        self,
        event: Event | str,
        tenant_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        /,
        *,
        occurred_at: datetime | str | None = None,
        webhook_id: str | None = None,
    ) -> str:
        """:meth:`enqueue` for ``async def`` code: the SQLite write runs in a worker
        thread, so the event loop is never blocked on the disk."""
        return await asyncio.to_thread(
            self.enqueue, event, tenant_id, payload, occurred_at=occurred_at, webhook_id=webhook_id
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the thread has tried everything that is due now.

        Rows that fail are rescheduled, not waited for: they stay in the outbox.

        Returns
        -------
        bool
            True when nothing due was left untried; False on timeout or when the thread
            is not running.
        """
        if not self._running():
            return False
        with self._progress:
            self._requested += 1
            target = self._requested
        self._wake.set()
        with self._progress:
            return (
                self._progress.wait_for(lambda: self._drained >= target or not self._running(), timeout)
                and self._drained >= target
            )

    def close(self, timeout: float = 10.0) -> bool:
        """Flush, then stop the thread, all within ``timeout`` seconds.

        What is not delivered stays in the outbox for the next sender on the file. An
        attempt still in flight at the deadline is left to finish in the daemon thread.

        Returns
        -------
        bool
            True when everything due was tried and the thread has stopped.
        """
        deadline = time.monotonic() + timeout
        drained = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        stopped = drained and not self._running()
        if not stopped:
            logger.warning(
                "the background sender stopped before trying everything due; the events stay in the outbox",
                extra={"outbox": self._outbox.path},
            )
        return stopped

    async def aclose(self, timeout: float = 10.0) -> bool:
        """:meth:`close` for ``async def`` code (a FastAPI lifespan's shutdown)."""
        return await asyncio.to_thread(self.close, timeout)

    def __enter__(self) -> BackgroundSender:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> BackgroundSender:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping:
            # Cleared before reading the requests, so a flush asked for in between wakes
            # the next wait instead of being lost.
            self._wake.clear()
            with self._progress:
                target = self._requested
            if self._drain():
                with self._progress:
                    self._drained = target
                    self._progress.notify_all()
            if self._stopping:
                break
            self._wake.wait(self._idle_wait())
        with self._progress:
            self._progress.notify_all()

    def _drain(self) -> bool:
        """Deliver what is due until nothing is; False when stopped or failed midway."""
        try:
            while not self._stopping:
                if self._emitter.deliver_next() is None:
                    return True
        except Exception:
            # A full disk or a locked file must not end the thread: the rows are safe,
            # and the next pass tries again.
            logger.exception("the outbox could not be read or written; trying again shortly")
        return False

    def _idle_wait(self) -> float:
        try:
            due = self._outbox.next_due()
        except Exception:
            logger.exception("the outbox could not be read; trying again shortly")
            return self._poll_interval
        if due is None:
            return self._poll_interval
        return min(self._poll_interval, max(_MIN_WAIT, due - self._emitter.clock()))
