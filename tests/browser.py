"""What browser tests share: Debian's chromium driven by Playwright, and a small web site
served on 127.0.0.1 for it to visit.

Playwright never downloads a browser here (no ``playwright install``): it launches
``/usr/bin/chromium``, which ``make test`` installs when it is missing. Without it the
tests fail and say what to install; they are never skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Headless Chromium says "HeadlessChrome" in its user agent, which the server counts as a bot
# (counted, never stored); a visitor's browser says "Chrome". Set for the whole browser, not
# per context: a beacon sent as a page unloads leaves with the browser's own user agent.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"
)


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless, with nothing talking to the network on its own, and the
    user agent of a desktop Chrome."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"The browser tests need Debian's chromium at {CHROMIUM}: `make test` installs it when run "
            "as root; otherwise run `sudo apt-get update && sudo apt-get install -y chromium`."
        )
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=[*CHROMIUM_FLAGS, f"--user-agent={DESKTOP_CHROME}"]
    )


def eventually[T](
    read: Callable[[], T], until: Callable[[T], bool], *, page: Page | None = None, timeout: float = 20.0
) -> T:
    """Read until ``until`` holds (beacons are stored a moment after they are sent); fails
    with the last value read once ``timeout`` seconds have passed. With a ``page``, waits
    through it: Playwright's synchronous API handles a page's events (requests, routes)
    only while one of its calls runs."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not there after {timeout} s: {value!r}")
        if page is None:
            time.sleep(0.05)
        else:
            page.wait_for_timeout(50)


@dataclass
class Site:
    """A web site on 127.0.0.1: each path of ``pages`` answers its HTML, and each of
    ``files`` its media type and bytes (the query is ignored)."""

    origin: str
    pages: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            page = site.pages.get(path)
            media_type, body = site.files.get(path) or (
                "text/html; charset=utf-8",
                (page or "<!doctype html><title>Not found</title>").encode(),
            )
            found = page is not None or path in site.files
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def serve_site(pages: Mapping[str, str] | None = None) -> Iterator[Site]:
    """Serve a :class:`Site` on an ephemeral port of 127.0.0.1 until the block ends."""
    site = Site(origin="", pages=dict(pages or {}))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    site.origin = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="test-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
