"""Steering the market over real HTTP (POST /api/sim/market/move) and with `order-engine sim move`.

A move trades each venue's pool until the pair's mid price is there: exact (the pool is the one trade
`amm.trade_to_price` gives on the pool it read, to the unit), shown by /api/market/prices, and on the events
stream. Bad input is a 400 naming the field and changes no pool; the routes exist only with
ORDER_ENGINE_SIM_API, and want the operator credential whenever ORDER_ENGINE_ADMIN_TOKEN is set.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from conftest import StackFactory
from stack import Stack, cli, free_port

from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.domain import amm
from order_engine.domain.amm import PRICE_CONTEXT, Pool

pytestmark = pytest.mark.e2e

VENUES = ("meteora", "raydium")
MOVE = "/api/sim/market/move"


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Stack:
    """No worker: nothing here submits orders, and a worker's recovery sweep would rescue other modules' stale
    orders from the shared database and trade them on these pools (the tests below check pools stay put)."""
    return start_stack("main", workers=0)


@pytest.fixture
async def store(stack: Stack, redis_url: str) -> AsyncIterator[RedisPoolStore]:
    redis = aioredis.Redis.from_url(redis_url)
    yield RedisPoolStore(redis, prefix=stack.key_prefix)
    await redis.aclose()


async def move(stack: Stack, body: dict[str, Any], **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        return await client.post(MOVE, json=body, headers=headers)


async def listed_prices(stack: Stack, pair: str) -> dict[str, D]:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        body = (await client.get("/api/market/prices")).json()
    return {p["venue"]: D(p["price"]) for p in body["prices"] if p["pair"] == pair}


def mid(pool: Pool) -> D:
    return amm.mid_price(pool, pool.base, pool.quote)


def moved_to(before: Pool, after: Pool, target: D) -> None:
    """`after` is `before` with exactly the trade trade_to_price gives, to the unit: the price is short of the
    target by less than one more unit of that trade would move it (one more would carry it past)."""
    token, units = amm.trade_to_price(before, target)
    assert after == amm.swapped(before, token, units)[0]
    one_more = mid(amm.swapped(before, token, units + 1)[0])
    assert min(mid(after), one_more) <= target <= max(mid(after), one_more)
    assert abs(mid(after) - target) <= abs(one_more - mid(after))


async def test_moving_every_venue_to_a_price(stack: Stack, store: RedisPoolStore) -> None:
    before = {v: await store.get(v, "SOL", "USDC") for v in VENUES}
    events = await store._redis.xlen(store.events_key)
    answer = await move(stack, {"pair": "SOL/USDC", "venue": None, "toPrice": "160"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["pair"] == "SOL/USDC" and body["at"].endswith("Z")
    assert [p["venue"] for p in body["prices"]] == list(VENUES)
    listed = await listed_prices(stack, "SOL/USDC")
    for shown in body["prices"]:
        venue = shown["venue"]
        after = await store.get(venue, "SOL", "USDC")
        assert D(shown["before"]) == mid(before[venue]) and D(shown["price"]) == mid(after) == listed[venue]
        moved_to(before[venue], after, D(160))
        assert abs(listed[venue] - 160) < D("1e-9")
    assert await store._redis.xlen(store.events_key) == events + 2  # each move is on the watcher's stream


async def test_moving_one_venue_by_bps_leaves_the_other_unchanged(stack: Stack, store: RedisPoolStore) -> None:
    raydium, meteora = await store.get("raydium", "JUP", "USDC"), await store.get("meteora", "JUP", "USDC")
    answer = await move(stack, {"pair": "JUP/USDC", "venue": "raydium", "byBps": -300})
    assert answer.status_code == 200, answer.text
    (shown,) = answer.json()["prices"]
    assert shown["venue"] == "raydium"
    moved_to(raydium, await store.get("raydium", "JUP", "USDC"), mid(raydium) * D("0.97"))
    assert D(shown["price"]) / D(shown["before"]) == pytest.approx(D("0.97"), abs=D("1e-9"))
    assert await store.get("meteora", "JUP", "USDC") == meteora  # not traded, not even a version bump

    up = await move(stack, {"pair": "JUP/USDC", "byBps": 500})  # venue absent: every venue, a JUP worth 5 % more
    assert up.status_code == 200, up.text
    for shown in up.json()["prices"]:
        assert D(shown["price"]) / D(shown["before"]) == pytest.approx(D("1.05"), abs=D("1e-9"))


async def test_a_pair_named_the_other_way_round_means_its_inverse(stack: Stack, store: RedisPoolStore) -> None:
    before = await store.get("meteora", "SOL", "USDC")
    answer = await move(stack, {"pair": "usdc/sol", "venue": "meteora", "toPrice": "0.005"})  # 200 USDC per SOL
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["pair"] == "USDC/SOL"
    (shown,) = body["prices"]
    after = await store.get("meteora", "SOL", "USDC")
    moved_to(before, after, PRICE_CONTEXT.divide(D(1), D("0.005")))
    assert D(shown["price"]) == PRICE_CONTEXT.divide(D(1), mid(after)) == pytest.approx(D("0.005"), abs=D("1e-12"))
    assert D(shown["before"]) == PRICE_CONTEXT.divide(D(1), mid(before))

    # byBps on the pair as named: a USDC worth 10 % more SOL is a SOL worth 1/1.1 of the USDC it was.
    answer = await move(stack, {"pair": "USDC/SOL", "venue": "meteora", "byBps": 1000})
    assert answer.status_code == 200, answer.text
    (shown,) = answer.json()["prices"]
    assert D(shown["price"]) / D(shown["before"]) == pytest.approx(D("1.1"), abs=D("1e-9"))
    assert mid(await store.get("meteora", "SOL", "USDC")) == pytest.approx(mid(after) / D("1.1"), rel=D("1e-9"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pair": "DOGE/USDC", "toPrice": "1"}, "pair"),
        ({"pair": "SOLUSDC", "toPrice": "1"}, "pair"),
        ({"pair": "SOL/USDC/USDT", "toPrice": "1"}, "pair"),
        ({"pair": "SOL/WSOL", "toPrice": "1"}, "pair"),
        ({"toPrice": "160"}, "pair"),
        ({"pair": 7, "toPrice": "160"}, "pair"),
        ({"pair": "SOL/USDC", "venue": "orca", "toPrice": "160"}, "venue"),
        ({"pair": "SOL/USDC", "venue": 1, "toPrice": "160"}, "venue"),
        ({"pair": "SOL/USDC", "toPrice": "160", "byBps": 5}, "toPrice"),
        ({"pair": "SOL/USDC"}, "toPrice"),
        ({"pair": "SOL/USDC", "toPrice": None, "byBps": None}, "toPrice"),
        ({"pair": "SOL/USDC", "toPrice": "0"}, "toPrice"),
        ({"pair": "SOL/USDC", "toPrice": "0.000"}, "toPrice"),
        ({"pair": "SOL/USDC", "toPrice": "-160"}, "toPrice"),
        ({"pair": "SOL/USDC", "toPrice": "1e2"}, "toPrice"),
        ({"pair": "SOL/USDC", "toPrice": "1_60"}, "toPrice"),
        ({"pair": "SOL/USDC", "toPrice": "abc"}, "toPrice"),
        ({"pair": "SOL/USDC", "toPrice": "1" + "0" * 60}, "toPrice"),
        ({"pair": "SOL/USDC", "toPrice": "160000"}, "toPrice"),  # 1 000 times the price: past one move's bound
        ({"pair": "SOL/USDC", "toPrice": "0.001"}, "toPrice"),
        ({"pair": "SOL/USDC", "byBps": "500"}, "byBps"),
        ({"pair": "SOL/USDC", "byBps": 5.5}, "byBps"),
        ({"pair": "SOL/USDC", "byBps": True}, "byBps"),
        ({"pair": "SOL/USDC", "byBps": -10000}, "byBps"),
        ({"pair": "SOL/USDC", "byBps": -20000}, "byBps"),
        ({"pair": "SOL/USDC", "byBps": 990001}, "byBps"),
        ({"pair": "SOL/USDC", "byBps": 10**30}, "byBps"),
        ({"pair": "SOL/USDC", "toPrice": "160", "price": "160"}, "price"),
    ],
)
async def test_bad_moves_are_400s_naming_the_field_and_change_no_pool(
    stack: Stack, store: RedisPoolStore, body: dict[str, Any], field: str
) -> None:
    pools, events = await store.all(), await store._redis.xlen(store.events_key)
    answer = await move(stack, body)
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem.get("field") == field and field in problem["detail"], problem
    assert await store.all() == pools and await store._redis.xlen(store.events_key) == events


async def test_bad_bodies_are_400s_too(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        not_json = await client.post(MOVE, content=b"{", headers={"content-type": "application/json"})
        duplicate = await client.post(
            MOVE, content=b'{"pair": "SOL/USDC", "byBps": 5, "byBps": 6}', headers={"content-type": "application/json"}
        )
        form = await client.post(MOVE, data={"pair": "SOL/USDC"})
        exponent = await client.post(
            MOVE, content=b'{"pair": "SOL/USDC", "toPrice": 1.6e2}', headers={"content-type": "application/json"}
        )
    assert exponent.status_code == 400 and exponent.json()["field"] == "toPrice"  # a number, but not plain
    assert not_json.status_code == 400 and "JSON" in not_json.json()["detail"]
    assert duplicate.status_code == 400 and duplicate.json()["field"] == "byBps"
    assert form.status_code == 415


# API-only stacks (no worker: a move needs none) with small database pools: the module's stacks live side by side.
SMALL = {"ORDER_ENGINE_API_DB_POOL_SIZE": "2"}


@pytest.fixture(scope="module")
def off(start_stack: StackFactory) -> Stack:
    return start_stack("off", workers=0, ORDER_ENGINE_SIM_API="false", **SMALL)


@pytest.fixture(scope="module")
def guarded(start_stack: StackFactory) -> Stack:
    return start_stack("guarded", workers=0, ORDER_ENGINE_ADMIN_TOKEN="s3cret", **SMALL)


async def test_without_the_sim_setting_the_routes_do_not_exist(off: Stack) -> None:
    answer = await move(off, {"pair": "SOL/USDC", "toPrice": "160"})
    assert answer.status_code == 404, answer.text
    async with httpx.AsyncClient(base_url=off.base_url) as client:
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert "/api/market/prices" in paths and not [p for p in paths if p.startswith("/api/sim")]


async def test_with_an_admin_token_a_move_needs_it(guarded: Stack) -> None:
    body = {"pair": "RAY/USDC", "byBps": 100}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        answer = await move(guarded, body, **headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert "ORDER_ENGINE_ADMIN_TOKEN" in answer.json()["detail"]
    before = await listed_prices(guarded, "RAY/USDC")
    assert (await move(guarded, body, Authorization="Bearer wrong")).status_code == 401
    assert await listed_prices(guarded, "RAY/USDC") == before  # refused: nothing moved
    answer = await move(guarded, body, Authorization="Bearer s3cret")
    assert answer.status_code == 200, answer.text

    done = run_cli(guarded, "RAY/USDC", "--by-bps", "100")  # no token: 401, a 4xx
    assert done.returncode == 2 and "401" in done.stderr, done.stderr
    done = run_cli(guarded, "RAY/USDC", "--by-bps", "100", ORDER_ENGINE_ADMIN_TOKEN="s3cret")  # token from the env
    assert done.returncode == 0, done.stderr


def run_cli(stack: Stack, *args: str, url: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """`order-engine sim move ARGS --url URL` (the stack's by default; none when ORDER_ENGINE_URL is given)."""
    environment = {k: v for k, v in stack.env.items() if k != "ORDER_ENGINE_ADMIN_TOKEN"}
    where = [] if "ORDER_ENGINE_URL" in env else ["--url", url or stack.base_url]
    command = cli("sim", "move", *args, *where)
    return subprocess.run(command, env={**environment, **env}, capture_output=True, text=True, timeout=30)


async def test_the_cli_moves_prints_and_exits_by_outcome(stack: Stack, store: RedisPoolStore) -> None:
    before = {v: mid(await store.get(v, "BONK", "USDC")) for v in VENUES}
    done = run_cli(stack, "BONK/USDC", "--to", "0.00003")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2, done.stdout
    for line, venue in zip(lines, VENUES, strict=True):
        label, change = line.split(": ")
        old, new = change.split(" → ")
        assert label == f"BONK/USDC {venue}" and D(old) == before[venue]
        assert D(new) == mid(await store.get(venue, "BONK", "USDC")) == pytest.approx(D("0.00003"), rel=D("1e-6"))

    done = run_cli(stack, "BONK/USDC", "--by-bps", "-500", "--venue", "meteora")
    assert done.returncode == 0 and done.stdout.startswith("BONK/USDC meteora: "), done.stdout

    pools = await store.all()
    done = run_cli(stack, "BONK/USDC", "--to", "0")  # the API's 400: exit 2, its message
    assert done.returncode == 2 and done.stdout == "", done
    assert "400" in done.stderr and "toPrice: must be above zero" in done.stderr, done.stderr
    done = run_cli(stack, "BONK/USDC", "--to", "1", "--venue", "orca")
    assert done.returncode == 2 and "venue: unknown venue 'orca'" in done.stderr, done.stderr
    done = run_cli(stack, "BONK/USDC")  # usage: neither --to nor --by-bps
    assert done.returncode == 2 and "--to" in done.stderr
    done = run_cli(stack, "BONK/USDC", "--by-bps", "five")
    assert done.returncode == 2 and "invalid int value" in done.stderr
    assert await store.all() == pools

    done = run_cli(stack, "BONK/USDC", "--to", "1", url=f"http://127.0.0.1:{free_port()}")  # nobody listens there
    assert done.returncode == 4 and "cannot reach" in done.stderr, done.stderr
    done = run_cli(stack, "BONK/USDC", "--to", "1", url="ftp://127.0.0.1")
    assert done.returncode == 2 and "--url" in done.stderr


async def test_the_cli_says_when_the_sim_api_is_off(off: Stack) -> None:
    done = run_cli(off, "SOL/USDC", "--to", "160", ORDER_ENGINE_URL=off.base_url)
    assert done.returncode == 2 and "404" in done.stderr and "ORDER_ENGINE_SIM_API" in done.stderr, done.stderr
