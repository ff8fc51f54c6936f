"""Pools in Redis (adapters/market/pools.py): seeded once, read back exactly, and never a lost update."""

from __future__ import annotations

import asyncio
import random
import uuid
from decimal import Decimal

import attrs
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from order_engine.adapters.market.pools import (
    MAX_TRIES,
    InsufficientOutput,
    PoolContention,
    PoolNotFound,
    RedisPoolStore,
)
from order_engine.domain import amm
from order_engine.domain.amm import Pool
from order_engine.domain.errors import SlippageExceeded

SOL_UNITS = 10**9
USDC_UNITS = 10**6


def sol_usdc(venue: str = "raydium", *, sol: int = 10_000, usdc: int = 1_500_000, fee_bps: int = 30) -> Pool:
    return Pool(
        venue=venue,
        base="SOL",
        quote="USDC",
        base_reserve=sol * SOL_UNITS,  # 10^13 units
        quote_reserve=usdc * USDC_UNITS,  # 1.5 x 10^12 units
        base_decimals=9,
        quote_decimals=6,
        fee_bps=fee_bps,
        version=0,
    )


@pytest.fixture
def prefix(key_prefix: str) -> str:
    return f"{key_prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def store(redis: aioredis.Redis, prefix: str) -> RedisPoolStore:
    return RedisPoolStore(redis, prefix=prefix)


async def test_seed_creates_once_and_never_overwrites(store: RedisPoolStore, redis: aioredis.Redis, prefix: str):
    raydium, meteora = sol_usdc("raydium"), sol_usdc("meteora", fee_bps=20)
    assert await store.seed([raydium, meteora]) == 2
    assert await store.swap("raydium", "SOL", "USDC", SOL_UNITS) == 149_535_091  # the pool has moved since

    moved = await store.get("raydium", "SOL", "USDC")
    assert moved == Pool("raydium", "SOL", "USDC", 10_001_000_000_000, 1_499_850_464_909, 9, 6, 30, 1)
    other_prices = [sol_usdc("raydium", sol=1, usdc=1), sol_usdc("meteora", sol=5, usdc=7, fee_bps=1)]
    assert await store.seed(other_prices) == 0
    assert await store.get("raydium", "SOL", "USDC") == moved
    assert await store.get("meteora", "SOL", "USDC") == meteora

    bonk = attrs_pool("raydium", "BONK", "USDC", 10**40 + 7, 3 * 10**35 + 1, 5, 6)
    assert await store.seed([sol_usdc("raydium", sol=2, usdc=2), bonk]) == 1
    assert await store.all() == [meteora, bonk, moved]  # ordered by key: venue, then pair
    assert await redis.zcard(f"{prefix}:pools") == 3
    assert await redis.hget(f"{prefix}:pool:raydium:SOL/USDC", "quote_reserve") == b"1499850464909"


def attrs_pool(venue: str, base: str, quote: str, x: int, y: int, dx: int, dy: int) -> Pool:
    return Pool(venue, base, quote, x, y, dx, dy, 25, 0)


async def test_get_and_all_round_trip_huge_ints_exactly(store: RedisPoolStore):
    huge = attrs_pool("meteora", "BONK", "SOL", 123456789012345678901234567890123456789, 10**30 - 1, 5, 9)
    other = Pool("raydium", "JUP", "USDC", 2**127 - 1, 2**64 + 1, 6, 6, 0, 0)
    assert await store.all() == []
    assert await store.get("meteora", "BONK", "SOL") is None
    assert await store.seed([huge, other]) == 2

    got = await store.get("meteora", "BONK", "SOL")
    assert got == huge and got.base_reserve == 123456789012345678901234567890123456789
    assert got.quote_reserve * got.base_reserve == (10**30 - 1) * 123456789012345678901234567890123456789
    assert await store.all() == [huge, other]
    assert await store.get("meteora", "SOL", "BONK") is None  # a pool has one orientation


