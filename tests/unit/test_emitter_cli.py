"""``python -m funnel_emitter`` against a one-answer HTTP server on 127.0.0.1.

The command line sleeps and reads the clock through stand-ins, so no test waits for a
retry; the ones that run ``python -m funnel_emitter`` in a child process script only
answers that are never retried.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from funnel.platform.signatures import verify
from funnel_emitter import Backoff, Outbox, WebhookEmitter
from funnel_emitter.__main__ import main
from tests.emitter_fakes import FakeTime, Reply, ScriptedServer, scripted_server

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ADMIN_KEY = "cli-admin-key-41c9"


class OneAnswerServer(ThreadingHTTPServer):
    """Answers every request with ``status`` and ``answer``, and records the requests."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = 200
        self.answer: dict[str, Any] = {"ok": True, "eventId": "evt-cli"}
        self.received: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1/webhooks/description-service"


class _Handler(BaseHTTPRequestHandler):
    server: OneAnswerServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        raw = json.dumps(self.server.answer).encode()
        self.send_response(self.server.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the server quiet; the tests read ``received`` instead."""


@pytest.fixture
def server() -> Iterator[OneAnswerServer]:
    srv = OneAnswerServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNNEL_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("FUNNEL_ADMIN_KEY", ADMIN_KEY)


@pytest.mark.usefixtures("credentials")
def test_a_delivered_event_prints_the_answer_and_exits_0(
    server: OneAnswerServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given credentials in the environment and Funnel answering 200
    argv = [
        server.url,
        "--event-type",
        "tenant.created",
        "--tenant-id",
        "tenant-7",
        "--occurred-at",
        "2026-02-13T12:00:00Z",
        "--payload",
        '{"email": "owner@example.org"}',
        "--webhook-id",
        "msg_cli-1",
    ]
    # When the command runs
    status = main(argv)
    # Then it exits 0 and prints Funnel's answer on stdout
    out, err = capsys.readouterr()
    assert status == 0
    assert json.loads(out) == {"ok": True, "eventId": "evt-cli"}
    # And the request was the signed envelope built from the arguments
    headers, body = server.received[0]
    assert verify([SECRET], headers, body, now=int(headers["webhook-timestamp"]), tolerance_seconds=0) == (
        "msg_cli-1"
    )
    assert headers["x-admin-key"] == ADMIN_KEY
    assert json.loads(body) == {
        "eventType": "tenant.created",
        "tenantId": "tenant-7",
        "occurredAt": "2026-02-13T12:00:00Z",
        "payload": {"email": "owner@example.org"},
    }
    # And the attempt was logged on stderr without the payload or the credentials
    assert "msg_cli-1" in err
    assert "attempt 1/4" in err
    assert not [value for value in (SECRET, ADMIN_KEY, "owner@example.org") if value in err]


@pytest.mark.usefixtures("credentials")
def test_a_rejected_event_prints_the_answer_and_exits_1(
    server: OneAnswerServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Funnel rejects the event with a 422
    server.status = 422
    server.answer = {"ok": False, "error": "validation_failed"}
    # When the command runs
    payload = '{"jobId": "job-1", "mediaCount": 2}'
    argv = [server.url, "--event-type", "scan.failed", "--tenant-id", "tenant-7", "--payload", payload]
    status = main([*argv, "--timeout", "3"])
    # Then it exits 1, prints the answer, says why on stderr, and did not retry
    out, err = capsys.readouterr()
    assert status == 1
    assert json.loads(out) == {"ok": False, "error": "validation_failed"}
    assert "HTTP 422" in err
    assert len(server.received) == 1


@pytest.mark.parametrize("unset", ["FUNNEL_WEBHOOK_SECRET", "FUNNEL_ADMIN_KEY"])
@pytest.mark.usefixtures("credentials")
def test_a_missing_credential_exits_2_without_sending(
    server: OneAnswerServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], unset: str
) -> None:
    # Given one of the two environment variables is missing
    monkeypatch.delenv(unset)
    # When the command runs
    with pytest.raises(SystemExit) as exit_info:
        main([server.url, "--event-type", "tenant.created", "--tenant-id", "tenant-7"])
    # Then it exits 2 naming the variable, and sends nothing
    assert exit_info.value.code == 2
    assert unset in capsys.readouterr().err
    assert server.received == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--payload", "{not json"], "not valid JSON"),
        (["--payload", "[1, 2]"], "JSON object"),
        (["--occurred-at", "2026-02-13T12:00:00"], "timezone-aware"),
        (["--event-type", "tenant.deleted"], "invalid choice"),
    ],
)
@pytest.mark.usefixtures("credentials")
def test_bad_arguments_exit_2_without_sending(
    server: OneAnswerServer, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    # Given an argument the event cannot be built from
    argv = [server.url, "--event-type", "tenant.created", "--tenant-id", "tenant-7", *extra]
    # When the command runs, Then it exits 2 explaining why and sends nothing
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert server.received == []


def test_python_dash_m_runs_the_command_line() -> None:
    # Given an environment without the credentials
    env = {k: v for k, v in os.environ.items() if k not in ("FUNNEL_WEBHOOK_SECRET", "FUNNEL_ADMIN_KEY")}
    # When the package is run as a module (the closed discard port is never contacted)
    argv = ["http://127.0.0.1:9/", "--event-type", "tenant.created", "--tenant-id", "tenant-7"]
    completed = subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [sys.executable, "-m", "funnel_emitter", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then __main__ reached main(), which refused to run without them
    assert completed.returncode == 2
    assert "FUNNEL_WEBHOOK_SECRET" in completed.stderr


# --- the outbox commands ------------------------------------------------------------------


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    with scripted_server() as srv:
        yield srv


@pytest.fixture
def outbox_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


def queue_events(url: str, path: Path, fake: FakeTime, statuses: list[int]) -> list[str]:
    """One event per status, each sent once (no quick retries) to a server answering it."""
    emitter = WebhookEmitter(
        url,
        signing_secret=SECRET,
        admin_key=ADMIN_KEY,
        outbox=path,
        retry_delays=(),
        backoff=Backoff(random=lambda: 0.0),
        clock=fake.clock,
        sleep=fake.sleep,
    )
    return [
        emitter.send("tenant.created", f"tenant-{n}", {"email": "owner@example.org"}).webhook_id
        for n in range(len(statuses))
    ]


@pytest.mark.usefixtures("credentials")
def test_a_send_that_cannot_get_through_is_kept_in_the_outbox_and_exits_75(
    scripted: ScriptedServer, outbox_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Funnel is down
    scripted.default = Reply(503)
    fake = FakeTime()
    argv = [
        scripted.url,
        "--event-type",
        "tenant.created",
        "--tenant-id",
        "t-1",
        "--outbox",
        str(outbox_path),
    ]
    # When an event is sent with an outbox
    status = main(argv, clock=fake.clock, sleep=fake.sleep)
    # Then after the quick retries it exits 75 (try again later) saying where the event is
    assert status == 75
    assert fake.sleeps == [1.0, 5.0, 30.0]
    (entry,) = Outbox(outbox_path).entries()
    assert f"kept in the outbox as {entry.webhook_id}" in capsys.readouterr().err


@pytest.mark.usefixtures("credentials")
def test_a_refused_send_with_an_outbox_exits_1_and_is_kept_as_dead(
    scripted: ScriptedServer, outbox_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Funnel refuses the event, and the outbox named by FUNNEL_OUTBOX
    scripted.default = Reply(422, {"ok": False, "error": "validation_failed"})
    monkeypatch.setenv("FUNNEL_OUTBOX", str(outbox_path))
    # When it is sent
    status = main([scripted.url, "--event-type", "tenant.created", "--tenant-id", "t-1"])
    # Then it exits 1 and the event is dead in that outbox
    assert status == 1
    assert [(e.state, e.last_error) for e in Outbox(outbox_path).entries()] == [
        ("dead", "HTTP 422 validation_failed")
    ]


def test_outbox_list_shows_each_event_and_the_counts_but_never_the_body(
    scripted: ScriptedServer, outbox_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a pending event and a dead one
    scripted.script.extend(
        [Reply(503, {"error": "database_unavailable"}), Reply(409, {"error": "webhook_id_reused"})]
    )
    pending, dead = queue_events(scripted.url, outbox_path, FakeTime(), [503, 409])
    # When the outbox is listed
    status = main(["outbox", "list", "--outbox", str(outbox_path)])
    # Then each event has a line with its state, attempts, times and last error, then the counts
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert status == 0
    queued, due = "2026-02-14T00:00:00Z", "2026-02-14T00:01:00Z"
    header = [
        "WEBHOOK",
        "ID",
        "EVENT",
        "TENANT",
        "STATE",
        "ATTEMPTS",
        "QUEUED",
        "NEXT",
        "ATTEMPT",
        "LAST",
        "ERROR",
    ]
    assert [line.split() for line in lines] == [
        header,
        [
            pending,
            "tenant.created",
            "tenant-0",
            "pending",
            "1",
            queued,
            due,
            "HTTP",
            "503",
            "database_unavailable",
        ],
        [
            dead,
            "tenant.created",
            "tenant-1",
            "dead",
            "(refused)",
            "1",
            queued,
            "-",
            "HTTP",
            "409",
            "webhook_id_reused",
        ],
        ["1", "pending,", "1", "dead"],
    ]
    # And the body's email address is shown nowhere
    assert "owner@example.org" not in out


def test_outbox_list_as_json_and_by_state(
    scripted: ScriptedServer, outbox_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a pending event and a dead one
    scripted.script.extend([Reply(503), Reply(422)])
    _, dead = queue_events(scripted.url, outbox_path, FakeTime(), [503, 422])
    # When only the dead ones are listed as JSON
    main(["outbox", "list", "--outbox", str(outbox_path), "--state", "dead", "--json"])
    # Then there is one JSON object per dead event
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [
        (item["webhookId"], item["state"], item["deadReason"], item["lastStatus"]) for item in listed
    ] == [(dead, "dead", "refused", 422)]
    assert listed[0]["nextAttemptAt"] is None
    assert "body" not in listed[0]


def test_outbox_retry_makes_dead_and_named_events_due_now(
    scripted: ScriptedServer, outbox_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a pending event and a dead one, queued at START
    scripted.script.extend([Reply(503), Reply(401)])
    fake = FakeTime()
    pending, dead = queue_events(scripted.url, outbox_path, fake, [503, 401])
    # When, a day later, the dead ones are retried
    fake.advance(86_400)
    assert main(["outbox", "retry", "--dead", "--outbox", str(outbox_path)], clock=fake.clock) == 0
    # Then the dead event is pending again, due now, with three fresh days of retries
    revived = Outbox(outbox_path).get(dead)
    assert revived is not None
    assert (revived.state, revived.dead_reason) == ("pending", None)
    assert (revived.next_attempt_at, revived.retry_until) == (fake.now, fake.now + 3 * 86_400)
    # When the pending one is retried by its id, Then it is due now too
    assert main(["outbox", "retry", pending, "--outbox", str(outbox_path)], clock=fake.clock) == 0
    entry = Outbox(outbox_path).get(pending)
    assert entry is not None
    assert entry.next_attempt_at == fake.now
    assert capsys.readouterr().out.splitlines() == ["1 event(s) due now", "1 event(s) due now"]


@pytest.mark.parametrize(("age_seconds", "purged"), [(30 * 86_400, 0), (30 * 86_400 + 1, 1)])
def test_outbox_purge_older_than_is_exact_at_its_edge(
    scripted: ScriptedServer, outbox_path: Path, age_seconds: int, purged: int
) -> None:
    # Given an event queued at START
    scripted.script.append(Reply(503))
    fake = FakeTime()
    queue_events(scripted.url, outbox_path, fake, [503])
    # When events older than 30 days are purged, exactly 30 days or 30 days and 1 s later
    fake.advance(age_seconds)
    assert (
        main(["outbox", "purge", "--older-than", "30d", "--outbox", str(outbox_path)], clock=fake.clock) == 0
    )
    # Then it goes only once it is older than 30 days
    assert len(Outbox(outbox_path).entries()) == 1 - purged


def test_outbox_purge_dead_keeps_pending_events(
    scripted: ScriptedServer, outbox_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a pending event and two dead ones
    scripted.script.extend([Reply(503), Reply(422), Reply(409)])
    pending, *_ = queue_events(scripted.url, outbox_path, FakeTime(), [503, 422, 409])
    # When the dead ones are purged
    assert main(["outbox", "purge", "--dead", "--outbox", str(outbox_path)]) == 0
    # Then only the pending one is left
    assert capsys.readouterr().out == "2 event(s) purged\n"
    assert [entry.webhook_id for entry in Outbox(outbox_path).entries()] == [pending]


@pytest.mark.usefixtures("credentials")
def test_outbox_deliver_sends_what_is_due_and_reports_it(
    scripted: ScriptedServer, outbox_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two events due now, Funnel taking one and failing the other
    scripted.script.extend([Reply(503), Reply(503)])
    fake = FakeTime()
    first, second = queue_events(scripted.url, outbox_path, fake, [503, 503])
    fake.advance(60)
    scripted.script.extend([Reply(200), Reply(500)])
    # When the outbox is delivered
    argv = ["outbox", "deliver", "--outbox", str(outbox_path), scripted.url]
    status = main(argv, clock=fake.clock)
    # Then each was tried once, the summary says how it went, and the exit status is 1
    assert json.loads(capsys.readouterr().out) == {"attempted": 2, "delivered": 1, "queued": 1, "dead": 0}
    assert status == 1
    assert scripted.ids()[-2:] == [first, second]
    assert [entry.webhook_id for entry in Outbox(outbox_path).entries()] == [second]
    # And with nothing due, a second run tries nothing and exits 0
    assert main(argv, clock=fake.clock) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["outbox", "list"], "FUNNEL_OUTBOX"),
        (["outbox", "retry", "--outbox", "{path}"], "retry needs"),
        (["outbox", "purge", "--outbox", "{path}"], "purge needs"),
        (["outbox", "purge", "--older-than", "a week", "--outbox", "{path}"], "not an age"),
        (["outbox", "list", "--outbox", "{junk}"], "cannot be used"),
        (["outbox", "deliver", "--outbox", "{path}", "http://127.0.0.1:9/"], "FUNNEL_WEBHOOK_SECRET"),
        (["outbox", "vacuum", "--outbox", "{path}"], "invalid choice"),
    ],
)
def test_outbox_usage_errors_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    # Given no outbox in the environment, no credentials, and a file that is not an outbox
    monkeypatch.delenv("FUNNEL_OUTBOX", raising=False)
    monkeypatch.delenv("FUNNEL_WEBHOOK_SECRET", raising=False)
    junk = tmp_path / "junk"
    junk.write_bytes(b"junk" * 100)
    filled = [arg.format(path=tmp_path / "outbox.sqlite3", junk=junk) for arg in argv]
    # When the command is run, Then it exits 2 saying why
    with pytest.raises(SystemExit) as exit_info:
        main(filled)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
