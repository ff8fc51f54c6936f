"""The shared token registry on real Redis and PostgreSQL: a launch is seen by every process, a symbol is taken
once, and the registry survives Redis losing it (restored from PostgreSQL)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import asyncpg
import pytest
import redis.asyncio as aioredis

from order_engine.adapters.clock import SystemClock
from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.market.registry import RedisTokenRegistry, mint_for
from order_engine.adapters.market.table import VENUE_FEES_BPS
from order_engine.adapters.sql.launches import SqlLaunchStore
from order_engine.domain.errors import SymbolTaken
from order_engine.domain.launches import LaunchRequest
from order_engine.domain.tokens import forget_launched, is_mint, token
from order_engine.domain.use_cases.launch_token import LaunchToken


@pytest.fixture(autouse=True)
def _static_tokens_only() -> Iterator[None]:
    forget_launched()
    yield
    forget_launched()


def symbol() -> str:
    return "T" + secrets.token_hex(4).upper()


def launcher(redis: aioredis.Redis, pool: asyncpg.Pool, prefix: str) -> tuple[LaunchToken, RedisTokenRegistry]:
    registry = RedisTokenRegistry(redis, prefix=prefix, store=SqlLaunchStore(pool, prefix=prefix))
    launch = LaunchToken(
        registry=registry,
        pools=RedisPoolStore(redis, prefix=prefix),
        clock=SystemClock(),
        mint_for=lambda s: mint_for(s, prefix),
        fee_bps=VENUE_FEES_BPS,
        launch_fee_bps={"meteora": 5000},
        fee_decay_ms=60_000,
    )
    return launch, registry


async def delete_prefix(redis: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


async def test_a_launch_is_registered_seeded_and_seen_by_another_process(
    redis: aioredis.Redis, pool: asyncpg.Pool, key_prefix: str
) -> None:
    prefix, name = f"{key_prefix}-reg-{secrets.token_hex(3)}", symbol()
    launch, _ = launcher(redis, pool, prefix)
    record, new_pool = await launch(LaunchRequest(name, 6, "meteora", "SOL", D("0.000001"), D("50")))
    assert is_mint(record.mint) and record.mint == mint_for(name, prefix)
    stored = await RedisPoolStore(redis, prefix=prefix).get("meteora", name, "SOL")
    assert stored == new_pool and stored.launch_fee_bps == 5000 and stored.quote_reserve == 50 * 10**9
    events = await redis.xrange(f"{prefix}:market:events")
    assert [e[1][b"key"].decode() for e in events] == [f"{prefix}:pool:meteora:{name}/SOL"]

    forget_launched()  # another process, which has not heard of it yet
    assert token(name) is None
    other = RedisTokenRegistry(redis, prefix=prefix, store=SqlLaunchStore(pool, prefix=prefix))
    await other.refresh()
    assert token(name).mint == record.mint and token(record.mint).symbol == name
    assert other.launch_of(name) == record

    with pytest.raises(SymbolTaken):  # a second launch of the symbol, here or in another process
        await launch(LaunchRequest(name, 6, "raydium", "SOL", D("0.000001"), D("50")))
    forget_launched()
    with pytest.raises(SymbolTaken):
        await launcher(redis, pool, prefix)[0](LaunchRequest(name, 6, "raydium", "SOL", D("0.000001"), D("50")))
    assert await RedisPoolStore(redis, prefix=prefix).get("raydium", name, "SOL") is None
    with pytest.raises(SymbolTaken):  # a static symbol
        await launch(LaunchRequest("USDC", 6, "raydium", "SOL", D("1"), D("50")))


async def test_each_key_prefix_has_its_own_registry(redis: aioredis.Redis, pool: asyncpg.Pool, key_prefix: str) -> None:
    """Deployments (and test stacks) may share a database: a symbol launched under one prefix is free under
    another, and a restore brings back only its own prefix's tokens."""
    one, other = (f"{key_prefix}-reg-{secrets.token_hex(3)}" for _ in range(2))
    name = symbol()
    await launcher(redis, pool, one)[0](LaunchRequest(name, 6, "raydium", "SOL", D("0.000001"), D("50")))
    forget_launched()
    await launcher(redis, pool, other)[0](LaunchRequest(name, 6, "meteora", "SOL", D("0.000001"), D("50")))
    forget_launched()
    await delete_prefix(redis, other)
    restored = RedisTokenRegistry(redis, prefix=other, store=SqlLaunchStore(pool, prefix=other))
    await restored.refresh()
    assert restored.launch_of(name).venue == "meteora"
    assert await redis.hkeys(f"{other}:tokens") == [name.encode()]


async def test_the_registry_survives_redis_losing_it(
    redis: aioredis.Redis, pool: asyncpg.Pool, key_prefix: str
) -> None:
    prefix, names = f"{key_prefix}-reg-{secrets.token_hex(3)}", [symbol(), symbol()]
    launch, _ = launcher(redis, pool, prefix)
    opens = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    records = [
        (await launch(LaunchRequest(n, 6, "raydium", "SOL", D("0.000001"), D("50"), False, True, None)))[0]
        for n in names[:1]
    ]
    records.append((await launch(LaunchRequest(names[1], 9, "raydium", "USDC", D("2"), D("10"), opens_at=opens)))[0])
    await delete_prefix(redis, prefix)  # Redis lost everything under the prefix
    assert await redis.exists(f"{prefix}:tokens") == 0

    forget_launched()
    restored = RedisTokenRegistry(redis, prefix=prefix, store=SqlLaunchStore(pool, prefix=prefix))
    await restored.refresh()
    assert [restored.launch_of(n) for n in names] == records
    assert records[0].mint_authority_revoked is False and records[1].opens_at == opens
    assert token(names[1]).decimals == 9
    assert sorted(k.decode() for k in await redis.hkeys(f"{prefix}:tokens")) == sorted(names)  # written back