async def test_fifty_concurrent_swaps_lose_no_update(redis_url: str, prefix: str):
    initial = sol_usdc("raydium")
    rng = random.Random(20240607)
    swaps = []
    for n in range(50):
        if n % 2:
            swaps.append(("SOL", "USDC", rng.choice([1, 7, rng.randrange(1, 10**12)])))  # up to 100 SOL
        else:
            swaps.append(("USDC", "SOL", rng.choice([1, 13, rng.randrange(1, 15 * 10**10)])))  # up to 150k USDC
    clients = [aioredis.Redis.from_url(redis_url) for _ in swaps]  # fifty independent processes, as it were
    try:
        stores = [RedisPoolStore(client, prefix=prefix) for client in clients]
        assert await stores[0].seed([initial]) == 1
        fills = await asyncio.gather(
            *(s.trade("raydium", t_in, t_out, amount) for s, (t_in, t_out, amount) in zip(stores, swaps, strict=True))
        )
        final = await stores[0].get("raydium", "SOL", "USDC")
    finally:
        for client in clients:
            await client.aclose()

    assert sorted(f.version for f in fills) == list(range(1, 51))  # each swap committed exactly one version
    assert final is not None and final.version == 50
    pool, k = initial, initial.base_reserve * initial.quote_reserve
    for fill in sorted(fills, key=lambda f: f.version):
        pool, out = amm.swapped(pool, fill.token_in, fill.amount_in_units)
        assert (out, pool.version) == (fill.amount_out_units, fill.version)  # what it got is what the curve gave
        assert pool.base_reserve * pool.quote_reserve >= k  # k never falls
        k = pool.base_reserve * pool.quote_reserve
    assert final == pool  # to the unit: no lost or doubled update
    # Order-independent bookkeeping: every unit in joined a reserve, every unit out left one.
    sol_in = sum(f.amount_in_units for f in fills if f.token_in == "SOL")
    sol_out = sum(f.amount_out_units for f in fills if f.token_out == "SOL")
    usdc_in = sum(f.amount_in_units for f in fills if f.token_in == "USDC")
    usdc_out = sum(f.amount_out_units for f in fills if f.token_out == "USDC")
    assert final.base_reserve == initial.base_reserve + sol_in - sol_out
    assert final.quote_reserve == initial.quote_reserve + usdc_in - usdc_out
    assert sorted((f.token_in, f.amount_in_units) for f in fills) == sorted((t, a) for t, _, a in swaps)


async def test_swap_below_min_out_raises_and_leaves_the_pool_unchanged(store: RedisPoolStore):
    await store.seed([sol_usdc("meteora", fee_bps=20)])
    before = await store.get("meteora", "SOL", "USDC")
    expected = amm.amount_out(before, "USDC", 150 * USDC_UNITS)
    assert expected == 997_900_409  # 0.9979 SOL for 150 USDC at 20 bps

    with pytest.raises(InsufficientOutput) as raised:
        await store.swap("meteora", "USDC", "SOL", 150 * USDC_UNITS, min_out_units=expected + 1)
    assert isinstance(raised.value, SlippageExceeded)
    assert (raised.value.out_units, raised.value.min_out_units) == (expected, expected + 1)
    assert str(raised.value.amount_out) == "0.997900409"
    assert await store.get("meteora", "SOL", "USDC") == before  # reserves and version 0

    assert await store.swap("meteora", "USDC", "SOL", 150 * USDC_UNITS, min_out_units=expected) == expected
    after = await store.get("meteora", "SOL", "USDC")
    assert (after.base_reserve, after.quote_reserve, after.version) == (
        10**13 - expected,
        1_500_150 * USDC_UNITS,
        1,
    )


async def test_update_retries_when_another_writer_commits_between_read_and_write(
    store: RedisPoolStore, redis_url: str, prefix: str
):
    await store.seed([sol_usdc("raydium")])
    key = store.key("raydium", "SOL", "USDC")
    other = sync_redis.Redis.from_url(redis_url)  # another process, writing while this change computes
    seen: list[Pool] = []

    def change(pool: Pool) -> tuple[Pool, str]:
        seen.append(pool)
        if len(seen) == 1:  # the other writer commits its own swap first: this write must then be refused
            rival, _ = amm.swapped(pool, "SOL", 5 * SOL_UNITS)
            other.hset(
                key,
                mapping={
                    "base_reserve": str(rival.base_reserve),
                    "quote_reserve": str(rival.quote_reserve),
                    "version": "1",
                },
            )
        new, out = amm.swapped(pool, "USDC", 1_000 * USDC_UNITS)
        return new, f"out={out}"

    try:
        result = await store.update("raydium", "SOL", "USDC", change)
    finally:
        other.close()

    rival, _ = amm.swapped(sol_usdc("raydium"), "SOL", 5 * SOL_UNITS)
    both, out = amm.swapped(rival, "USDC", 1_000 * USDC_UNITS)
    assert [p.version for p in seen] == [0, 1]  # ran again on the pool the rival left
    assert seen[1] == rival
    assert result == f"out={out}"
    assert await store.get("raydium", "SOL", "USDC") == both
    assert both.version == 2


async def test_two_racing_updates_both_apply(redis_url: str, prefix: str):
    a, b = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    try:
        first, second = RedisPoolStore(a, prefix=prefix), RedisPoolStore(b, prefix=prefix)
        await first.seed([sol_usdc("raydium")])
        outs = await asyncio.gather(
            first.swap("raydium", "SOL", "USDC", 3 * SOL_UNITS), second.swap("raydium", "USDC", "SOL", 450 * USDC_UNITS)
        )
        final = await first.get("raydium", "SOL", "USDC")
    finally:
        await a.aclose()
        await b.aclose()
    orders = []
    for legs in (
        (("SOL", 3 * SOL_UNITS), ("USDC", 450 * USDC_UNITS)),
        (("USDC", 450 * USDC_UNITS), ("SOL", 3 * SOL_UNITS)),
    ):
        pool, got = sol_usdc("raydium"), {}
        for token_in, amount in legs:
            pool, got[token_in] = amm.swapped(pool, token_in, amount)
        orders.append((pool, [got["SOL"], got["USDC"]]))
    assert final.version == 2
    assert (final, outs) in orders  # one of the two orders, exactly, never one update lost


