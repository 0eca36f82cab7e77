"""What the emitter's tests share: a scripted HTTP server on 127.0.0.1, a fake clock, and
valid events. Standard library only, so the emitter's tests run on every Python the
package supports without the project's virtual environment."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ADMIN_KEY = "test-admin-key-7f3a"
START = 1_771_027_200.0  # 2026-02-14T00:00:00Z
SCAN_PAYLOAD: dict[str, Any] = {"jobId": "job-9", "mediaCount": 3, "identitiesDetected": 2, "durationMs": 900}

DROP = "drop"  # close the connection without answering
HANG = "hang"  # answer nothing until the test is over


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: dict[str, Any] | bytes = field(default_factory=lambda: {"ok": True, "eventId": "evt-1"})
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds to take before answering (a slow receiver widens race windows).
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer(ThreadingHTTPServer):
    """Answers each request with the next scripted reply (``default`` once the script is
    used up) and records what it received."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.script: list[Reply | str] = []
        self.default: Reply | str = Reply(599, {"error": "unscripted"})
        self.received: list[Received] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        # Set while a request is being answered, for tests that act mid-request.
        self.answering = threading.Event()
        self.hold = threading.Event()
        self.hold.set()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1/webhooks/description-service"

    def ids(self) -> list[str]:
        """The webhook-id of every request received, in order."""
        with self.lock:
            return [request.headers["webhook-id"] for request in self.received]

    def next_reply(self, received: Received) -> Reply | str:
        with self.lock:
            self.received.append(received)
            return self.script.pop(0) if self.script else self.default


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_POST(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        reply = self.server.next_reply(
            Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        self.server.answering.set()
        self.server.hold.wait(10)
        if reply == HANG:
            self.server.release.wait(10)
        if isinstance(reply, str):
            self.close_connection = True
            return
        if reply.delay:
            self.server.release.wait(reply.delay)
        raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the server quiet; the tests read ``received`` instead."""


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.hold.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


class FakeTime:
    """A clock that only moves when told to, or when something sleeps on it."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def set(self, moment: float) -> None:
        with self._lock:
            self.now = moment
