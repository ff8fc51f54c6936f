"""The market loop on real Redis (adapters/market/loop.py): one leader ticks, prices move only with volatility,
a dead leader's lease runs out and another loop takes over, and ticks racing swaps lose no update."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from order_engine.adapters.market.loop import MarketLoop
from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.market.table import default_pools
from order_engine.domain import amm
from order_engine.domain.amm import Pool

TICK_S = 0.1

LoopFactory = Callable[..., MarketLoop]


@pytest.fixture
def prefix(key_prefix: str) -> str:
    return f"{key_prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def store(redis: aioredis.Redis, prefix: str) -> RedisPoolStore:
    store = RedisPoolStore(redis, prefix=prefix)
    assert await store.seed(default_pools(seed="loop")) == 30
    return store


@pytest.fixture
async def make_loop(redis_url: str, prefix: str) -> AsyncIterator[LoopFactory]:
    """Loops on their own Redis clients (as in separate processes); every one is stopped at the end."""
    loops: list[MarketLoop] = []
    clients: list[aioredis.Redis] = []

    def make(volatility_bps: float = 10, *, seed: str | None = "loop", lease_ttl_s: float = 1.5, **kw) -> MarketLoop:
        client = aioredis.Redis.from_url(redis_url)
        clients.append(client)
        kw.setdefault("prefix", prefix)
        loop = MarketLoop(
            RedisPoolStore(client, prefix=kw["prefix"]),
            client,
            seed=seed,
            volatility_bps=volatility_bps,
            tick_s=TICK_S,
            lease_ttl_s=lease_ttl_s,
            **kw,
        )
        loops.append(loop)
        return loop

    yield make
    for loop in loops:
        await loop.stop()
    for client in clients:
        await client.aclose()


def by_key(pools: list[Pool]) -> dict[tuple[str, str, str], Pool]:
    return {(p.venue, p.base, p.quote): p for p in pools}


async def test_two_loops_on_one_lease_tick_once_per_tick(
    store: RedisPoolStore, make_loop: LoopFactory, redis: aioredis.Redis, prefix: str
) -> None:
    a, b = make_loop(), make_loop()
    a.start()
    b.start()
    await asyncio.sleep(1.25)
    await a.stop()
    await b.stop()
    ticks = a.ticks + b.ticks
    assert 0 in (a.ticks, b.ticks), (a.ticks, b.ticks)  # only the lease's holder ticked
    assert 9 <= ticks <= 14, ticks  # ~1.25 s / 0.1 s: once per tick, not twice
    assert int(await redis.get(f"{prefix}:market:tick")) == ticks
    assert {p.version for p in await store.all()} == {ticks}  # each tick moved every pool exactly once


async def test_a_dead_leaders_lease_runs_out_and_another_loop_takes_over(
    store: RedisPoolStore, make_loop: LoopFactory, redis: aioredis.Redis, prefix: str
) -> None:
    # What a killed leader leaves behind: its token on the lease, never renewed again.
    await redis.set(f"{prefix}:market:lease", "dead-leader", nx=True, px=800)
    loop = make_loop(lease_ttl_s=1.5).start()
    await asyncio.sleep(0.5)
    assert loop.ticks == 0 and not loop.lease.held
    await asyncio.sleep(1.0)  # the dead lease ran out at 0.8 s; the loop asks every 0.1 s
    assert loop.ticks >= 3 and loop.lease.held
    assert await redis.get(f"{prefix}:market:lease") != b"dead-leader"

    # A leader that stops (SIGTERM) gives the lease up: the next one ticks at once, not a TTL later.
    successor = make_loop(lease_ttl_s=60).start()
    await asyncio.sleep(0.3)
    assert successor.ticks == 0
    await loop.stop()
    await asyncio.sleep(0.35)
    assert successor.ticks >= 2 and await redis.pttl(f"{prefix}:market:lease") > 50_000


async def test_prices_move_with_volatility_and_not_at_all_without(
    store: RedisPoolStore, make_loop: LoopFactory, redis_url: str, prefix: str, key_prefix: str
) -> None:
    seeded = by_key(await store.all())
    still = make_loop(volatility_bps=0).start()
    await asyncio.sleep(0.6)
    await still.stop()
    assert still.ticks >= 4  # it led and ticked ...
    assert by_key(await store.all()) == seeded  # ... and nothing moved: no flow, no arbitrage, no version bump

    moving = make_loop(volatility_bps=10).start()
    await asyncio.sleep(0.6)
    await moving.stop()
    moved = by_key(await store.all())
    assert moving.ticks >= 4
    for key, pool in moved.items():
        before, after = amm.mid_price(seeded[key], pool.base, pool.quote), amm.mid_price(pool, pool.base, pool.quote)
        assert after != before and pool.version == moving.ticks, key
        assert abs(after / before - 1) < 0.02  # ~10 bps a tick, √ticks of them: far below 2 %


async def test_the_same_seed_and_the_same_trades_give_the_same_market(
    make_loop: LoopFactory, redis: aioredis.Redis, prefix: str
) -> None:
    markets = []
    for name, seed in (("one", "s"), ("two", "s"), ("three", "other")):
        store = RedisPoolStore(redis, prefix=f"{prefix}-{name}")
        await store.seed(default_pools(seed="loop"))
        loop = make_loop(seed=seed, prefix=f"{prefix}-{name}")
        await store.swap("raydium", "SOL", "USDC", 10**9)  # the same trade in between, in the same place
        for _ in range(3):
            await loop.tick()
        markets.append(by_key(await store.all()))
    assert markets[0] == markets[1] != markets[2]


async def test_ticks_racing_swaps_lose_no_update(store: RedisPoolStore, make_loop: LoopFactory, redis_url: str) -> None:
    """Four swappers hammer one pool while the loop ticks: every committed change is one step on the pool it
    found, so the pool's version counts every tick's trade and every swap, none lost or doubled."""
    loop = make_loop(volatility_bps=50).start()
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(4)]

    async def swapper(client: aioredis.Redis) -> list[int]:
        pools = RedisPoolStore(client, prefix=store._prefix)
        versions = []
        n = 0
        while loop.ticks < 6:  # swap for as long as six ticks take
            n += 1
            token_in, token_out, amount = ("SOL", "USDC", 10**9) if n % 2 else ("USDC", "SOL", 150 * 10**6)
            versions.append((await pools.trade("raydium", token_in, token_out, amount)).version)
            await asyncio.sleep(0)
        return versions

    try:
        fills = [v for vs in await asyncio.gather(*(swapper(c) for c in clients)) for v in vs]
    finally:
        for client in clients:
            await client.aclose()
    await loop.stop()
    final = await store.get("raydium", "SOL", "USDC")
    assert loop.ticks >= 6 and len(fills) > 100, (loop.ticks, len(fills))
    assert final.version == loop.ticks + len(fills)  # every tick's trade and every swap: none lost
    assert len(set(fills)) == len(fills)


async def test_a_launch_pool_is_not_traded_by_the_flow_before_its_opening(
    store: RedisPoolStore, make_loop: LoopFactory
) -> None:
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from order_engine.domain.launches import LaunchRequest, launch_pool

    now = datetime.now(UTC)
    later = LaunchRequest(
        "PEPE2", 6, "raydium", "SOL", Decimal("0.000001"), Decimal("50"), opens_at=now + timedelta(hours=1)
    )
    opened = LaunchRequest("PEPE3", 6, "raydium", "SOL", Decimal("0.000001"), Decimal("50"))
    assert await store.seed([launch_pool(r, now=now, fee_bps=30) for r in (later, opened)]) == 2
    moving = make_loop(volatility_bps=10).start()
    await asyncio.sleep(0.6)
    await moving.stop()
    assert moving.ticks >= 4
    assert (await store.get("raydium", "PEPE2", "SOL")).version == 0  # closed: untouched
    assert (await store.get("raydium", "PEPE3", "SOL")).version == moving.ticks  # open: it moves as the others


async def test_the_leader_launches_a_random_token_every_so_often(
    store: RedisPoolStore, make_loop: LoopFactory, redis: aioredis.Redis, prefix: str
) -> None:
    from order_engine.adapters.clock import SystemClock
    from order_engine.adapters.market.registry import RedisTokenRegistry, mint_for
    from order_engine.adapters.market.table import VENUE_FEES_BPS
    from order_engine.domain.tokens import forget_launched
    from order_engine.domain.use_cases.launch_token import LaunchToken

    registry = RedisTokenRegistry(redis, prefix=prefix)
    launch = LaunchToken(registry, store, SystemClock(), lambda s: mint_for(s, prefix), VENUE_FEES_BPS)
    try:
        loop = make_loop(volatility_bps=0, launch=launch, launch_every_s=0.25).start()
        await asyncio.sleep(1.2)
        await loop.stop()
        launched = {k.decode() for k in await redis.hkeys(registry.key)}
        assert 2 <= loop.launches == len(launched) <= 5
        pools = {p.base for p in await store.all() if p.quote == "SOL"}
        assert launched <= pools  # each with its pool
        quiet = make_loop(volatility_bps=0, launch=launch, launch_every_s=0).start()
        await asyncio.sleep(0.5)
        await quiet.stop()
        assert quiet.launches == 0
    finally:
        forget_launched()