async def test_update_refuses_bad_changes_and_gives_up_after_max_tries(store: RedisPoolStore, redis_url: str):
    await store.seed([sol_usdc("raydium")])
    pool = await store.get("raydium", "SOL", "USDC")
    with pytest.raises(PoolNotFound):
        await store.swap("raydium", "SOL", "USDT", 1)
    with pytest.raises(PoolNotFound):
        await store.update("orca", "SOL", "USDC", lambda p: (p, None))
    with pytest.raises(ValueError, match="bumps the version by one"):
        await store.update("raydium", "SOL", "USDC", lambda p: (amm.scaled(amm.scaled(p, Decimal(2)), Decimal(1)), 0))

    with pytest.raises(ValueError, match="nothing else"):
        await store.update("raydium", "SOL", "USDC", lambda p: (attrs.evolve(p, fee_bps=1, version=p.version + 1), 0))
    assert await store.update("raydium", "SOL", "USDC", lambda p: (p, "read only")) == "read only"
    assert await store.get("raydium", "SOL", "USDC") == pool

    key = store.key("raydium", "SOL", "USDC")
    other = sync_redis.Redis.from_url(redis_url)
    calls = []

    def always_beaten(p: Pool) -> tuple[Pool, None]:
        calls.append(p.version)
        other.hincrby(key, "version", 1)  # someone commits between every read and write
        return amm.swapped(p, "SOL", 1)[0], None

    try:
        with pytest.raises(PoolContention):
            await store.update("raydium", "SOL", "USDC", always_beaten)
    finally:
        other.close()
    assert calls == list(range(MAX_TRIES))
    after = await store.get("raydium", "SOL", "USDC")
    assert (after.base_reserve, after.quote_reserve, after.version) == (
        pool.base_reserve,
        pool.quote_reserve,
        MAX_TRIES,
    )


async def test_every_creation_and_change_lands_on_the_events_stream(
    store: RedisPoolStore, redis: aioredis.Redis
) -> None:
    """The watcher follows pools through this stream: each seed and committed change is one entry with the
    reserves it left; a refused change (below min out) and a seed of an existing pool add nothing."""
    pool = sol_usdc()
    await store.seed([pool])
    await store.seed([pool])
    fill = await store.trade("raydium", "SOL", "USDC", 5 * SOL_UNITS)
    with pytest.raises(InsufficientOutput):
        await store.trade("raydium", "SOL", "USDC", SOL_UNITS, min_out_units=10**15)
    after = await store.get("raydium", "SOL", "USDC")
    assert after is not None
    entries = await redis.xrange(store.events_key)
    fields = [{k.decode(): v.decode() for k, v in f.items()} for _, f in entries]
    key = store.key("raydium", "SOL", "USDC")
    assert fields == [
        {"key": key, "version": "0", "base_reserve": str(pool.base_reserve), "quote_reserve": str(pool.quote_reserve)},
        {
            "key": key,
            "version": str(fill.version),
            "base_reserve": str(after.base_reserve),
            "quote_reserve": str(after.quote_reserve),
        },
    ]


async def test_concurrent_reads_share_one_round_trip_and_each_gets_the_pool(
    store: RedisPoolStore, redis: aioredis.Redis
) -> None:
    """Both venues' quotes of every order in flight read in the same turn of the loop: one pipeline, each key
    once; a later read is a round trip of its own and sees a change made in between."""
    pools = [sol_usdc("raydium"), sol_usdc("meteora", usdc=1_600_000)]
    await store.seed(pools)
    before = store._reads.round_trips  # noqa: SLF001
    got = await asyncio.gather(*(store.get(v, "SOL", "USDC") for v in ("raydium", "meteora") * 10))
    assert got == [*pools] * 10
    assert store._reads.round_trips == before + 1  # noqa: SLF001
    fill = await store.trade("raydium", "SOL", "USDC", SOL_UNITS)
    after = await store.get("raydium", "SOL", "USDC")
    assert after is not None and after.version == fill.version == 1
    assert store._reads.round_trips == before + 2  # noqa: SLF001


async def test_a_failed_coalesced_read_fails_every_reader(redis_url: str, prefix: str) -> None:
    broken = aioredis.Redis.from_url(redis_url.rsplit(":", 1)[0] + ":1/0", socket_connect_timeout=0.5)
    store = RedisPoolStore(broken, prefix=prefix)
    try:
        results = await asyncio.gather(*(store.get("raydium", "SOL", "USDC") for _ in range(3)), return_exceptions=True)
    finally:
        await broken.aclose()
    assert len(results) == 3 and all(isinstance(r, OSError | aioredis.ConnectionError) for r in results), results
