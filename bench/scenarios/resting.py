"""Scenario: resting limit orders and the trigger watcher.

One API, one worker and one watcher; the market is steered straight through the pools (as the sim API does).
- **crossing**: N resting limits over 5 pairs (N = 10,000; quick 1,000); one move crosses a tenth of them →
  time from the move to the last `triggered` entry, and how many triggered.
- **single**: one limit just above the market among the N, a move across it → move-to-`triggered` latency,
  repeated (p50/p99).
- **uneventful**: pool changes that cross nothing → the watcher's CPU per change (the scheduler's run time, net of
  an idle window as long; once the POSTs are past the watcher's reconcile look-back).
- **memory**: the watcher's RSS growth per resting order.
- **expiry**: M GTD orders (M = 10,000; quick 1,000) expiring in the same second → time from that second to
  the last `expired` entry.
- **rebuild** (full only): 100,000 resting rows inserted into PostgreSQL, then a watcher started → its rebuild
  time (from its log) and RSS.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import redis.asyncio as aioredis

from bench.client import HttpClient, summary_ms
from bench.context import Context
from bench.orders import first_entry_times, post_json
from bench.stack import CpuMeter, Stack, process_groups
from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.sql.mapping import COLUMNS
from order_engine.app.watcher.service import RECONCILE_MARGIN_S, RECONCILE_S
from order_engine.domain import amm
from order_engine.domain.amm import Pool
from order_engine_embedded import plain_url

# (base, quote, amount of base per order): the orders sell the base, so a rising price crosses them.
PAIRS = [
    ("SOL", "USDC", "0.01"),
    ("SOL", "USDT", "0.01"),
    ("JUP", "USDC", "1"),
    ("RAY", "USDC", "1"),
    ("BONK", "SOL", "100000"),
]
VENUES = ("meteora", "raydium")
LOOK_BACK_S = RECONCILE_MARGIN_S + 2 * RECONCILE_S  # a POST this old is no longer re-read by the reconciles


def _best_effective(pools: list[Pool], base: str, amount: Decimal) -> Decimal:
    return max(amm.quote(p, base, amount).effective_price for p in pools)


class Market:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.store = RedisPoolStore(redis, prefix=prefix)

    async def pools(self, base: str, quote: str) -> list[Pool]:
        return [p for v in VENUES if (p := await self.store.get(v, base, quote)) is not None]

    async def move(self, base: str, quote: str, bps: float) -> float:
        """Every venue's mid × (1 + bps/10 000); returns the wall time just before the first write."""

        def change(pool: Pool) -> tuple[Pool, None]:
            step = amm.trade_to_price(pool, amm.mid_price(pool, base, quote) * (1 + Decimal(bps) / 10_000))
            return (pool if step is None else amm.swapped(pool, *step)[0]), None

        at = time.time()
        for venue in VENUES:
            await self.store.update(venue, base, quote, change)
        return at


def _body(base: str, quote: str, amount: str, limit: Decimal, **extra: Any) -> bytes:
    return json.dumps(
        {"orderType": "limit", "tokenIn": base, "tokenOut": quote, "amountIn": amount, "limitPrice": f"{limit:f}"}
        | extra
    ).encode()


async def _post_all(client: HttpClient, bodies: list[bytes]) -> list[str]:
    return [o["orderId"] for o in await post_json(client, bodies)]


async def _indexed(redis: aioredis.Redis, stack: Stack, conn: asyncpg.Connection, timeout_s: float = 60) -> int:
    """Until the active watcher holds every order PostgreSQL has waiting, by a status it wrote after this call
    began (it refreshes it every second: an older one could match by chance); returns that number."""
    since = time.time()
    deadline = time.monotonic() + timeout_s
    while True:
        waiting = await conn.fetchval("select count(*) from orders where status = 'waiting'")
        status = {k.decode(): v.decode() for k, v in (await redis.hgetall(f"{stack.prefix}:watcher:status")).items()}
        fresh = status and datetime.fromisoformat(status["at"]).timestamp() > since
        if fresh and int(status["resting"]) == waiting:
            return int(waiting)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the watcher reports {status.get('resting')!r} resting orders, PostgreSQL {waiting}")
        await asyncio.sleep(0.1)


async def _wait_count(conn: asyncpg.Connection, ids: list[str], status: str, n: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        got = len(await first_entry_times(conn, ids, status))
        if got >= n or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.05)


