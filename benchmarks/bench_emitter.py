"""What the emitter's durable outbox costs a sender, measured against the same sender
without it, in one run.

Two ratios, each of medians over alternating rounds (so every side sees the same machine
noise), against an HTTP server on 127.0.0.1 that answers 200 at once:

- events/s sent one by one by ``send`` with an outbox (the event is written and synced,
  sent, then deleted) divided by the least a sender that loses nothing must do: ``send``
  without an outbox plus one synced INSERT per event. For reference, ``send`` without an
  outbox alone, and events enqueued and delivered by a ``BackgroundSender`` (the request
  handler's path);
- events/s through ``enqueue`` (what a web request waits for) divided by plain synced
  INSERTs/s into a table of the same shape (WAL, ``synchronous=FULL``, one transaction
  each): the cost of the outbox's bookkeeping over the disk's own.

A synced write costs what the disk's fsync costs, far more than a request on the loopback:
on a busy shared machine both move a lot between runs.

    make bench-emitter
    python -m benchmarks.bench_emitter --events 500 --rounds 5
"""

import argparse
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.common import alternate, report
from funnel_emitter import BackgroundSender, Outbox, ScanCompleted, WebhookEmitter

SECRET = "whsec_YmVuY2htYXJrLXNpZ25pbmctc2VjcmV0LTAwMQ=="
ADMIN_KEY = "bench-admin-key"
ANSWER = json.dumps({"ok": True, "eventId": "00000000-0000-0000-0000-000000000000"}).encode()


class _Accept(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: printing would be measured too."""


@contextmanager
def funnel_stand_in() -> Iterator[str]:
    """A server on 127.0.0.1 that accepts every webhook; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/v1/webhooks/description-service"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def events(count: int, round_id: str) -> list[ScanCompleted]:
    return [
        ScanCompleted(
            tenant_id=f"tenant-{i % 50}",
            job_id=f"{round_id}-{i}",
            media_count=20,
            identities_detected=31,
            duration_ms=3200,
        )
        for i in range(count)
    ]


def rate(count: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def emitter(url: str, outbox: Path | None = None) -> WebhookEmitter:
    return WebhookEmitter(url, signing_secret=SECRET, admin_key=ADMIN_KEY, outbox=outbox)


def send_all(url: str, batch: list[ScanCompleted], outbox: Path | None) -> float:
    sender = emitter(url, outbox)

    def work() -> None:
        for event in batch:
            if not sender.send(event).ok:
                raise RuntimeError("the stand-in refused an event")

    return rate(len(batch), work)


def send_and_insert_all(url: str, batch: list[ScanCompleted], path: Path) -> float:
    """``send`` without an outbox, each event also written by one synced INSERT."""
    sender = emitter(url)
    with plain_table(path) as insert:

        def work() -> None:
            for number, event in enumerate(batch):
                insert(f"{path.name}-{number}")
                if not sender.send(event).ok:
                    raise RuntimeError("the stand-in refused an event")

        return rate(len(batch), work)


def background_all(url: str, batch: list[ScanCompleted], outbox: Path) -> float:
    def work() -> None:
        with BackgroundSender(emitter(url, outbox)) as sender:
            for event in batch:
                sender.enqueue(event)
            if not sender.flush(120):
                raise RuntimeError("the background sender did not drain in time")

    result = rate(len(batch), work)
    if Outbox(outbox).entries():
        raise RuntimeError("events were left in the outbox")
    return result


def enqueue_all(url: str, batch: list[ScanCompleted], outbox: Path) -> float:
    queuer = emitter(url, outbox)
    return rate(len(batch), lambda: [queuer.enqueue(event) for event in batch])


@contextmanager
def plain_table(path: Path) -> Iterator[Callable[[str], None]]:
    """A WAL table of outbox-sized rows on one open connection; yields a function that
    INSERTs one row in its own synced transaction (the least a durable write costs)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE plain (id TEXT PRIMARY KEY, body BLOB NOT NULL, at REAL NOT NULL)")

        def insert(key: str) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO plain VALUES (?, ?, ?)", (key, b"x" * 180, time.time()))
            conn.execute("COMMIT")

        yield insert


def plain_inserts(path: Path, count: int) -> float:
    with plain_table(path) as insert:
        return rate(count, lambda: [insert(f"{path.name}-{i}") for i in range(count)])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=500, help="events per round (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = parser.parse_args()

    with funnel_stand_in() as url, tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)

        def fresh(name: str, round_number: int) -> Path:
            return folder / f"{name}-{round_number}.sqlite3"

        send_all(url, events(50, "warmup"), fresh("warmup", 0))
        floor, durable, bare, background = alternate(
            args.rounds,
            lambda n: send_and_insert_all(url, events(args.events, f"floor{n}"), fresh("floor", n)),
            lambda n: send_all(url, events(args.events, f"durable{n}"), fresh("durable", n)),
            lambda n: send_all(url, events(args.events, f"bare{n}"), None),
            lambda n: background_all(url, events(args.events, f"background{n}"), fresh("background", n)),
        )
        inserts, enqueued = alternate(
            args.rounds,
            lambda n: plain_inserts(fresh("plain", n), args.events),
            lambda n: enqueue_all(url, events(args.events, f"enqueue{n}"), fresh("enqueue", n)),
        )
    report(
        "events/s sent by send() with an outbox",
        durable,
        "events/s sent without one, plus one synced INSERT each",
        floor,
        target=0.5,
        references=[
            ("events/s sent by send() without an outbox", bare),
            ("events/s enqueued and delivered by a BackgroundSender", background),
        ],
    )
    print()
    report(
        "events/s through enqueue()",
        enqueued,
        "plain synced SQLite INSERTs/s",
        inserts,
        target=0.5,
    )


if __name__ == "__main__":
    main()
