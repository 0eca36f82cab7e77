"""``python -m funnel_emitter`` against a one-answer HTTP server on 127.0.0.1.

Only answers that are never retried are scripted here: the command line sleeps for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from funnel.signatures import verify
from funnel_emitter.__main__ import main

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
    status = main([server.url, "--event-type", "scan.failed", "--tenant-id", "tenant-7", "--timeout", "3"])
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
