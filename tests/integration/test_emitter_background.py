"""Sending without waiting: the background thread and the asyncio API.

A real HTTP server on 127.0.0.1 and a real outbox file; the clock is a FakeTime, so a
retry falls due when a test moves the clock, never after a real wait.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from funnel_emitter import BackgroundSender, Backoff, Outbox, ScanCompleted, WebhookEmitter
from tests.emitter_fakes import ADMIN_KEY, SECRET, START, FakeTime, Reply, ScriptedServer, scripted_server

pytestmark = pytest.mark.integration

# Generous bounds on real waits for threads; a passing run takes milliseconds.
WAIT = 10.0


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with scripted_server() as srv:
        yield srv


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


def make(url: str, fake: FakeTime, path: Path) -> WebhookEmitter:
    return WebhookEmitter(
        url,
        signing_secret=SECRET,
        admin_key=ADMIN_KEY,
        timeout=5.0,
        outbox=path,
        backoff=Backoff(random=lambda: 0.0),
        sleep=fake.sleep,
        clock=fake.clock,
    )


def scan(number: int = 1) -> ScanCompleted:
    return ScanCompleted(
        tenant_id="tenant-1", job_id=f"job-{number}", media_count=3, identities_detected=2, duration_ms=900
    )


def test_enqueue_returns_at_once_with_the_event_already_on_disk(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given a started sender and a Funnel that holds every request until told to answer
    server.hold.clear()
    server.default = Reply()
    sender = BackgroundSender(make(server.url, fake, path)).start()
    try:
        # When an event is enqueued
        webhook_id = sender.enqueue(scan())
        # Then enqueue returned while the delivery is still in flight, with the event on disk
        assert server.answering.wait(WAIT)
        assert [entry.webhook_id for entry in Outbox(path).entries()] == [webhook_id]
        # And once Funnel answers, the event is delivered and gone from the outbox
        server.hold.set()
        assert sender.flush(WAIT)
        assert server.ids() == [webhook_id]
        assert Outbox(path).entries() == []
    finally:
        assert sender.close(WAIT)


def test_a_failed_event_is_retried_when_it_falls_due(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given a sender and a Funnel that fails once, then answers
    server.script.append(Reply(503))
    server.default = Reply()
    with BackgroundSender(make(server.url, fake, path)) as sender:
        # When an event is enqueued and the sender has tried what is due
        webhook_id = sender.enqueue("scan.completed", "tenant-1", scan().payload())
        assert sender.flush(WAIT)
        # Then the event waits in the outbox for its first quick retry, 1 s later
        entry = Outbox(path).get(webhook_id)
        assert entry is not None
        assert (entry.attempts, entry.next_attempt_at) == (1, START + 1)
        # When that second comes, Then it is delivered on the second attempt
        fake.advance(1)
        assert sender.flush(WAIT)
    assert server.ids() == [webhook_id, webhook_id]
    assert Outbox(path).entries() == []


def test_a_new_sender_delivers_what_an_earlier_process_left(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given events left in the outbox by a process that stopped before sending them
    left = [make(server.url, fake, path).enqueue(scan(n)) for n in range(3)]
    server.default = Reply()
    # When a sender starts on the file and is closed
    sender = BackgroundSender(make(server.url, fake, path)).start()
    drained = sender.close(WAIT)
    # Then it delivered them all before stopping
    assert drained
    assert sorted(server.ids()) == sorted(left)


def test_events_another_process_queues_are_noticed_within_the_poll_interval(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given a running sender that looks at the outbox every 50 ms when idle
    server.default = Reply()
    sender = BackgroundSender(make(server.url, fake, path), poll_interval=0.05).start()
    try:
        assert sender.flush(WAIT)  # its first pass found nothing; it is idle now
        # When another process's emitter queues an event (which wakes nothing here)
        webhook_id = make(server.url, fake, path).enqueue(scan())
        # Then the sender finds and delivers it on its own
        assert server.answering.wait(WAIT)
        assert server.ids() == [webhook_id]
    finally:
        assert sender.close(WAIT)


def test_the_thread_survives_an_outbox_it_cannot_write_for_a_while(
    server: ScriptedServer, fake: FakeTime, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an event due, and another process holding the outbox's write lock
    server.default = Reply()
    webhook_id = make(server.url, fake, path).enqueue(scan())
    emitter = WebhookEmitter(
        server.url, signing_secret=SECRET, admin_key=ADMIN_KEY, outbox=Outbox(path, busy_timeout=0.05)
    )
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    # When a sender starts and cannot take the row
    sender = BackgroundSender(emitter, poll_interval=0.05).start()
    try:
        assert not sender.flush(0.5)
        assert "could not be read or written" in caplog.text
        # Then once the lock is released it delivers the event all the same
        locker.execute("ROLLBACK")
        assert sender.flush(WAIT)
        assert server.ids() == [webhook_id]
    finally:
        locker.close()
        assert sender.close(WAIT)


def test_close_stops_the_thread_and_later_events_are_still_kept(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given a sender that was started and closed
    server.default = Reply()
    sender = BackgroundSender(make(server.url, fake, path)).start()
    assert sender.close(WAIT)
    # When an event is enqueued after the close
    webhook_id = sender.enqueue(scan())
    # Then nothing is sent, the event is kept for the next sender, and flush says so
    assert not sender.flush(0.1)
    assert server.received == []
    assert [entry.webhook_id for entry in Outbox(path).entries()] == [webhook_id]


def test_close_gives_up_at_its_timeout_and_leaves_the_event_in_the_outbox(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given a sender whose delivery hangs in Funnel
    server.hold.clear()
    sender = BackgroundSender(make(server.url, fake, path)).start()
    webhook_id = sender.enqueue(scan())
    assert server.answering.wait(WAIT)
    # When it is closed with half a second to spare
    started = time.monotonic()
    drained = sender.close(0.5)
    # Then close returns by its deadline, saying not everything was delivered
    assert not drained
    assert time.monotonic() - started < WAIT
    # And the event is still in the outbox, to be taken again when its claim runs out
    assert [entry.webhook_id for entry in Outbox(path).entries()] == [webhook_id]
    server.hold.set()


def test_two_background_senders_on_one_file_deliver_each_event_once(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given two web workers, each with its own sender on the same outbox, and a slow Funnel
    server.default = Reply(200, delay=0.005)
    first = BackgroundSender(make(server.url, fake, path)).start()
    second = BackgroundSender(make(server.url, fake, path)).start()
    # When each enqueues 20 events
    ids = [sender.enqueue(scan(n)) for n in range(20) for sender in (first, second)]
    assert first.close(WAIT)
    assert second.close(WAIT)
    # Then Funnel got each of the 40 exactly once
    assert Counter(server.ids()) == Counter(dict.fromkeys(ids, 1))


def test_the_asyncio_api_queues_without_blocking_the_event_loop(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given an event loop with a sender, and a Funnel that holds its answers for now
    server.hold.clear()
    server.default = Reply()

    async def app() -> tuple[list[str], int, bool]:
        ticks = 0
        async with BackgroundSender(make(server.url, fake, path)) as sender:

            async def heartbeat() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            beating = asyncio.create_task(heartbeat())
            # When request handlers await aenqueue while a delivery is in flight
            queued = asyncio.gather(*(sender.aenqueue(scan(n)) for n in range(10)))
            ids = list(await asyncio.wait_for(queued, WAIT))
            in_flight = await asyncio.to_thread(server.answering.wait, WAIT)
            ticks_while_held = ticks
            server.hold.set()
            drained = await sender.aclose(WAIT)
            beating.cancel()
        return ids, ticks_while_held, in_flight and drained

    ids, ticks, drained = asyncio.run(app())
    # Then every aenqueue returned while Funnel was still holding, the loop kept running,
    # and closing delivered everything
    assert drained
    assert ticks > 0
    assert sorted(server.ids()) == sorted(ids)
    assert Outbox(path).entries() == []


def test_aenqueue_raises_for_an_invalid_event_before_anything_is_queued(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given a sender
    sender = BackgroundSender(make(server.url, fake, path))

    async def bad() -> Any:
        return await sender.aenqueue("scan.completed", "tenant-1", {"jobId": "j"})

    # When an event with missing fields is awaited, Then it raises and nothing is queued
    with pytest.raises(ValueError, match="mediaCount is required"):
        asyncio.run(bad())
    assert Outbox(path).entries() == []


def test_a_sender_needs_an_outbox_and_starts_once(server: ScriptedServer, fake: FakeTime, path: Path) -> None:
    # Given an emitter without an outbox, Then no background sender can use it
    with pytest.raises(ValueError, match="outbox"):
        BackgroundSender(WebhookEmitter(server.url, signing_secret=SECRET, admin_key=ADMIN_KEY))
    # And a sender cannot be started twice
    sender = BackgroundSender(make(server.url, fake, path)).start()
    with pytest.raises(RuntimeError, match="once"):
        sender.start()
    assert sender.close(WAIT)
