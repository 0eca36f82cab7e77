"""The durable outbox: quick retries, then exponential backoff for up to 3 days, across
restarts, and never the same row in two senders' hands at once.

Every test talks to a real HTTP server on 127.0.0.1 and a real SQLite file. No test waits
for a retry: the clock is a FakeTime that moves only when a test (or an injected sleep)
moves it, and the backoff's jitter is pinned.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from funnel.platform.signatures import verify
from funnel_emitter import (
    Backoff,
    Outbox,
    OutboxError,
    ScanCompleted,
    WebhookEmitter,
    WebhookIdReused,
)
from funnel_emitter.backoff import DAY
from tests.emitter_fakes import (
    ADMIN_KEY,
    DROP,
    HANG,
    SECRET,
    START,
    FakeTime,
    Reply,
    ScriptedServer,
    scripted_server,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
NO_JITTER = Backoff(random=lambda: 0.0)
HORIZON = 3 * DAY


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


def make(url: str, fake: FakeTime, path: Path, **overrides: Any) -> WebhookEmitter:
    options: dict[str, Any] = {
        "signing_secret": SECRET,
        "admin_key": ADMIN_KEY,
        "timeout": 5.0,
        "outbox": path,
        "backoff": NO_JITTER,
        "sleep": fake.sleep,
        "clock": fake.clock,
    }
    return WebhookEmitter(url, **{**options, **overrides})


def scan(number: int = 1) -> ScanCompleted:
    return ScanCompleted(
        tenant_id="tenant-1", job_id=f"job-{number}", media_count=3, identities_detected=2, duration_ms=900
    )


def failing(status: int, times: int, **body: Any) -> list[Reply | str]:
    return [Reply(status, {"ok": False, "error": "busy", **body})] * times


# --- quick retries, then the outbox ---------------------------------------------------


def test_after_the_quick_retries_the_event_waits_in_the_outbox(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given Funnel answers 503 to every attempt
    server.default = Reply(503, {"ok": False, "error": "database_unavailable"})
    emitter = make(server.url, fake, path)
    # When an event is sent
    result = emitter.send(scan())
    # Then the quick retries (docs/webhooks.md#retries) ran first: 4 attempts, 1 s, 5 s and 30 s apart
    assert fake.sleeps == [1.0, 5.0, 30.0]
    assert (result.ok, result.attempts, result.queued, result.dead) == (False, 4, True, False)
    # And every attempt carried the same id and body, each signed afresh
    assert set(server.ids()) == {result.webhook_id}
    assert len({request.body for request in server.received}) == 1
    for request in server.received:
        now = int(request.headers["webhook-timestamp"])
        assert verify([SECRET], request.headers, request.body, now=now, tolerance_seconds=0)
    # And the event is kept, with that body, due 60 s after the last attempt
    (entry,) = Outbox(path).entries()
    assert (entry.webhook_id, entry.body, entry.state, entry.attempts) == (
        result.webhook_id,
        server.received[0].body,
        "pending",
        4,
    )
    assert (entry.created_at, entry.next_attempt_at, entry.retry_until) == (
        START,
        START + 96,
        START + HORIZON,
    )
    assert (entry.last_status, entry.last_error) == (503, "HTTP 503 database_unavailable")


def test_a_delivered_event_leaves_nothing_in_the_outbox(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given one 503 then a 200
    server.script.extend([*failing(503, 1), Reply()])
    emitter = make(server.url, fake, path)
    # When an event is sent
    result = emitter.send(scan())
    # Then it was delivered on the second attempt and the outbox is empty
    assert (result.ok, result.attempts, result.queued) == (True, 2, False)
    assert Outbox(path).entries() == []


def test_the_sending_call_holds_its_event_while_it_waits_to_retry(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given a sender in its quick retries, and a second sender on the same outbox that
    # tries to deliver whatever is due each time the first one waits
    server.script.extend([*failing(503, 3), Reply()])
    other = make(server.url, fake, path)
    taken: list[int] = []

    def sleep_and_race(seconds: float) -> None:
        fake.sleep(seconds)
        taken.append(len(other.deliver_due()))

    emitter = make(server.url, fake, path, sleep=sleep_and_race)
    # When the first sender sends an event
    result = emitter.send(scan())
    # Then the second never took it: one sender, four attempts, one delivery
    assert taken == [0, 0, 0]
    assert (result.ok, result.attempts) == (True, 4)
    assert len(server.received) == 4


# --- surviving a restart ------------------------------------------------------------


def test_a_new_sender_on_the_same_file_delivers_what_the_last_one_left(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given a sender that gave up on its quick retries while Funnel was down
    server.script.extend(failing(503, 4))
    first = make(server.url, fake, path).send(scan())
    # When a new emitter is made on the same file after the process restarted
    fake.advance(60)
    restarted = make(server.url, fake, path)
    server.script.append(Reply(200, {"ok": True, "eventId": "evt-7"}))
    results = restarted.deliver_due()
    # Then it delivers the event, with the same id and the same body, and forgets it
    assert [(r.ok, r.webhook_id, r.attempts) for r in results] == [(True, first.webhook_id, 5)]
    assert server.received[-1].headers["webhook-id"] == first.webhook_id
    assert server.received[-1].body == server.received[0].body
    assert Outbox(path).entries() == []


def test_an_event_queued_by_a_process_that_was_killed_is_delivered_by_the_next(
    server: ScriptedServer, path: Path
) -> None:
    # Given a process that queued an event and was then killed without a chance to send it
    script = (
        "import os, signal, sys\n"
        "from funnel_emitter import ScanCompleted, WebhookEmitter\n"
        "url, secret, path = sys.argv[1:]\n"
        "emitter = WebhookEmitter(url, signing_secret=secret, admin_key='k', outbox=path)\n"
        "print(emitter.enqueue(ScanCompleted(\n"
        "    tenant_id='t-1', job_id='j-1', media_count=1, identities_detected=0, duration_ms=5\n"
        ")), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [sys.executable, "-c", script, server.url, SECRET, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO / "emitter"), os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert child.returncode == -9, child.stderr
    queued_id = child.stdout.strip()
    # When a sender in this process delivers what is due
    server.script.append(Reply())
    results = WebhookEmitter(
        server.url, signing_secret=SECRET, admin_key=ADMIN_KEY, outbox=path
    ).deliver_due()
    # Then the killed process's event arrived, once
    assert [r.webhook_id for r in results] == [queued_id]
    assert server.ids() == [queued_id]
    assert json.loads(server.received[0].body)["payload"]["jobId"] == "j-1"


def test_a_row_held_by_a_crashed_sender_is_taken_again_when_its_claim_runs_out(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given a row a sender claimed for 600 s and never finished (it crashed mid-attempt)
    outbox = Outbox(path)
    outbox.add(
        webhook_id="msg_orphan",
        event_type="scan.completed",
        tenant_id="tenant-1",
        body=b"{}",
        now=START,
        retry_until=START + HORIZON,
        claim_until=START + 600,
    )
    server.default = Reply()
    emitter = make(server.url, fake, path)
    # When another sender looks 1 s before the claim ends, Then it leaves the row alone
    fake.set(START + 599)
    assert emitter.deliver_due() == []
    # When it looks as the claim ends, Then it delivers the row
    fake.set(START + 600)
    assert [r.webhook_id for r in emitter.deliver_due()] == ["msg_orphan"]


# --- the schedule ---------------------------------------------------------------------


def test_backoff_doubles_from_a_minute_and_is_capped_at_an_hour() -> None:
    # Given the default backoff without jitter
    backoff = NO_JITTER
    # Then the n-th retry from the outbox waits 60 s doubled n - 1 times, at most 3600 s
    assert [backoff.delay(n) for n in range(1, 10)] == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    # And the cap is where it bites: 1920 s is under it, 3840 s is cut to it
    assert backoff.nominal(6) == 1920 < backoff.cap == 3600 == backoff.nominal(7)
    # And a thousandth retry still waits the cap (no overflow)
    assert backoff.delay(1000) == 3600


def test_jitter_shortens_a_wait_by_at_most_a_fifth() -> None:
    # Given the random source at its extremes
    longest = Backoff(random=lambda: 0.0)
    shortest = Backoff(random=lambda: 0.999999)
    # Then a wait is between 80 % and 100 % of its nominal value, the cap included
    assert longest.delay(3) == 240
    assert 192 <= shortest.delay(3) < 192.001
    assert 2880 <= shortest.delay(20) < 2880.01


@pytest.mark.parametrize(
    "settings",
    [{"base": 0}, {"horizon": 0}, {"factor": 0.5}, {"cap": 30}, {"jitter": 1.0}, {"jitter": -0.1}],
)
def test_a_nonsensical_backoff_is_refused(settings: dict[str, float]) -> None:
    # Given a backoff that could not schedule anything sensible, Then it cannot be made
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**settings)


def test_the_outbox_retries_on_the_whole_schedule(server: ScriptedServer, fake: FakeTime, path: Path) -> None:
    # Given an event enqueued while Funnel keeps failing
    server.default = Reply(500)
    emitter = make(server.url, fake, path)
    webhook_id = emitter.enqueue(scan())
    outbox = Outbox(path)
    # When a sender delivers what is due each time the next attempt falls due
    gaps = []
    for _ in range(12):
        before = fake.clock()
        assert [r.webhook_id for r in emitter.deliver_due()] == [webhook_id]
        assert emitter.deliver_due() == []  # nothing else is due until the next time
        entry = outbox.get(webhook_id)
        assert entry is not None
        gaps.append(entry.next_attempt_at - before)
        fake.set(entry.next_attempt_at)
    # Then the waits were the quick retries, then doubling from a minute up to an hour
    assert gaps == [1, 5, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_a_delivery_pass_tries_each_due_event_once_however_long_it_takes(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given an event due now, a Funnel that keeps failing, and a slow pass: the clock
    # moves 2 s on every reading, past the event's 1 s quick retry
    server.default = Reply(503)
    make(server.url, fake, path).enqueue(scan())

    def slow_clock() -> float:
        fake.advance(2)
        return fake.clock()

    emitter = make(server.url, fake, path, clock=slow_clock)
    # When what is due is delivered, Then the event was tried once, not again in the same pass
    assert [result.attempts for result in emitter.deliver_due()] == [1]
    assert len(server.received) == 1


def test_an_event_is_retried_for_three_days_then_kept_as_dead(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given an event queued at START that Funnel keeps failing
    server.default = Reply(503)
    emitter = make(server.url, fake, path, retry_delays=())
    webhook_id = emitter.enqueue(scan())
    outbox = Outbox(path)
    # When it fails one second before the 3 days are up
    fake.set(START + HORIZON - 1)
    (early,) = emitter.deliver_due()
    # Then it is still pending, with one last attempt at the horizon itself
    entry = outbox.get(webhook_id)
    assert entry is not None
    assert (early.queued, early.dead, entry.state, entry.next_attempt_at) == (
        True,
        False,
        "pending",
        START + HORIZON,
    )
    # When that last attempt, at exactly 3 days, fails too
    fake.set(START + HORIZON)
    (last,) = emitter.deliver_due()
    # Then the event is dead, kept with its body and why, and never tried again
    entry = outbox.get(webhook_id)
    assert entry is not None
    assert (last.queued, last.dead, entry.state, entry.dead_reason) == (False, True, "dead", "expired")
    assert (entry.last_error, entry.attempts, entry.body) == ("HTTP 503", 2, server.received[0].body)
    fake.advance(DAY)
    assert emitter.deliver_due() == []
    assert len(server.received) == 2


def test_a_late_attempt_after_a_long_outage_is_still_made_once(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given an event due before the horizon, and no sender running until a day after it
    server.default = Reply(200)
    emitter = make(server.url, fake, path, retry_delays=())
    webhook_id = emitter.enqueue(scan())
    fake.set(START + HORIZON + DAY)
    # When a sender starts, Then it still tries the event, and Funnel takes it
    assert [(r.webhook_id, r.ok) for r in emitter.deliver_due()] == [(webhook_id, True)]


@pytest.mark.parametrize(
    ("reply", "wait"),
    [
        (Reply(429, headers={"Retry-After": "300"}), 300.0),
        (Reply(503, headers={"Retry-After": "7200"}), 3600.0),
        (Reply(503, headers={"Retry-After": "10"}), 120.0),
        (Reply(500, headers={"Retry-After": "300"}), 120.0),
    ],
    ids=["longer-than-scheduled", "capped-at-the-backoff-cap", "shorter-than-scheduled", "not-on-500"],
)
def test_retry_after_stretches_an_outbox_wait_up_to_the_cap(
    server: ScriptedServer, fake: FakeTime, path: Path, reply: Reply, wait: float
) -> None:
    # Given an event past its quick retries, and Funnel asking for time
    server.script.extend([*failing(500, 4), reply])
    emitter = make(server.url, fake, path)
    result = emitter.send(scan())
    fake.set(START + 96)
    # When the outbox tries it again
    emitter.deliver_due()
    # Then the next wait is the longer of the schedule (120 s after the fifth attempt) and
    # Retry-After, at most an hour
    entry = Outbox(path).get(result.webhook_id)
    assert entry is not None
    assert entry.next_attempt_at - (START + 96) == wait


# --- what is retried, and what is dead at once ------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(408),
        Reply(429),
        Reply(500),
        Reply(502),
        Reply(503),
        Reply(504),
        DROP,
        HANG,
    ],
    ids=["408", "429", "500", "502", "503", "504", "dropped", "timed-out"],
)
def test_transient_failures_keep_the_event_pending(
    server: ScriptedServer, fake: FakeTime, path: Path, reply: Reply | str
) -> None:
    # Given Funnel failing in a way that may pass
    server.default = reply
    emitter = make(server.url, fake, path, retry_delays=(), timeout=0.2)
    # When an event is sent, Then it is kept, pending, for the next attempt in a minute
    result = emitter.send(scan())
    entry = Outbox(path).get(result.webhook_id)
    assert entry is not None
    assert (result.queued, entry.state, entry.next_attempt_at) == (True, "pending", START + 60)


def test_a_refused_connection_keeps_the_event_pending(fake: FakeTime, path: Path) -> None:
    # Given nothing listens at the URL
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    emitter = make(f"http://127.0.0.1:{port}/hook", fake, path, retry_delays=())
    # When an event is sent, Then it is kept with the network error
    result = emitter.send(scan())
    entry = Outbox(path).get(result.webhook_id)
    assert entry is not None
    assert (result.queued, entry.last_status) == (True, None)
    assert "refused" in (entry.last_error or "").lower()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(409, {"ok": False, "error": "webhook_id_reused"}), "HTTP 409 webhook_id_reused"),
        (Reply(422, {"ok": False, "error": "validation_failed"}), "HTTP 422 validation_failed"),
        (Reply(400, {"ok": False, "error": "invalid_json"}), "HTTP 400 invalid_json"),
        (Reply(401, {"ok": False, "error": "unauthorized"}), "HTTP 401 unauthorized"),
        (Reply(413, b"too large"), "HTTP 413"),
        (Reply(302, {}, {"location": "http://127.0.0.1:9/"}), "HTTP 302"),
    ],
    ids=["409", "422", "400", "401", "413", "redirect"],
)
def test_an_answer_no_retry_can_change_makes_the_event_dead_at_once(
    server: ScriptedServer, fake: FakeTime, path: Path, reply: Reply, error: str
) -> None:
    # Given Funnel refuses the event
    server.script.append(reply)
    server.default = Reply()
    emitter = make(server.url, fake, path)
    # When it is sent
    result = emitter.send(scan())
    # Then there was one attempt, no wait, and it is kept as dead with the reason
    assert (result.ok, result.attempts, result.queued, result.dead) == (False, 1, False, True)
    assert fake.sleeps == []
    entry = Outbox(path).get(result.webhook_id)
    assert entry is not None
    assert (entry.state, entry.dead_reason, entry.last_error) == ("dead", "refused", error)
    # And no later pass sends it again
    fake.advance(DAY)
    assert emitter.deliver_due() == []
    assert len(server.received) == 1


# --- one webhook-id, one body -----------------------------------------------------------


def test_a_webhook_id_never_carries_a_second_body(server: ScriptedServer, fake: FakeTime, path: Path) -> None:
    # Given an event queued under a chosen id while Funnel is down
    server.default = Reply(503)
    emitter = make(server.url, fake, path, retry_delays=())
    emitter.send(scan(1), webhook_id="msg_chosen")
    sent = len(server.received)
    # When another event is sent or enqueued under the same id
    with pytest.raises(WebhookIdReused, match="msg_chosen"):
        emitter.send(scan(2), webhook_id="msg_chosen")
    with pytest.raises(ValueError, match="different body"):
        emitter.enqueue(scan(2), webhook_id="msg_chosen")
    # Then nothing was sent for it and the queued body is the first event's
    assert len(server.received) == sent
    entry = Outbox(path).get("msg_chosen")
    assert entry is not None
    assert json.loads(entry.body)["payload"]["jobId"] == "job-1"


def test_the_same_event_sent_again_is_retried_now(server: ScriptedServer, fake: FakeTime, path: Path) -> None:
    # Given an event Funnel refused (dead), with the caller keeping its id and time
    server.script.append(Reply(401, {"ok": False, "error": "unauthorized"}))
    emitter = make(server.url, fake, path)
    occurred = "2026-02-13T12:00:00Z"
    first = emitter.send(scan(), webhook_id="msg_again", occurred_at=occurred)
    # When the same event is sent again under its id, after the key was fixed
    server.script.append(Reply())
    again = emitter.send(scan(), webhook_id="msg_again", occurred_at=occurred)
    # Then the same body went out again and was delivered
    assert (first.dead, again.ok, again.attempts) == (True, True, 2)
    assert server.received[0].body == server.received[1].body
    assert Outbox(path).entries() == []


# --- several senders on one file ----------------------------------------------------------


def test_concurrent_senders_in_threads_deliver_each_event_exactly_once(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given 60 events in the outbox and a slow Funnel
    server.default = Reply(200, delay=0.005)
    ids = {make(server.url, fake, path).enqueue(scan(n)) for n in range(60)}
    # When six senders, each with its own emitter on the file, deliver what is due at once
    barrier = threading.Barrier(6)
    delivered: list[str] = []

    def worker() -> None:
        emitter = make(server.url, fake, path)
        barrier.wait()
        delivered.extend(result.webhook_id for result in emitter.deliver_due())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Then every event reached Funnel exactly once, and the outbox is empty
    assert Counter(server.ids()) == Counter(dict.fromkeys(ids, 1))
    assert sorted(delivered) == sorted(ids)
    assert Outbox(path).entries() == []


def test_concurrent_sender_processes_deliver_each_event_exactly_once(
    server: ScriptedServer, path: Path
) -> None:
    # Given 45 events in the outbox (queued on the real clock) and a slow Funnel
    server.default = Reply(200, delay=0.005)
    emitter = WebhookEmitter(server.url, signing_secret=SECRET, admin_key=ADMIN_KEY, outbox=path)
    ids = {emitter.enqueue(scan(n)) for n in range(45)}
    # When three processes run `outbox deliver` on the same file at the same time
    env = {
        **os.environ,
        "FUNNEL_WEBHOOK_SECRET": SECRET,
        "FUNNEL_ADMIN_KEY": ADMIN_KEY,
        "PYTHONPATH": os.pathsep.join([str(REPO / "emitter"), os.environ.get("PYTHONPATH", "")]),
    }
    argv = [sys.executable, "-m", "funnel_emitter", "outbox", "deliver", "--outbox", str(path), server.url]
    processes = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # noqa: S603
        for _ in range(3)
    ]
    summaries = [json.loads(process.communicate(timeout=120)[0]) for process in processes]
    # Then every event reached Funnel exactly once, and the outbox is empty
    assert Counter(server.ids()) == Counter(dict.fromkeys(ids, 1))
    assert sum(summary["delivered"] for summary in summaries) == 45
    assert Outbox(path).entries() == []


def test_a_forked_child_uses_the_outbox_it_inherited_without_harming_the_parents(path: Path) -> None:
    # Given an outbox that has been used (so it keeps connections open), in a process with
    # no other thread yet, as a pre-forking web server's master is
    outbox = Outbox(path)
    queuer = WebhookEmitter("http://127.0.0.1:9/", signing_secret=SECRET, admin_key=ADMIN_KEY, outbox=outbox)
    parents = queuer.enqueue(scan(1))
    # When the process forks and the child queues an event through the same object
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            queuer.enqueue(scan(2))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    # Then the child succeeded, and the parent's outbox still delivers both events
    assert os.waitstatus_to_exitcode(status) == 0
    with scripted_server() as server:
        server.default = Reply()
        sender = WebhookEmitter(server.url, signing_secret=SECRET, admin_key=ADMIN_KEY, outbox=outbox)
        assert len(sender.deliver_due()) == 2
        assert server.ids()[0] == parents
    assert outbox.entries() == []


# --- the file -------------------------------------------------------------------------------


def test_the_outbox_file_is_private_and_in_wal_mode(path: Path) -> None:
    # Given a new outbox
    Outbox(path)
    # Then only its owner can read it (bodies may hold an email address), and it is in WAL mode
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with path.open("rb") as raw:
        header = raw.read(20)
    assert header[:16] == b"SQLite format 3\x00"
    assert (header[18], header[19]) == (2, 2)  # read and write versions 2: WAL


def test_a_file_that_is_not_an_outbox_is_refused(tmp_path: Path) -> None:
    # Given a file that is not SQLite, and one from a newer emitter
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 10)
    newer = tmp_path / "newer.sqlite3"
    Outbox(newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version = 99")
    # Then neither can be opened as an outbox
    with pytest.raises(OutboxError, match="cannot be used: file is not a database"):
        Outbox(junk)
    with pytest.raises(OutboxError, match="schema version 99"):
        Outbox(newer)


def test_an_outbox_locked_too_long_is_an_error_before_anything_is_sent(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given another process holds the outbox's write lock longer than the busy timeout
    emitter = make(server.url, fake, path, outbox=Outbox(path, busy_timeout=0.05))
    with closing(sqlite3.connect(path, isolation_level=None)) as locker:
        locker.execute("BEGIN IMMEDIATE")
        # When an event is sent or enqueued, Then OutboxError says so and nothing was sent
        with pytest.raises(OutboxError, match="locked"):
            emitter.send(scan())
        with pytest.raises(OutboxError, match="locked"):
            emitter.enqueue(scan())
        locker.execute("ROLLBACK")
    assert server.received == []


def test_a_delivered_event_is_reported_delivered_even_if_the_outbox_cannot_forget_it(
    server: ScriptedServer, fake: FakeTime, path: Path
) -> None:
    # Given a send whose answer Funnel holds back, and an outbox locked meanwhile
    server.hold.clear()
    server.default = Reply()
    emitter = make(server.url, fake, path, outbox=Outbox(path, busy_timeout=0.05))
    results: list[Any] = []
    sending = threading.Thread(target=lambda: results.append(emitter.send(scan())))
    sending.start()
    assert server.answering.wait(10)
    with closing(sqlite3.connect(path, isolation_level=None)) as locker:
        locker.execute("BEGIN IMMEDIATE")
        # When Funnel accepts the event while its row cannot be deleted
        server.hold.set()
        sending.join(10)
        locker.execute("ROLLBACK")
    # Then the caller hears it was delivered, and the row left behind is only re-sent
    # (a duplicate Funnel recognises) once its claim runs out
    assert [(r.ok, r.status) for r in results] == [(True, 200)]
    (left,) = Outbox(path).entries()
    assert emitter.deliver_due() == []
    fake.advance(600)
    assert [r.webhook_id for r in emitter.deliver_due()] == [left.webhook_id]


def test_enqueue_and_delivery_need_an_outbox(server: ScriptedServer) -> None:
    # Given an emitter without an outbox, Then it cannot queue or deliver from one
    emitter = WebhookEmitter(server.url, signing_secret=SECRET, admin_key=ADMIN_KEY)
    with pytest.raises(RuntimeError, match="outbox"):
        emitter.enqueue(scan())
    with pytest.raises(RuntimeError, match="outbox"):
        emitter.deliver_next()


def test_outbox_attempts_are_logged_without_the_body_or_secrets(
    server: ScriptedServer, fake: FakeTime, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a tenant.created with an email, refused after one transient failure
    caplog.set_level(logging.INFO, logger="funnel_emitter")
    server.script.extend([*failing(503, 1), Reply(422, {"ok": False, "error": "validation_failed"})])
    emitter = make(server.url, fake, path)
    # When it is sent
    result = emitter.send("tenant.created", "tenant-1", {"email": "owner@example.org"})
    # Then one record per attempt says what happens next
    records = [r for r in caplog.records if r.name == "funnel_emitter"]
    assert [(r.levelno, r.attempt, r.status, r.webhook_id) for r in records] == [
        (logging.WARNING, 1, 503, result.webhook_id),
        (logging.ERROR, 2, 422, result.webhook_id),
    ]
    assert "retrying in 1 s" in records[0].getMessage()
    assert "refused, kept as dead" in records[1].getMessage()
    # And none holds the address, the secret or the admin key
    for record in records:
        text = record.getMessage() + repr(vars(record))
        assert not [value for value in ("owner@example.org", SECRET, ADMIN_KEY) if value in text]
