"""The market survives Redis losing it: the leader snapshots changed pools to PostgreSQL each tick, and seeding
restores from that snapshot first, from the starting table only for pools never snapshotted, overwriting nothing.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
import redis.asyncio as aioredis

from order_engine.adapters.market.loop import MarketLoop
from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.market.restore import Restored, restore_pools
from order_engine.adapters.sql.database import migrate, sqlalchemy_config
from order_engine.adapters.sql.market_models import MarketPoolRow
from order_engine.adapters.sql.pool_snapshots import SqlPoolSnapshots
from order_engine.app.bootstrap import market_pools, market_table
from order_engine.app.settings import Settings
from order_engine.domain import amm
from order_engine.domain.amm import Pool

SOL = 10**9


@pytest.fixture
def prefix(key_prefix: str) -> str:
    return f"{key_prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(prefix: str) -> Settings:
    return Settings(key_prefix=prefix, dex_seed="snapshots")


def key(pool: Pool) -> tuple[str, str, str]:
    return pool.venue, pool.base, pool.quote


async def wipe(redis: aioredis.Redis, prefix: str) -> int:
    """Delete every Redis key of the prefix: what a Redis restarted without its data holds of this market."""
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)]
    return await redis.delete(*keys) if keys else 0


async def test_the_model_and_the_migration_agree(pool: asyncpg.Pool) -> None:
    rows = await pool.fetch(
        "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns"
        " WHERE table_name = 'market_pools' ORDER BY ordinal_position"
    )
    assert [r["column_name"] for r in rows] == [c.name for c in MarketPoolRow.__table__.columns]
    reserves = [r for r in rows if r["column_name"].endswith("_reserve")]
    assert [(r["data_type"], r["numeric_precision"], r["numeric_scale"]) for r in reserves] == [("numeric", 78, 0)] * 2
    primary = await pool.fetch(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = 'market_pools'::regclass AND i.indisprimary"
    )
    assert {r["attname"] for r in primary} == {"key_prefix", "venue", "base", "quote"}


def downgrade(url: str, revision: str) -> None:
    from advanced_alchemy.alembic.commands import AlembicCommands

    AlembicCommands(sqlalchemy_config=sqlalchemy_config(url, pool_size=0)).downgrade(revision)


async def test_migration_0004_goes_down_and_up_again(migrated_url: str, pool: asyncpg.Pool) -> None:
    await asyncio.to_thread(downgrade, migrated_url, "0003_resting_orders")  # Alembic runs its own event loop
    try:
        assert await pool.fetchval("SELECT to_regclass('market_pools')") is None
    finally:
        await asyncio.to_thread(migrate, migrated_url, "head")
    assert await pool.fetchval("SELECT to_regclass('market_pools')::text") == "market_pools"


async def test_a_snapshot_is_exact_and_only_ever_moves_a_row_forward(pool: asyncpg.Pool, prefix: str) -> None:
    snapshots = SqlPoolSnapshots(pool, prefix=prefix)
    huge = Pool("meteora", "BONK", "SOL", 123456789012345678901234567890123456789, 10**40 - 1, 5, 9, 20, 7)
    sol = Pool("raydium", "SOL", "USDC", 33_333 * SOL, 5_000_000 * 10**6, 9, 6, 30, 3)
    assert await snapshots.save([huge, sol]) == 2
    assert await snapshots.load() == [huge, sol]  # to the unit, 39 digits and all

    older = Pool("raydium", "SOL", "USDC", 1, 1, 9, 6, 30, 2)
    same = Pool("raydium", "SOL", "USDC", 2, 2, 9, 6, 30, 3)
    assert await snapshots.save([older]) == 0 and await snapshots.save([same]) == 0
    newer = amm.swapped(sol, "SOL", SOL)[0]
    assert await snapshots.save([older, newer]) == 1
    assert await snapshots.load() == [huge, newer]
    assert await SqlPoolSnapshots(pool, prefix=f"{prefix}-other").load() == []  # one market per key prefix
    assert await snapshots.save([]) == 0


async def test_a_launch_pool_keeps_its_opening_and_fee_schedule_in_the_snapshot(
    pool: asyncpg.Pool, prefix: str
) -> None:
    snapshots = SqlPoolSnapshots(pool, prefix=f"{prefix}-launch")
    launch = Pool("meteora", "PEPE2", "SOL", 50 * 10**12, 50 * SOL, 6, 9, 20, 0, 1_800_000_000_000, 5000, 60_000)
    assert await snapshots.save([launch]) == 1
    assert await snapshots.load() == [launch]


async def test_after_redis_loses_the_market_seeding_restores_the_snapshot_and_fresh_pools_from_the_table(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, prefix: str
) -> None:
    table = market_table(settings)
    (fresh,) = [p for p in table if key(p) == ("raydium", "JUP", "RAY")]  # added after the snapshot was taken
    store = RedisPoolStore(redis, prefix=prefix)
    assert await store.seed([p for p in table if p != fresh]) == 29
    await store.swap("raydium", "SOL", "USDC", 250 * SOL)
    await store.swap("meteora", "USDC", "BONK", 10_000 * 10**6)
    loop = MarketLoop(
        store, redis, prefix=prefix, seed="snapshots", volatility_bps=10, tick_s=1,
        snapshots=SqlPoolSnapshots(pool, prefix=prefix),
    )  # fmt: skip
    await loop.tick()  # the flow moves every pool, then the leader snapshots the 29 it found
    before = {key(p): p for p in await store.all()}
    assert len(before) == 29 and all(p.version >= 1 for p in before.values())

    assert await wipe(redis, prefix) > 29  # pools, index, events stream, tick counter
    assert await store.all() == []
    created = await market_pools(settings, redis, pool)  # what every process runs at start-up
    after = {key(p): p for p in await created.all()}
    assert after.pop(key(fresh)) == fresh  # never snapshotted: from the table
    assert after == before  # reserves and versions equal to the unit: the snapshot, not the table
    assert any(before[key(p)] != p for p in table if key(p) in before)

    entries = await redis.xrange(store.events_key)  # each recreated pool is on the stream, for the watcher
    assert len(entries) == 30


async def test_seeding_never_overwrites_a_pool_redis_has(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, prefix: str
) -> None:
    table = market_table(settings)
    store = RedisPoolStore(redis, prefix=prefix)
    snapshots = SqlPoolSnapshots(pool, prefix=prefix)
    assert await restore_pools(store, snapshots, table) == Restored(from_snapshot=0, from_table=30)
    sol = await store.get("raydium", "SOL", "USDC")
    snapshot = amm.swapped(sol, "SOL", 9 * SOL)[0]
    await snapshots.save([snapshot])  # a snapshot that differs from what Redis holds
    await store.swap("raydium", "USDC", "SOL", 10**6)
    live = await store.get("raydium", "SOL", "USDC")
    assert live.version == snapshot.version and live != snapshot
    assert await restore_pools(store, snapshots, table) == Restored(0, 0)  # Redis keeps its own
    assert await store.get("raydium", "SOL", "USDC") == live

    await redis.delete(store.key("raydium", "SOL", "USDC"))  # only some pools missing: only those are seeded
    assert await restore_pools(store, snapshots, table) == Restored(from_snapshot=1, from_table=0)
    assert await store.get("raydium", "SOL", "USDC") == snapshot
    assert len(await store.all()) == 30


async def test_the_leader_snapshots_what_changed_also_without_flow_and_restores_pools_gone_missing(
    pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings, prefix: str
) -> None:
    table = market_table(settings)
    store = RedisPoolStore(redis, prefix=prefix)
    snapshots = SqlPoolSnapshots(pool, prefix=prefix)
    await store.seed(table)
    loop = MarketLoop(
        store, redis, prefix=prefix, seed="s", volatility_bps=0, tick_s=1, snapshots=snapshots, table=table
    )
    await loop.tick()  # a new leader saves every pool once
    assert {key(p): p for p in await snapshots.load()} == {key(p): p for p in table}

    await store.swap("meteora", "SOL", "USDC", 3 * SOL)  # volatility 0: only swaps (and steering) change pools
    written: list[int] = []
    original_save = snapshots.save

    async def counting_save(pools):
        written.append(len(pools))
        return await original_save(pools)

    snapshots.save = counting_save  # type: ignore[method-assign]
    await loop.tick()
    await loop.tick()  # nothing changed since: no statement at all
    assert written == [1]
    saved = {key(p): p for p in await snapshots.load()}
    assert saved[("meteora", "SOL", "USDC")] == await store.get("meteora", "SOL", "USDC")

    await wipe(redis, prefix)  # Redis restarted empty under a running leader: its next tick restores the market
    await loop.tick()
    assert {key(p): p for p in await store.all()} == saved


class Unreachable:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def save(self, pools: list[Pool]) -> int:
        raise self.error

    async def load(self) -> list[Pool]:
        raise self.error


async def test_with_postgresql_down_nothing_is_seeded_and_a_missing_table_is_an_error(
    redis: aioredis.Redis, settings: Settings, prefix: str
) -> None:
    """Seeding the table while the snapshot cannot be read could shadow that snapshot for good (a pool Redis
    has is never overwritten): nothing is seeded, and the market leader tries again each tick."""
    store = RedisPoolStore(redis, prefix=prefix)
    table = market_table(settings)
    down = Unreachable(ConnectionRefusedError(111, "Connection refused"))
    assert await restore_pools(store, down, table) == Restored(0, 0, snapshot_read=False)
    assert await store.all() == []
    with pytest.raises(asyncpg.UndefinedTableError):  # not migrated: say so rather than run without a snapshot
        await restore_pools(store, Unreachable(asyncpg.UndefinedTableError("no market_pools")), table)
