"""The project's local commands run as a developer runs them: ``python -m funnel_local ...``
in a process of its own, on a data directory of the test's, with no ``DATABASE_URL``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.conftest import REPO

# Generous: the machine is shared, and a first start runs initdb and every migration.
START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 30
_SERVING = re.compile(r"is serving \S+ at (http://127\.0\.0\.1:\d+)")


def local_environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without ``DATABASE_URL``, with ``FUNNEL_PGDATA`` set to ``data_dir``."""
    environment = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    environment.update({"FUNNEL_PGDATA": str(data_dir), "PYTHONUNBUFFERED": "1", **extra})
    return environment


def server_processes(data_dir: Path) -> list[psutil.Process]:
    """Every PostgreSQL postmaster whose command line names ``data_dir`` (``-D <dir>``)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if (process.info["name"] or "").startswith("postgres") and str(data_dir) in cmdline:
            found.append(process)
    return found


def server_log(data_dir: Path) -> str:
    """The embedded server's own log (``<data dir>/log``)."""
    return (data_dir / "log").read_text(encoding="utf-8", errors="replace")


def stop_leftovers(data_dir: Path) -> None:
    """After a failed test: end any server still running on ``data_dir``."""
    for process in server_processes(data_dir):
        process.terminate()
        try:
            process.wait(10)
        except psutil.TimeoutExpired:
            process.kill()


@contextmanager
def scratch_data_dir(prefix: str) -> Iterator[Path]:
    """A data directory path (not yet created) in a temporary folder, removed afterwards
    with any server left on it.

    Not under pytest's ``tmp_path``: as root the server runs as another user, who must be
    able to reach the directory, and every pytest session on the machine makes its
    ``/tmp/pytest-of-<user>`` private again when it starts.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        directory = Path(scratch) / "pgdata"
        try:
            yield directory
        finally:
            stop_leftovers(directory)


def run_command(data_dir: Path, *arguments: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m funnel_local <arguments>`` to its end and return what it wrote."""
    return subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [sys.executable, "-m", "funnel_local", *arguments],
        cwd=REPO,
        env=local_environment(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_SECONDS,
        check=False,
    )


@dataclass
class LocalServe:
    """``python -m funnel_local serve --port 0`` (what ``make run`` starts), in a session of
    its own: a terminal's Ctrl-C reaches its whole process group, which :meth:`ctrl_c` does."""

    data_dir: Path
    log_path: Path
    arguments: tuple[str, ...] = ()
    extra_environment: dict[str, str] = field(default_factory=dict)
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalServe:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                [sys.executable, "-m", "funnel_local", "serve", "--port", "0", *self.arguments],
                cwd=REPO,
                env=local_environment(self.data_dir, **self.extra_environment),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            found = _SERVING.search(self.log())
            if found:
                self.url = found.group(1)
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.2)
        raise AssertionError(f"serve did not start in {START_TIMEOUT_SECONDS} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(f"{self.url}{path}", headers=headers or {})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def ctrl_c(self) -> None:
        """SIGINT to the process group, as a terminal sends it on Ctrl-C."""
        os.killpg(self.pid, signal.SIGINT)

    def send(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait(STOP_TIMEOUT_SECONDS)

    def kill(self) -> None:
        """End it, its workers included, if it still runs (cleanup after a failure)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait()
