"""Scenario: sniper orders on token launches, on their own lane, while market orders wait behind an exhausted
start-rate limit.

One API, one worker (both lanes), one watcher; the start-rate limit on (100 orders a minute) and 1,000 market
orders POSTed first, so the market lane is saturated for minutes. Then `launches` launches: before each, a set
of snipers waits for a new token; the launch (`POST /api/sim/launches`) → the first of them in `routing`
(the entries' own timestamps). The first launch has `big` snipers (1,000; quick 100), and how long all of them
take to reach a terminal status is measured too.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from bench.client import HttpClient, closed_loop, summary_ms
from bench.context import Context
from bench.orders import first_entry_times, post_json, post_order
from bench.scenarios.resting import _indexed
from bench.stack import Stack
from order_engine_embedded import plain_url


def _sniper(token: str) -> bytes:
    return json.dumps(
        {
            "orderType": "sniper",
            "tokenIn": "SOL",
            "tokenOut": token,
            "amountIn": "0.01",
            "slippageBps": 5000,
            "trigger": {"event": "pool_created", "venue": "any", "minLiquidity": "1"},
        }
    ).encode()


def _launch(token: str) -> bytes:
    return json.dumps(
        {"symbol": token, "venue": "raydium", "quoteToken": "SOL", "initialPrice": "0.000001", "liquidity": "1000"}
    ).encode()


async def run(ctx: Context) -> dict[str, Any]:
    launches, big, small = (5, 100, 20) if ctx.quick else (20, 1_000, 50)
    stack = Stack(ctx.backing, "snipers", ctx.log_dir, ORDER_ENGINE_SIM_API="true", ORDER_ENGINE_RATE_LIMIT=100)
    ctx.stacks.append(stack)
    redis = aioredis.Redis.from_url(ctx.backing.redis_url)
    conn = await asyncpg.connect(plain_url(stack.database_url))
    out: dict[str, Any] = {"launches": launches, "big": big, "per_launch": small, "backlog": 1000}
    try:
        api = await stack.start_api()
        await stack.start_worker()
        await stack.start_watcher()
        client = HttpClient("127.0.0.1", api.port or 0, max_connections=64)
        raw = post_order(client)
        backlog = await closed_loop(client, lambda i: raw, 32, count=1000, keep_body=True)
        if len(backlog.ok) != 1000:
            raise RuntimeError("the market backlog was not accepted")
        first_routing_ms: list[float] = []
        first_triggered_ms: list[float] = []
        for i in range(launches):
            token = f"S{i}{secrets.token_hex(2).upper()}"
            ids = [o["orderId"] for o in await post_json(client, [_sniper(token)] * (big if i == 0 else small))]
            await _indexed(redis, stack, conn)
            at = time.time()
            await post_json(client, [_launch(token)], "/api/sim/launches")
            deadline = time.monotonic() + 30
            while not (routed := await first_entry_times(conn, ids, "routing")) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if routed:
                first_routing_ms.append((routed[0] - at) * 1000)
                first_triggered_ms.append(((await first_entry_times(conn, ids, "triggered"))[0] - at) * 1000)
            # Each launch's snipers end before the next launch, so that every launch finds its lane idle.
            deadline = time.monotonic() + 120
            done: list[float] = []
            while time.monotonic() < deadline:
                done = [t for s in ("confirmed", "failed") for t in await first_entry_times(conn, ids, s)]
                if len(done) == len(ids):
                    break
                await asyncio.sleep(0.2)
            if i == 0:
                statuses = dict(
                    await conn.fetch("select status, count(*) from orders where id = any($1::uuid[]) group by 1", ids)
                )
                out["big_launch"] = {
                    "snipers": len(ids),
                    "terminal": len(done),
                    "statuses": statuses,
                    "all_terminal_s": (max(done) - at) if done else None,
                }
                ctx.log(
                    f"  launch of {len(ids)} snipers: {statuses}, all terminal in {max(done, default=at) - at:.2f} s"
                )
        market_done = await conn.fetchval(
            "select count(*) from orders where order_type = 'market' and status in ('confirmed', 'failed')"
        )
        out["market_backlog_done_during"] = market_done
        out["launch_to_first_routing_ms"] = summary_ms(first_routing_ms)
        out["launch_to_first_routing_each_ms"] = [round(x, 1) for x in first_routing_ms]
        out["launch_to_first_triggered_ms"] = summary_ms(first_triggered_ms)
        s = out["launch_to_first_routing_ms"]
        ctx.log(
            f"  launch → first routing over {len(first_routing_ms)} launches: p50 {s['p50']:.1f} ms max {s['max']:.1f} ms"
        )
        await client.close()
    finally:
        await conn.close()
        await redis.aclose()
        stack.stop()
    return out
