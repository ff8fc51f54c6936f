"""Redis comes back empty (killed, its data gone) under a running stack: the market comes back as it was.

The worker's market loop snapshots every changed pool to PostgreSQL each tick. After the restart its lease is
gone too; the first worker to take it again finds the pools missing and seeds them from the snapshot, so the
prices are those from before the crash, not the starting table's; a worker started afterwards overwrites
nothing; and orders execute against the restored pools.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from fault_servers import PostgresControl, RedisServer
from stack import Stack

from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.market.table import default_pools
from order_engine.domain import amm
from order_engine.domain.money import dec_str

pytestmark = pytest.mark.faults

RESTORE_BOUND_S = 10.0  # Redis back → prices back: the lease (3 s TTL, gone with the data) is taken on the next
# wake-up (≤ 1 s), whose tick restores; plus the workers' reconnect backoff and a loaded machine
SOL, USDC = 10**9, 10**6


async def prices(client: httpx.AsyncClient) -> dict[tuple[str, str], str]:
    answer = await client.get("/api/market/prices")
    answer.raise_for_status()
    return {(p["pair"], p["venue"]): p["price"] for p in answer.json()["prices"]}


async def snapshot_versions(database_url: str, prefix: str) -> dict[tuple[str, str, str], int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT venue, base, quote, version FROM market_pools WHERE key_prefix = $1", prefix)
    finally:
        await conn.close()
    return {(r["venue"], r["base"], r["quote"]): r["version"] for r in rows}


async def test_prices_after_redis_comes_back_empty_are_those_before_it_died(
    private_redis: RedisServer, private_postgres: tuple[str, PostgresControl], fault_stack: Callable[..., Stack]
) -> None:
    database_url, _ = private_postgres
    stack = fault_stack("market-restart", database_url, private_redis.url)
    redis = aioredis.Redis.from_url(private_redis.url)
    try:
        store = RedisPoolStore(redis, prefix=stack.key_prefix)
        # Other traders move a few pools far from the table (the stack's market has no flow: volatility 0).
        await store.swap("raydium", "SOL", "USDC", 2_000 * SOL)
        await store.swap("meteora", "USDC", "SOL", 400_000 * USDC)
        await store.swap("raydium", "BONK", "USDC", 10**5 * 10**9)
        pools = {(p.venue, p.base, p.quote): p.version for p in await store.all()}
        deadline = time.monotonic() + 10
        while await snapshot_versions(database_url, stack.key_prefix) != pools:  # the next tick's snapshot
            assert time.monotonic() < deadline, "the market was never snapshotted"
            await asyncio.sleep(0.1)
    finally:
        await redis.aclose()

    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        before = await prices(client)
        table = {
            (f"{p.base}/{p.quote}", p.venue): dec_str(amm.mid_price(p, p.base, p.quote))
            for p in default_pools(seed=stack.env["ORDER_ENGINE_DEX_SEED"])
        }
        assert len(before) == 30 and sum(before[k] != table[k] for k in table) == 3

        private_redis.kill()
        private_redis.forget()
        private_redis.start()
        back = time.monotonic()
        after: dict[tuple[str, str], str] = {}
        while len(after) < 30:
            assert time.monotonic() - back < RESTORE_BOUND_S, f"market not restored: {len(after)} pools"
            await asyncio.sleep(0.2)
            try:
                after = await prices(client)
            except httpx.HTTPError:
                pass  # the API's connections come back first
        restored_s = time.monotonic() - back
        assert after == before, restored_s  # the snapshot's prices, to the last digit: not the table's

        stack.kill("worker0")  # a worker starting now seeds too: it must overwrite nothing
        stack.add_worker("worker1")
        order = await client.post(
            "/api/orders/execute", json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "slippageBps": 100}
        )
        assert order.status_code == 201, order.text
        deadline = time.monotonic() + 30
        while (status := (await client.get(f"/api/orders/{order.json()['orderId']}")).json()["status"]) not in (
            "confirmed",
            "failed",
        ):
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.2)
        assert status == "confirmed"
        final = await prices(client)
        moved = [k for k in before if final[k] != before[k]]
        assert len(moved) == 1 and moved[0][0] == "SOL/USDC", moved  # only the order's pool moved
    print({"restored_s": round(restored_s, 2), "logs": str(stack.log_dir)})
