"""The test databases and Redis answer, and the embedded servers never outlive their owner."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis
import redis.asyncio as aioredis

from order_engine_embedded import EmbeddedServices, create_database, drop_database, with_database


async def test_database_url_is_a_fresh_database(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("select 1") == 1
        assert (await conn.fetchval("select current_database()")).startswith("oe_test_")
    finally:
        await conn.close()


async def test_redis_url_answers(redis_url: str, key_prefix: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        assert await client.ping() is True
        await client.set(f"{key_prefix}:probe", "ok")
        assert await client.get(f"{key_prefix}:probe") == b"ok"
    finally:
        await client.aclose()


def _server_processes(postgres_pid: int, redis_pid: int) -> list[psutil.Process]:
    postmaster = psutil.Process(postgres_pid)
    return [postmaster, *postmaster.children(), psutil.Process(redis_pid)]


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE  # init may reap an exited orphan late
    except psutil.NoSuchProcess:
        return False


def _assert_all_gone(procs: list[psutil.Process], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while alive := [p for p in procs if _running(p)]:
        assert time.monotonic() < deadline, f"left running: {alive}"
        time.sleep(0.05)


async def _fetch(url: str, query: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def test_start_stop_leaves_no_process(embedded_data_dir: Path) -> None:
    services = EmbeddedServices(embedded_data_dir, persistent=False)
    await asyncio.to_thread(services.start)
    try:
        assert services.database_url.startswith("postgresql://")
        assert await _fetch(services.database_url, "select 1") == 1
        assert redis.Redis.from_url(services.redis_url).ping()
        procs = _server_processes(services.postgres_pid, services.redis_pid)
        assert {p.name() for p in procs} == {"postgres", "redis-server"}
    finally:
        await asyncio.to_thread(services.stop)
    _assert_all_gone(procs)
    assert services.database_url == services.redis_url == ""


async def test_restart_keeps_data_despite_stale_pidfile(embedded_data_dir: Path) -> None:
    first = EmbeddedServices(embedded_data_dir, persistent=True)
    await asyncio.to_thread(first.start)
    try:
        await _fetch(first.database_url, "create table kept as select 42 as x")
        redis.Redis.from_url(first.redis_url).set("kept", "queued-job")
    finally:
        await asyncio.to_thread(first.stop)
    # A crash leaves postmaster.pid behind, its pid possibly reused by an unrelated process.
    pidfile = first.pgdata / "postmaster.pid"
    pidfile.write_text(f"{os.getpid()}\n{first.pgdata}\n0\n5432\n{first.pgdata}\n\n0 0\nready\n")

    second = EmbeddedServices(embedded_data_dir, persistent=True)
    await asyncio.to_thread(second.start)
    try:
        assert await _fetch(second.database_url, "select x from kept") == 42
        assert redis.Redis.from_url(second.redis_url).get("kept") == b"queued-job"
        # create_database is idempotent (dev runs call it on every start); drop_database too.
        assert create_database(second.database_url, "app") is True
        assert create_database(second.database_url, "app") is False
        assert await _fetch(with_database(second.database_url, "app"), "select current_database()") == "app"
        drop_database(second.database_url, "app")
        drop_database(second.database_url, "app")
        assert await _fetch(second.database_url, "select count(*) from pg_database where datname = 'app'") == 0
    finally:
        await asyncio.to_thread(second.stop)


def test_taken_data_dir_or_port_fails_cleanly(embedded_data_dir: Path) -> None:
    with EmbeddedServices(embedded_data_dir / "a", persistent=False) as services:
        with pytest.raises(RuntimeError, match="in use"):
            EmbeddedServices(embedded_data_dir / "a").start()
        taken = int(services.redis_url.rsplit(":", 1)[1].split("/")[0])
        other = EmbeddedServices(embedded_data_dir / "b", persistent=False, redis_port=taken)
        with pytest.raises(RuntimeError, match="did not start"):
            other.start()
        assert other.postgres_pid is None and not (other.pgdata / "postmaster.pid").exists()
        assert redis.Redis.from_url(services.redis_url).ping()  # the failed starts touched nothing


_OWNER = """
import sys, time
from pathlib import Path
from order_engine_embedded import EmbeddedServices, create_database, drop_database, with_database
with EmbeddedServices(Path(sys.argv[1]), persistent=True) as s:
    print("READY", s.postgres_pid, s.redis_pid, flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_owner_killed_leaves_no_process(embedded_data_dir: Path, sig: signal.Signals) -> None:
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, str(embedded_data_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        for line in owner.stdout:
            if line.startswith("READY"):
                break
        else:
            pytest.fail("the owner process exited before its servers were up")
        pg_pid, redis_pid = map(int, line.split()[1:])
        procs = _server_processes(pg_pid, redis_pid)
        owner.send_signal(sig)
        owner.wait(30)
        _assert_all_gone(procs)
    finally:
        owner.kill()
        owner.wait()