async def run(ctx: Context) -> dict[str, Any]:
    n, m, reps, quiet = (1_000, 1_000, 5, 50) if ctx.quick else (10_000, 10_000, 20, 200)
    stack = Stack(
        ctx.backing, "resting", ctx.log_dir, ORDER_ENGINE_DEX_DRIFT_BPS=0, ORDER_ENGINE_MARKET_DEPTH_SCALE=100
    )
    ctx.stacks.append(stack)
    redis = aioredis.Redis.from_url(ctx.backing.redis_url)
    conn = await asyncpg.connect(plain_url(stack.database_url))
    out: dict[str, Any] = {"resting": n, "expiring": m}
    try:
        api = await stack.start_api()
        await stack.start_worker(ORDER_ENGINE_WORKER_CONCURRENCY=50)
        watcher = await stack.start_watcher()
        client = HttpClient("127.0.0.1", api.port or 0, max_connections=64)
        market = Market(redis, stack.prefix)
        rss0 = watcher.ps().memory_info().rss

        # N resting: per pair N/5; on SOL/USDC half of them 0.2-0.8 % above the market (the move crosses them)
        # and everywhere else 5-10 % above (nothing crosses them).
        bodies, crossing = [], 0
        per_pair = n // len(PAIRS)
        for base, quote, amount in PAIRS:
            best = _best_effective(await market.pools(base, quote), base, Decimal(amount))
            for i in range(per_pair):
                near = base == "SOL" and quote == "USDC" and i < per_pair // 2
                crossing += near
                pct = (
                    Decimal("0.002") + Decimal("0.006") * i / per_pair
                    if near
                    else Decimal("0.05") + Decimal("0.05") * i / per_pair
                )
                bodies.append(_body(base, quote, amount, (best * (1 + pct)).quantize(Decimal("1e-12"))))
        started = time.monotonic()
        ids = await _post_all(client, bodies)
        posted_at = time.monotonic()
        out["post_rps"] = len(ids) / (time.monotonic() - started)
        # One row per accepted POST, or something wrote an order twice (or wrote one nobody asked for).
        out["rows_after_posts"] = await conn.fetchval("select count(*) from orders")
        if out["rows_after_posts"] != len(set(ids)):
            ctx.log(f"  WARNING: {out['rows_after_posts']} orders in PostgreSQL for {len(set(ids))} accepted POSTs")
        n = await _indexed(redis, stack, conn)
        out["rss_per_order_bytes"] = (watcher.ps().memory_info().rss - rss0) / n
        ctx.log(f"  {n} resting (POST {out['post_rps']:.0f}/s); watcher RSS +{out['rss_per_order_bytes']:.0f} B/order")

        # One move crossing `crossing` of the N.
        at = await market.move("SOL", "USDC", 150)
        got = await _wait_count(conn, ids, "triggered", crossing, timeout_s=60)
        times = await first_entry_times(conn, ids, "triggered")
        out["crossing"] = {"crossed": crossing, "triggered": got, "last_s": max(times) - at if times else None}
        ctx.log(f"  one move crossing {crossing}: {got} triggered, the last {out['crossing']['last_s']:.3f} s after")

        # A single crossing order among the N (on JUP/USDC), `reps` times.
        lat = []
        for _ in range(reps):
            best = _best_effective(await market.pools("JUP", "USDC"), "JUP", Decimal("1"))
            (one,) = await _post_all(
                client, [_body("JUP", "USDC", "1", (best * Decimal("1.003")).quantize(Decimal("1e-9")))]
            )
            await _indexed(redis, stack, conn)  # the one just posted is indexed
            moved = await market.move("JUP", "USDC", 60)
            if await _wait_count(conn, [one], "triggered", 1, timeout_s=10) == 1:
                lat.append(((await first_entry_times(conn, [one], "triggered"))[0] - moved) * 1000)
            await market.move("JUP", "USDC", -60)
            await asyncio.sleep(0.2)
        out["single"] = {"repeats": reps, "triggered": len(lat), "move_to_triggered_ms": summary_ms(lat)}
        ctx.log(
            f"  single crossing: p50 {out['single']['move_to_triggered_ms']['p50']:.1f} ms p99 {out['single']['move_to_triggered_ms']['p99']:.1f} ms"
        )

        # Uneventful pool changes: JUP/USDC ±1 bps, crossing nothing (its limits are ≥ 5 % away). Only once the N
        # POSTs are older than the watcher's reconcile look-back: until then every reconcile (each RECONCILE_S)
        # re-reads all N, a burst that, in a window of a few seconds, outweighs the changes and falls in it or not.
        await asyncio.sleep(max(0.0, posted_at + LOOK_BACK_S - time.monotonic()))
        out["uneventful"] = await _uneventful(stack, market, quiet)
        ctx.log(f"  uneventful change: watcher {out['uneventful']['watcher_cpu_ms_per_change']:.3f} ms CPU each")

        # M GTD orders expiring in the same second.
        lead_s = 8 if ctx.quick else 35
        expires = (datetime.now(UTC) + timedelta(seconds=lead_s)).replace(microsecond=0)
        stamp = expires.isoformat().replace("+00:00", "Z")
        best = _best_effective(await market.pools("RAY", "USDC"), "RAY", Decimal("1"))
        far = (best * Decimal("1.2")).quantize(Decimal("1e-9"))
        expiring = await _post_all(client, [_body("RAY", "USDC", "1", far, timeInForce="GTD", expiresAt=stamp)] * m)
        got = await _wait_count(conn, expiring, "expired", m, timeout_s=lead_s + 30)
        times = await first_entry_times(conn, expiring, "expired")
        out["expiry"] = {"orders": m, "expired": got, "last_s": max(times) - expires.timestamp() if times else None}
        ctx.log(f"  {m} expiring in one second: {got} expired, the last {out['expiry']['last_s']:.3f} s after")

        if not ctx.quick:
            out["rebuild"] = await _rebuild(ctx, stack, conn, ids[-1], 100_000)
            ctx.log(f"  rebuild of {out['rebuild']['resting']}: {out['rebuild']['rebuild_ms']:.0f} ms")
        await client.close()
    finally:
        await conn.close()
        await redis.aclose()
        stack.stop()
    return out


