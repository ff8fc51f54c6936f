"""Cost of one order (pending → confirmed), counted, not guessed, in a separate measurement run.

The API and the worker each reach PostgreSQL through their own counting proxy (bench.pgproxy: round
trips, statements by kind, prepares) and run under bench.instrumented (JSON encodes/decodes by call
site). Redis commands are the server's `INFO commandstats` deltas; WAL bytes the movement of
pg_current_wal_lsn(). The accept path is measured with the worker paused (SIGSTOP), then the worker
resumes and runs the orders; each phase has the background (pollers, timers) of an equally long idle
window subtracted, measured with the worker in the same state.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis

from bench.client import HttpClient
from bench.context import Context
from bench.orders import order_ids, submit, wait_terminal
from bench.pgproxy import PgProxy
from bench.stack import Proc, Stack
from order_engine_embedded import plain_url


async def _json_counts(proc: Proc, path: Path) -> Counter[str]:
    before = path.stat().st_mtime_ns if path.exists() else 0
    os.kill(proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not path.exists() or path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proc.role} did not write its counts")
        await asyncio.sleep(0.02)
    import json

    return Counter(json.loads(path.read_text()))


async def _redis_counts(redis: Redis) -> Counter[str]:
    info = await redis.info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): v["calls"] for k, v in info.items() if k != "cmdstat_info"})


async def _wal(database_url: str) -> int:
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        return int(await conn.fetchval("select pg_current_wal_lsn() - '0/0'::pg_lsn"))
    finally:
        await conn.close()


class _Snap:
    def __init__(self, **parts: Counter[str]) -> None:
        self.parts = parts
        self.at = time.monotonic()

    def __sub__(self, other: _Snap) -> dict[str, Counter[str]]:
        return {k: Counter({n: v - other.parts[k].get(n, 0) for n, v in c.items()}) for k, c in self.parts.items()}


def _per_order(
    delta: dict[str, Counter[str]], idle: dict[str, Counter[str]], ratio: float, n: int
) -> dict[str, dict[str, float]]:
    """(delta − idle × ratio) / n, dropping what rounds to nothing."""
    out: dict[str, dict[str, float]] = {}
    for part, counts in delta.items():
        rows = {}
        for name, value in counts.items():
            v = (value - idle.get(part, Counter()).get(name, 0) * ratio) / n
            if abs(v) >= 0.005:
                rows[name] = round(v, 2)
        out[part] = dict(sorted(rows.items(), key=lambda kv: -kv[1]))
    return out


async def run(ctx: Context) -> dict[str, Any]:
    n = 100 if ctx.quick else 200
    counts_dir = ctx.log_dir / "counts"
    counts_dir.mkdir(parents=True, exist_ok=True)
    api_file, worker_file = counts_dir / "api.json", counts_dir / "worker.json"
    stack = Stack(ctx.backing, "cost", ctx.log_dir, launcher=[sys.executable, "-m", "bench.instrumented"])
    ctx.stacks.append(stack)
    api_proxy = await PgProxy(stack.database_url).start()
    worker_proxy = await PgProxy(stack.database_url).start()
    redis = Redis.from_url(ctx.backing.redis_url)
    try:
        api = await stack.start_api(DATABASE_URL=api_proxy.proxied_url(), BENCH_COUNTS_FILE=api_file)
        worker = await stack.start_worker(DATABASE_URL=worker_proxy.proxied_url(), BENCH_COUNTS_FILE=worker_file)
        client = HttpClient("127.0.0.1", api.port or 0, 16)
        await wait_terminal(stack.database_url, order_ids(await submit([client], 30, 10)), 60)

        async def snap(with_worker: bool, previous: _Snap | None = None) -> _Snap:
            worker_json = (
                await _json_counts(worker, worker_file) if with_worker else Counter(previous.parts["worker json"])  # type: ignore[union-attr]
            )
            return _Snap(
                **{
                    "api sql": Counter(api_proxy.counts),
                    "worker sql": Counter(worker_proxy.counts),
                    "api json": await _json_counts(api, api_file),
                    "worker json": worker_json,
                    "redis": await _redis_counts(redis),
                    "wal": Counter({"bytes": await _wal(stack.database_url)}),
                }
            )

        idle_s = 1.5
        s0 = await snap(True)
        await asyncio.sleep(idle_s)
        s1 = await snap(True)
        stack.pause_workers()
        s2 = await snap(False, s1)
        await asyncio.sleep(idle_s)
        s3 = await snap(False, s1)
        posted = await submit([client], n, concurrency=10)
        s4 = await snap(False, s1)
        stack.resume_workers()
        await wait_terminal(stack.database_url, order_ids(posted), 120, poll_s=0.05)
        s5 = await snap(True)
        await client.close()
    finally:
        stack.stop()
        await redis.aclose()
        await api_proxy.close()
        await worker_proxy.close()

    idle_running, idle_paused = s1 - s0, s3 - s2
    accept = _per_order(s4 - s3, idle_paused, (s4.at - s3.at) / (s3.at - s2.at), n)
    execute = _per_order(s5 - s4, idle_running, (s5.at - s4.at) / (s1.at - s0.at), n)
    result = {
        "orders": n,
        "accept": {k: v for k, v in accept.items() if not k.startswith("worker")},
        "execute": {k: v for k, v in execute.items() if not k.startswith("api")},
        "idle_per_s": {
            k: {name: round(v / (s1.at - s0.at), 1) for name, v in c.items() if v}
            for k, c in idle_running.items()
            if k in ("redis", "worker sql")
        },
    }
    ctx.log(
        f"  cost per order: API {accept['api sql'].get('round_trips', 0):.1f} PG round trips,"
        f" worker {execute['worker sql'].get('round_trips', 0):.1f};"
        f" Redis {sum(accept['redis'].values()):.1f} + {sum(execute['redis'].values()):.1f} commands;"
        f" WAL {accept['wal'].get('bytes', 0) + execute['wal'].get('bytes', 0):.0f} bytes"
    )
    return result
