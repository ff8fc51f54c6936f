"""The market read side over real HTTP: quotes are what the venues' pools give, prices list every pool."""

from __future__ import annotations

from decimal import Decimal as D

import httpx
import pytest
import redis.asyncio as aioredis
from client import order_count
from stack import Stack

from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.domain import amm

pytestmark = pytest.mark.e2e


async def test_a_quote_is_what_each_pool_gives_and_names_the_better_venue(stack: Stack, redis_url: str) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        answer = await client.get("/api/market/quote", params={"tokenIn": "sol", "tokenOut": "USDC", "amountIn": "2.5"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    redis = aioredis.Redis.from_url(redis_url)
    try:
        store = RedisPoolStore(redis, prefix=stack.key_prefix)
        pools = {v: await store.get(v, "SOL", "USDC") for v in ("raydium", "meteora")}
    finally:
        await redis.aclose()
    assert (body["tokenIn"], body["tokenOut"], body["amountIn"]) == ("SOL", "USDC", "2.5")
    quotes = {q["venue"]: q for q in body["quotes"]}
    assert set(quotes) == {"raydium", "meteora"}
    for venue, pool in pools.items():
        expected = amm.quote(pool, "SOL", D("2.5"))
        q = quotes[venue]
        assert D(q["amountOut"]) == expected.amount_out and D(q["price"]) == expected.price
        assert D(q["effectivePrice"]) == expected.effective_price
        assert D(q["effectivePrice"]) < D(q["price"])  # fee and impact
        assert q["feeRate"] == {"raydium": "0.003", "meteora": "0.002"}[venue]
        assert D(q["priceImpactPct"]) >= 0
    assert body["best"] == max(quotes.values(), key=lambda q: D(q["amountOut"]))["venue"]


async def test_prices_list_every_pool_with_its_mid_price(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        body = (await client.get("/api/market/prices")).json()
    assert len(body["prices"]) == 30 and body["at"].endswith("Z")
    sol = {p["venue"]: D(p["price"]) for p in body["prices"] if p["pair"] == "SOL/USDC"}
    assert set(sol) == {"raydium", "meteora"} and all(D(140) < price < D(160) for price in sol.values())


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1e2"}, "amountIn"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1_000"}, "amountIn"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0"}, "amountIn"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.0000000001"}, "amountIn"),
        ({"tokenIn": "DOGE", "tokenOut": "USDC", "amountIn": "1"}, "tokenIn"),
        ({"tokenIn": "SOL", "tokenOut": "WSOL", "amountIn": "1"}, "tokenOut"),
        ({"tokenIn": "SOL", "tokenOut": "USDC"}, "amountIn"),
    ],
    ids=["exponent", "underscore", "zero", "too-many-decimals", "unknown-token", "same-mint", "missing"],
)
async def test_bad_quote_requests_are_400s_naming_the_parameter(
    stack: Stack, migrated_database: str, params: dict[str, str], field: str
) -> None:
    before = await order_count(migrated_database)
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        answer = await client.get("/api/market/quote", params=params)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["detail"]
    assert await order_count(migrated_database) == before