async def uneventful_moves(market: Market, n: int, *, pace_s: float) -> None:
    """`n` moves of JUP/USDC by +1 and −1 bps in turn, `pace_s` apart: they cross nothing (its limits are ≥ 5 %
    away) and leave the market where it was."""
    for i in range(n):
        await market.move("JUP", "USDC", 1 if i % 2 == 0 else -1)
        await asyncio.sleep(pace_s)


def _cpu_s(pid: int) -> float:
    """A process's CPU time to the nanosecond (the scheduler's per-thread run time, summed), where psutil's is in
    10 ms ticks: a few hundred changes at a fraction of a millisecond each are a handful of ticks."""
    try:
        return sum(int(f.read_text().split()[0]) for f in Path(f"/proc/{pid}/task").glob("*/schedstat")) / 1e9
    except (OSError, ValueError, IndexError):
        return float(sum(psutil.Process(pid).cpu_times()[:2]))


async def _uneventful(stack: Stack, market: Market, changes: int) -> dict[str, Any]:
    """The watcher's CPU per pool change that crosses nothing: `changes` moves (one change per venue each) in a
    window, net of its CPU over a window as long with nothing happening (lease renewals, status, stream reads,
    reconciles) right after it."""
    pid = stack.watchers[0].pid
    meter = CpuMeter(process_groups(stack.backing, [stack])).start()  # the machine: what else ran meanwhile
    t0, cpu0 = time.monotonic(), _cpu_s(pid)
    await uneventful_moves(market, changes, pace_s=0.01)
    await asyncio.sleep(0.5)
    window, busy = time.monotonic() - t0, _cpu_s(pid) - cpu0
    cpu = meter.stop()
    t1, cpu1 = time.monotonic(), _cpu_s(pid)
    await asyncio.sleep(window)
    idle = (_cpu_s(pid) - cpu1) * window / (time.monotonic() - t1)
    return {
        "changes": changes * len(VENUES),
        "watcher_cpu_ms_per_change": (busy - idle) * 1000 / (changes * len(VENUES)),
        "idle_cpu_ms_per_s": idle * 1000 / window,
        "cpu_pct": cpu,
    }


async def _rebuild(ctx: Context, stack: Stack, conn: asyncpg.Connection, template: str, count: int) -> dict[str, Any]:
    """`count` copies of one resting row, then a fresh watcher: how long its rebuild takes, and its RSS."""
    copied = ", ".join(c for c in COLUMNS if c not in ("id", "idempotency_key"))
    await conn.execute(
        f"insert into orders (id, {copied}) select gen_random_uuid(), {copied}"
        " from orders, generate_series(1, $2) where id = $1::uuid",
        template,
        count,
    )
    resting = await conn.fetchval("select count(*) from orders where status = 'waiting'")
    for w in stack.watchers:
        w.popen.kill()
        w.popen.wait()
    stack.watchers.clear()
    await asyncio.sleep(3.5)  # the dead watcher's lease runs out
    watcher = await stack.start_watcher(ORDER_ENGINE_LOG_LEVEL="INFO")  # its rebuild line is an INFO one
    rebuild_ms = None
    for line in (stack.log_dir / f"{stack.name}-{watcher.role}.log").read_text().splitlines():
        if "rebuilt from PostgreSQL" in line:
            rebuild_ms = json.loads(line)["rebuild_ms"]
    return {"resting": resting, "rebuild_ms": rebuild_ms, "rss_mb": watcher.ps().memory_info().rss / 2**20}
