"""Baselines measured in the same run, in this (client) process, on the same PostgreSQL and Redis.

- the bare floor of one order's work with no framework: asyncpg doing what the repository does
  (1 INSERT … RETURNING, then 4 guarded UPDATEs that append to the JSONB history, each its own
  statement), a raw SAQ enqueue and job, and 4 Redis PUBLISHes of a status-sized message;
- its parts on their own (SQL only, PUBLISH only, SAQ enqueue + no-op job);
- (the trivial Litestar route is measured on the API process by the accept scenario.)

All at 50 orders in flight, on uvloop, in one Python process.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis
from saq import Queue, Worker

from bench.context import Context
from order_engine_embedded import plain_url

CONCURRENCY = 50

INSERT = """
INSERT INTO orders (id, order_type, token_in, token_out, amount_in, slippage_bps, status, status_history,
                    attempts, created_at, updated_at)
VALUES ($1, 'market', 'SOL', 'USDC', '1.5', 50, 'pending', $2::jsonb, 0, $3, $3)
RETURNING *
"""
UPDATE = """
UPDATE orders SET status = $1, status_history = status_history || $2::jsonb, updated_at = $3,
                  attempts = greatest(attempts, 1)
WHERE id = $4 AND status = $5 AND jsonb_array_length(status_history) = $6
RETURNING *
"""
_TX = "5" * 88
STEPS: list[tuple[str, dict[str, Any]]] = [  # metadata shaped like the engine's
    (
        "routing",
        {
            "quotes": [
                {"venue": v, "price": "148.7321", "feeRate": "0.003", "amountIn": "1.5", "amountOut": "222.428"}
                for v in ("raydium", "meteora")
            ],
            "unavailable": {},
            "chosen": "meteora",
            "reason": "meteora returns 0.41% more",
            "quoteMs": 0,
            "attemptStartedAt": "2026-01-01T00:00:00Z",
        },
    ),
    (
        "building",
        {
            "dexUsed": "meteora",
            "quotedPrice": "148.7321",
            "expectedAmountOut": "222.428",
            "minAmountOut": "221.315",
            "slippageBps": 50,
            "wrapSol": True,
            "unwrapSol": False,
        },
    ),
    ("submitted", {"txHash": _TX}),
    (
        "confirmed",
        {"txHash": _TX, "executedPrice": "148.70", "amountOut": "222.39", "slot": 280000123, "executionMs": 0},
    ),
]
PREVIOUS = {"routing": "pending", "building": "routing", "submitted": "building", "confirmed": "submitted"}


def _entry(status: str, metadata: dict[str, Any]) -> str:
    return json.dumps([{"status": status, "timestamp": datetime.now(UTC).isoformat(), "metadata": metadata}])


async def _insert(pool: asyncpg.Pool, order_id: uuid.UUID) -> None:
    await pool.fetchrow(INSERT, order_id, _entry("pending", {}), datetime.now(UTC))


async def _transitions(pool: asyncpg.Pool, redis: Redis | None, channel: str, order_id: uuid.UUID) -> None:
    for seq, (status, metadata) in enumerate(STEPS, start=1):
        row = await pool.fetchrow(
            UPDATE, status, _entry(status, metadata), datetime.now(UTC), order_id, PREVIOUS[status], seq
        )
        if row is None:
            raise RuntimeError("guarded update matched no row")
        if redis is not None:
            await redis.publish(f"{channel}:{order_id}", row["status_history"])


async def _in_flight(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run one(i) for i < n with `concurrency` at a time; seconds taken."""
    counter = iter(range(n))

    async def lane() -> None:
        for i in counter:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - started


class _SaqRig:
    """A SAQ queue and a worker in this process; `done` fires after `expect` jobs ran."""

    def __init__(self, redis_url: str, name: str, job: Callable[..., Awaitable[None]]) -> None:
        self.queue = Queue.from_url(redis_url, name=name)
        self.count = 0
        self.expect = 0
        self.done = asyncio.Event()

        async def task(ctx: dict[str, Any], *, order_id: str) -> None:
            await job(order_id)
            self.count += 1
            if self.count >= self.expect:
                self.done.set()

        task.__qualname__ = "execute_order"
        self.worker = Worker(
            self.queue,
            functions=[task],
            concurrency=CONCURRENCY,
            shutdown_grace_period_s=1,
            cancellation_hard_deadline_s=0.2,
        )
        self.runner: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _SaqRig:
        await self.queue.connect()
        self.runner = asyncio.create_task(self.worker.start())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.worker.stop()
        if self.runner:
            self.runner.cancel()
        await self.queue.disconnect()

    async def enqueue(self, order_id: str) -> None:
        # the engine's options (adapters/saq_queue.py)
        await self.queue.enqueue(
            "execute_order",
            key=order_id,
            order_id=order_id,
            retries=3,
            timeout=60,
            ttl=3600,
            retry_delay=0.0,
            retry_backoff=True,
            heartbeat=10,
        )


async def run(ctx: Context) -> dict[str, Any]:
    n = 150 if ctx.quick else 1000
    url, channel = plain_url(ctx.backing.new_database("baselines")), f"{ctx.backing.run_id}-floor:order"
    pool = await asyncpg.create_pool(url, min_size=10, max_size=CONCURRENCY)
    redis = Redis.from_url(ctx.backing.redis_url, max_connections=CONCURRENCY * 2)
    out: dict[str, Any] = {"orders": n, "concurrency": CONCURRENCY}
    try:
        ids = [uuid.uuid4() for _ in range(n)]

        async def sql(i: int) -> None:
            await _insert(pool, ids[i])
            await _transitions(pool, None, channel, ids[i])

        out["sql_only"] = n / await _in_flight(n, CONCURRENCY, sql)

        payload = json.dumps({"type": "status", "metadata": STEPS[3][1], "pad": "x" * 1500}).encode()

        async def publish(i: int) -> None:
            for _ in range(4):
                await redis.publish(f"{channel}:{i}", payload)

        out["publish_only"] = n / await _in_flight(n, CONCURRENCY, publish)

        async def noop(_: str) -> None:
            return None

        async with _SaqRig(ctx.backing.redis_url, f"q-{ctx.backing.run_id}-noop", noop) as rig:
            rig.expect = n
            started = time.perf_counter()
            await _in_flight(n, 32, lambda i: rig.enqueue(f"noop-{i}"))
            await asyncio.wait_for(rig.done.wait(), 120)
            out["saq_noop"] = n / (time.perf_counter() - started)

        floor_ids = [uuid.uuid4() for _ in range(n)]

        async def transitions(order_id: str) -> None:
            await _transitions(pool, redis, channel, uuid.UUID(order_id))

        async with _SaqRig(ctx.backing.redis_url, f"q-{ctx.backing.run_id}-floor", transitions) as rig:
            rig.expect = n

            async def produce(i: int) -> None:
                await _insert(pool, floor_ids[i])
                await rig.enqueue(str(floor_ids[i]))

            started = time.perf_counter()
            await _in_flight(n, 32, produce)
            await asyncio.wait_for(rig.done.wait(), 120)
            out["floor"] = n / (time.perf_counter() - started)
    finally:
        await pool.close()
        await redis.aclose()
    ctx.log(
        f"  baselines: floor {out['floor']:.0f} orders/s (sql only {out['sql_only']:.0f}, 4x publish only"
        f" {out['publish_only']:.0f}, SAQ enqueue+noop {out['saq_noop']:.0f} jobs/s)"
    )
    return out
