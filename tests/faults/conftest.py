"""Fault-test fixtures: servers the test owns (so it can take them down) and API + worker stacks on them.

Everything started here is stopped in the fixture's teardown, also when the test fails: the stack's
processes first (so nothing reconnects), then the private servers; the teardown then checks that no
process it started is left running.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from fault_servers import PostgresControl, RedisServer

from order_engine_embedded import EmbeddedServices, create_database, with_database

sys.path.insert(0, str(Path(__file__).parent.parent / "e2e"))
from stack import Stack, cli, stack_env  # noqa: E402  (the end-to-end tests' process runner)

# Fast enough that a run takes seconds, slow enough that orders are in every stage when the fault hits:
# quotes ~20 ms, swaps 0.2-0.3 s, retry backoff 0.2 s / 0.4 s. Stranded orders are looked for every
# second and re-scheduled after 3 s without a change (defaults: 10 s / 90 s).
FAULT_ENV = {
    "ORDER_ENGINE_DEX_LATENCY_SCALE": "0.1",
    "ORDER_ENGINE_WORKER_CONCURRENCY": "20",
    "ORDER_ENGINE_RECOVERY_STALE_AFTER_S": "3",
    "ORDER_ENGINE_RECOVERY_INTERVAL_S": "1",
}

StackFactory = Callable[..., Stack]


def migrate(database_url: str, redis_url: str) -> None:
    """`order-engine migrate`, as an operator runs it."""
    done = subprocess.run(
        cli("migrate"), env=stack_env(database_url, redis_url, "migrate"), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def _gone(pids: list[int], timeout_s: float = 20) -> list[int]:
    """The pids still running (not zombies) after waiting up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis only this test uses, on a port it keeps across kill and restart (AOF, fsync always)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    pid = server.proc.pid if server.proc else 0
    try:
        yield server
    finally:
        server.stop()
        assert not _gone([pid]), f"redis-server {pid} left running"


@pytest.fixture
def private_postgres(embedded_data_dir: Path) -> Iterator[tuple[str, PostgresControl]]:
    """A PostgreSQL only this test uses (pgserver), a migrated database on it, and pg_ctl to stop and start it.

    Private even where the test does not restart it: every row in it belongs to this test, and its load
    (an API and a worker pool) never competes for `max_connections` with the session's other stacks.
    """
    services = EmbeddedServices(embedded_data_dir, persistent=False)
    services.start()
    try:
        create_database(services.database_url, "faults")
        url = with_database(services.database_url, "faults")
        migrate(url, services.redis_url)
        yield url, PostgresControl(services.pgdata, services.database_url)
    finally:
        postmaster = _postmaster_pid(services.pgdata)
        services.stop()
        assert not _gone([postmaster] if postmaster else []), f"postgres {postmaster} left running"


@pytest.fixture
def fault_stack(tmp_path: Path, key_prefix: str) -> Iterator[StackFactory]:
    """Starts `order-engine api` + `worker` on the given servers; stops them (and checks they are gone)."""
    stacks: list[Stack] = []

    def start(name: str, database_url: str, redis_url: str, **env: str) -> Stack:
        prefix = f"{key_prefix}-{name}-{secrets.token_hex(3)}"
        stack = Stack(
            name=name,
            env=stack_env(database_url, redis_url, prefix, **{**FAULT_ENV, **env}),
            log_dir=tmp_path,
        )
        stacks.append(stack)
        return stack.start()

    try:
        yield start
    finally:
        pids = [proc.pid for stack in stacks for proc in stack.procs.values()]
        for stack in stacks:
            stack.stop()
        assert not _gone(pids), f"stack processes left running: {_gone(pids, 0)}"
