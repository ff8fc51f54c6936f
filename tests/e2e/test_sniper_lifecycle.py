"""Sniper orders and launches on the real stack: API + worker + watcher processes, PostgreSQL and Redis.

A sniper waits for a token that does not exist yet; `POST /api/sim/launches` creates it and its pool, and the
watcher fires the sniper, whose job runs on the snipers' own lane. Also: a launch failing a safety check, a
sniper arriving after the launch, a pool opening later, the launched token traded by a market order, 409 on a
duplicate symbol, bad input for every new field, and a sniper passing a start-rate limit that market orders
wait behind.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from client import assert_rejected, collect, seqs, statuses, wait_for_status
from stack import Stack, cli, migrated_database_of_its_own

pytestmark = pytest.mark.e2e

FILLED = ["pending", "waiting", "triggered", "routing", "building", "submitted", "confirmed"]


def symbol() -> str:
    return "P" + secrets.token_hex(3).upper()


def launch_body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": name,
        "decimals": 6,
        "venue": "raydium",
        "quoteToken": "SOL",
        "initialPrice": "0.000001",
        "liquidity": "50",
        "mintAuthorityRevoked": True,
        "freezeAuthorityRevoked": True,
        "opensAt": None,
    } | extra


def sniper_body(token_out: str, **extra: Any) -> dict[str, Any]:
    return {
        "orderType": "sniper",
        "tokenIn": "SOL",
        "tokenOut": token_out,
        "amountIn": "0.5",
        "slippageBps": 1500,
        "trigger": {"event": "pool_created", "venue": "any", "minLiquidity": "20"},
        "safety": {"requireMintAuthorityRevoked": True, "requireFreezeAuthorityRevoked": True},
    } | extra


@pytest.fixture(scope="module")
def snipers(own_database: str, start_stack: Any) -> Stack:
    return start_stack("snipers", watchers=1, database_url=own_database)


async def wait_for(client: httpx.AsyncClient, order_id: str, status: str, timeout_s: float = 15) -> dict[str, Any]:
    return await wait_for_status(client, order_id, status, timeout_s)


async def submit(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    created = await client.post("/api/orders/execute", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["orderId"])


async def launches(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("select count(*) from launched_tokens"))
    finally:
        await conn.close()


async def test_a_sniper_armed_before_the_launch_fills_on_its_lane(snipers: Stack, redis_url: str) -> None:
    name = symbol()
    async with httpx.AsyncClient(base_url=snipers.base_url, timeout=10) as client:
        created = await client.post("/api/orders/execute", json=sniper_body(name))
        assert created.status_code == 201, created.text
        assert (created.json()["status"], created.json()["orderType"]) == ("waiting", "sniper")
        order_id = created.json()["orderId"]
        order = (await client.get(f"/api/orders/{order_id}")).json()
        assert order["trigger"] == {"event": "pool_created", "venue": "any", "minLiquidity": "20"}
        assert order["safety"] == {"requireMintAuthorityRevoked": True, "requireFreezeAuthorityRevoked": True}
        assert (order["tokenOut"], order["arm"], order["slippageBps"]) == (name, 1, 1500)
        expires = datetime.fromisoformat(order["expiresAt"].replace("Z", "+00:00"))
        assert timedelta(hours=23, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=24)

        watching = asyncio.create_task(collect(f"{snipers.ws_base}/api/orders/{order_id}/ws?since=0"))
        await asyncio.sleep(0.5)
        launched = await client.post("/api/sim/launches", json=launch_body(name))
        assert launched.status_code == 201, launched.text
        messages, code = await asyncio.wait_for(watching, 30)
        done = (await client.get(f"/api/orders/{order_id}")).json()
    body = launched.json()
    assert (body["symbol"], body["venue"], body["pool"], body["opensAt"]) == (name, "raydium", f"{name}/SOL", None)
    assert 32 <= len(body["mint"]) <= 44
    assert code == 1000
    assert statuses(messages) == FILLED and seqs(messages) == list(range(1, 8))
    assert done["status"] == "confirmed" and done["dexUsed"] == "raydium" and D(done["amountOut"]) > 0
    triggered = done["statusHistory"][2]["metadata"]
    assert (triggered["venue"], triggered["pool"], triggered["liquidity"]) == ("raydium", f"{name}/SOL", "50")
    assert D(triggered["effectivePrice"]) > 0 and "marketAt" in triggered
    # Its job ran on the snipers' lane, never on the main one.
    client_ = aioredis.Redis.from_url(redis_url)
    try:
        assert await client_.exists(f"saq:job:{snipers.queue_name}-snipers:{order_id}:1") == 1
        assert await client_.exists(f"saq:job:{snipers.queue_name}:{order_id}:1") == 0
    finally:
        await client_.aclose()


async def test_a_sniper_may_name_the_mint_the_launch_will_have(snipers: Stack) -> None:
    """The mint is a function of the seed and the symbol: a sniper that knows it in advance waits for it."""
    from order_engine.adapters.market.registry import mint_for

    name = symbol()
    mint = mint_for(name, snipers.env["ORDER_ENGINE_DEX_SEED"])
    async with httpx.AsyncClient(base_url=snipers.base_url, timeout=10) as client:
        order_id = await submit(client, sniper_body(mint))
        launched = await client.post("/api/sim/launches", json=launch_body(name))
        assert launched.status_code == 201 and launched.json()["mint"] == mint
        done = await wait_for(client, order_id, "confirmed")
    assert done["tokenOut"] == mint and [e["status"] for e in done["statusHistory"]] == FILLED


async def test_a_launch_failing_a_safety_check_leaves_the_sniper_waiting(snipers: Stack) -> None:
    name = symbol()
    async with httpx.AsyncClient(base_url=snipers.base_url, timeout=10) as client:
        strict = await submit(client, sniper_body(name))
        relaxed = await submit(
            client,
            sniper_body(name, safety={"requireMintAuthorityRevoked": False, "requireFreezeAuthorityRevoked": True}),
        )
        launched = await client.post("/api/sim/launches", json=launch_body(name, mintAuthorityRevoked=False))
        assert launched.status_code == 201, launched.text
        await wait_for(client, relaxed, "confirmed")  # the launch was seen: the other one passed its checks
        kept = (await client.get(f"/api/orders/{strict}")).json()
        assert kept["status"] == "waiting" and [e["status"] for e in kept["statusHistory"]] == ["pending", "waiting"]
        cancelled = await client.post(f"/api/orders/{strict}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


async def test_a_sniper_submitted_after_its_pool_qualifies_is_triggered_at_once(snipers: Stack) -> None:
    name = symbol()
    async with httpx.AsyncClient(base_url=snipers.base_url, timeout=10) as client:
        assert (await client.post("/api/sim/launches", json=launch_body(name, venue="meteora"))).status_code == 201
        began = time.monotonic()
        order_id = await submit(client, sniper_body(name, trigger={"event": "pool_created", "venue": "meteora"}))
        done = await wait_for(client, order_id, "confirmed")
    assert time.monotonic() - began < 5
    assert [e["status"] for e in done["statusHistory"]] == FILLED and done["dexUsed"] == "meteora"


async def test_a_pool_opening_later_fires_the_sniper_at_the_opening_not_before(snipers: Stack) -> None:
    name = symbol()
    opens = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0) + timedelta(seconds=1)
    async with httpx.AsyncClient(base_url=snipers.base_url, timeout=10) as client:
        order_id = await submit(client, sniper_body(name))
        launched = await client.post(
            "/api/sim/launches", json=launch_body(name, opensAt=opens.isoformat().replace("+00:00", "Z"))
        )
        assert launched.status_code == 201 and launched.json()["opensAt"] == opens.isoformat().replace("+00:00", "Z")
        early = await client.get("/api/market/quote", params={"tokenIn": "SOL", "tokenOut": name, "amountIn": "1"})
        assert early.status_code == 503 and "not open yet" in early.json()["detail"]
        assert (await client.get(f"/api/orders/{order_id}")).json()["status"] == "waiting"
        done = await wait_for(client, order_id, "confirmed", timeout_s=20)
    fired = datetime.fromisoformat(done["statusHistory"][2]["timestamp"].replace("Z", "+00:00"))
    assert opens <= fired < opens + timedelta(seconds=1)


async def test_the_launched_token_trades_as_any_other_afterwards(snipers: Stack) -> None:
    name = symbol()
    async with httpx.AsyncClient(base_url=snipers.base_url, timeout=10) as client:
        before = await client.post("/api/orders/execute", json={"tokenIn": "SOL", "tokenOut": name, "amountIn": "1"})
        assert before.status_code == 400 and before.json()["field"] == "tokenOut"
        assert (await client.post("/api/sim/launches", json=launch_body(name))).status_code == 201
        quote = await client.get("/api/market/quote", params={"tokenIn": "SOL", "tokenOut": name, "amountIn": "1"})
        assert quote.status_code == 200 and [q["venue"] for q in quote.json()["quotes"]] == ["raydium"]
        market = await submit(client, {"tokenIn": "SOL", "tokenOut": name, "amountIn": "1"})
        done = await wait_for(client, market, "confirmed")
        back = await submit(client, {"tokenIn": name, "tokenOut": "SOL", "amountIn": "1000"})
        sold = await wait_for(client, back, "confirmed")
    assert D(done["amountOut"]) > 0 and D(sold["amountOut"]) > 0 and done["dexUsed"] == "raydium"


async def test_a_symbol_already_registered_is_a_409(snipers: Stack, own_database: str) -> None:
    name = symbol()
    async with httpx.AsyncClient(base_url=snipers.base_url, timeout=10) as client:
        assert (await client.post("/api/sim/launches", json=launch_body(name))).status_code == 201
        count = await launches(own_database)
        again = await client.post("/api/sim/launches", json=launch_body(name.lower(), venue="meteora"))
        static = await client.post("/api/sim/launches", json=launch_body("USDC"))
    assert (again.status_code, again.json()["field"]) == (409, "symbol")
    assert (static.status_code, static.json()["field"]) == (409, "symbol")
    assert await launches(own_database) == count


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (sniper_body("PEPEZ", trigger=None), "trigger"),
        (sniper_body("PEPEZ", trigger={"event": "pool_updated"}), "trigger.event"),
        (sniper_body("PEPEZ", trigger={"venue": "orca"}), "trigger.venue"),
        (sniper_body("PEPEZ", trigger={"minLiquidity": "-1"}), "trigger.minLiquidity"),
        (sniper_body("PEPEZ", trigger={"minLiquidity": "1e3"}), "trigger.minLiquidity"),
        (sniper_body("PEPEZ", trigger={"minLiquidity": True}), "trigger.minLiquidity"),
        (sniper_body("PEPEZ", trigger={"minLiquidity": "20", "extra": 1}), "trigger.extra"),
        (sniper_body("PEPEZ", safety={"requireMintAuthorityRevoked": "yes"}), "safety.requireMintAuthorityRevoked"),
        (sniper_body("PEPEZ", safety={"requireFreezeAuthorityRevoked": 1}), "safety.requireFreezeAuthorityRevoked"),
        (sniper_body("PEPE-Z"), "tokenOut"),
        (sniper_body("PEPEZ", expiresAt="2020-01-01T00:00:00Z"), "expiresAt"),
        (sniper_body("PEPEZ", expiresAt="2099-01-01T00:00:00Z"), "expiresAt"),
        (sniper_body("PEPEZ", slippageBps=5001), "slippageBps"),
        (sniper_body("PEPEZ", limitPrice="1"), "limitPrice"),
        ({"tokenIn": "SOL", "tokenOut": "PEPEZ", "amountIn": "1"}, "tokenOut"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "trigger": {}}, "trigger"),
        ({"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1", "safety": {}}, "safety"),
    ],
    ids=[
        "no-trigger",
        "event",
        "venue",
        "negative-liq",
        "exponent-liq",
        "bool-liq",
        "extra-key",
        "mint-flag",
        "freeze-flag",
        "symbol",
        "past",
        "too-far",
        "slippage",
        "limit-price",
        "market-unknown",
        "market-trigger",
        "market-safety",
    ],  # fmt: skip
)
async def test_bad_sniper_input_is_a_400_naming_the_field_and_writes_nothing(
    snipers: Stack, own_database: str, body: dict[str, Any], field: str
) -> None:
    await assert_rejected(snipers.base_url, own_database, body, field)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"symbol": "PE-PE"}, "symbol"),
        ({"decimals": 10}, "decimals"),
        ({"decimals": "6"}, "decimals"),
        ({"venue": "orca"}, "venue"),
        ({"quoteToken": "BONK"}, "quoteToken"),
        ({"initialPrice": "0"}, "initialPrice"),
        ({"initialPrice": "1e-6"}, "initialPrice"),
        ({"liquidity": "-5"}, "liquidity"),
        ({"liquidity": "0"}, "liquidity"),
        ({"mintAuthorityRevoked": "true"}, "mintAuthorityRevoked"),
        ({"freezeAuthorityRevoked": None}, "freezeAuthorityRevoked"),
        ({"opensAt": "soon"}, "opensAt"),
        ({"opensAt": "2099-01-01T00:00:00Z"}, "opensAt"),
        ({"extra": 1}, "extra"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else next(iter(v)),
)
async def test_bad_launch_input_is_a_400_naming_the_field_and_writes_nothing(
    snipers: Stack, own_database: str, change: dict[str, Any], field: str
) -> None:
    before = await launches(own_database)
    async with httpx.AsyncClient(base_url=snipers.base_url, timeout=10) as client:
        answer = await client.post("/api/sim/launches", json=launch_body(symbol()) | change)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field, answer.json()
    assert await launches(own_database) == before


@pytest.mark.timeout(60)
async def test_a_launch_while_no_watcher_runs_fires_the_sniper_when_one_takes_over(snipers: Stack) -> None:
    """The watcher is killed (-9), a sniper rests and its token launches; the watcher started next judges every
    sniper it rebuilt against the pools as they are, and fires it."""
    name = symbol()
    snipers.kill("watcher0")
    async with httpx.AsyncClient(base_url=snipers.base_url, timeout=10) as client:
        order_id = await submit(client, sniper_body(name))
        assert (await client.post("/api/sim/launches", json=launch_body(name))).status_code == 201
        await asyncio.sleep(1.0)
        assert (await client.get(f"/api/orders/{order_id}")).json()["status"] == "waiting"
        snipers.add_watcher("watcher0")
        done = await wait_for(client, order_id, "confirmed", timeout_s=30)
    assert [e["status"] for e in done["statusHistory"]] == FILLED


async def test_the_cli_launches_a_token_a_sniper_waits_for_and_says_409_again(snipers: Stack) -> None:
    """`order-engine sim launch` (the README's walk-through): the sniper armed first fills; the same symbol again
    exits 2 with the API's message."""
    name = symbol()
    async with httpx.AsyncClient(base_url=snipers.base_url, timeout=10) as client:
        order_id = await submit(client, sniper_body(name))

        def launch() -> subprocess.CompletedProcess[str]:
            command = cli("sim", "launch", name, "--price", "0.000001", "--liquidity", "50", "--url", snipers.base_url)
            return subprocess.run(command, env=snipers.env, capture_output=True, text=True, timeout=30)

        first = await asyncio.to_thread(launch)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith(f"launched {name} (mint ") and f"pool {name}/SOL on raydium" in first.stdout
        await wait_for(client, order_id, "confirmed")
        again = await asyncio.to_thread(launch)
    assert again.returncode == 2 and "409" in again.stderr and name in again.stderr, again.stderr


@pytest.fixture(scope="module")
def lane_database(database_url: str, redis_url: str) -> Iterator[str]:
    """A second database of the module's own, for the rate-limited stack (its watcher must not see the first's)."""
    yield from migrated_database_of_its_own(database_url, redis_url)


@pytest.mark.timeout(120)
async def test_a_sniper_does_not_wait_behind_an_exhausted_start_rate_limit(
    lane_database: str, start_stack: Any
) -> None:
    """One market order may start per minute: the other two wait `pending`; a sniper triggered meanwhile fills."""
    limited = start_stack(
        "lane",
        watchers=1,
        database_url=lane_database,
        ORDER_ENGINE_RATE_LIMIT="1",
        ORDER_ENGINE_RATE_LIMIT_WINDOW_S="60",
    )
    name = symbol()
    async with httpx.AsyncClient(base_url=limited.base_url, timeout=10) as client:
        market = [await submit(client, {"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "0.1"}) for _ in range(3)]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # whichever took the one turn of this window
            states = [(await client.get(f"/api/orders/{oid}")).json()["status"] for oid in market]
            if "confirmed" in states:
                break
            await asyncio.sleep(0.05)
        sniper = await submit(client, sniper_body(name))
        assert (await client.post("/api/sim/launches", json=launch_body(name))).status_code == 201
        await wait_for(client, sniper, "confirmed", timeout_s=15)
        held = sorted([(await client.get(f"/api/orders/{oid}")).json()["status"] for oid in market])
    assert held == ["confirmed", "pending", "pending"]


@pytest.fixture(scope="module")
def line_database(database_url: str, redis_url: str) -> Iterator[str]:
    """A third database of the module's own, for the two-worker stack."""
    yield from migrated_database_of_its_own(database_url, redis_url)


async def watcher_holds(redis_url: str, prefix: str, n: int, timeout_s: float = 15) -> None:
    """Until the active watcher reports `n` resting orders (so that one launch fires them all in one batch)."""
    r = aioredis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout_s
        while int((await r.hget(f"{prefix}:watcher:status", "resting")) or -1) != n:
            assert time.monotonic() < deadline, "the watcher never held every sniper"
            await asyncio.sleep(0.05)
    finally:
        await r.aclose()


@pytest.mark.timeout(120)
async def test_the_snipers_of_one_launch_swap_in_submission_order_across_jobs_and_workers(
    line_database: str, redis_url: str, start_stack: Any
) -> None:
    """Two worker processes with four snipers in flight each: the 40 snipers of one launch still swap one after
    the other in the order they were submitted (their slots), each against the pool as those before left it (each
    gets less than the one before), and their line is empty afterwards."""
    lined = start_stack(
        "line",
        workers=2,
        watchers=1,
        database_url=line_database,
        ORDER_ENGINE_SNIPER_CONCURRENCY="4",
        ORDER_ENGINE_API_DB_POOL_SIZE="4",
    )
    name = symbol()
    try:
        async with httpx.AsyncClient(base_url=lined.base_url, timeout=10) as client:
            ids = [await submit(client, sniper_body(name, amountIn="0.1", slippageBps=5000)) for _ in range(40)]
            await watcher_holds(redis_url, lined.key_prefix, 40)
            assert (await client.post("/api/sim/launches", json=launch_body(name))).status_code == 201
            done = [await wait_for(client, oid, "confirmed", timeout_s=30) for oid in ids]
    finally:
        lined.stop()  # its connections go before the module's databases are dropped
    slots = [o["statusHistory"][-1]["metadata"]["slot"] for o in done]
    assert slots == sorted(slots) and len(set(slots)) == 40, slots
    outs = [D(o["amountOut"]) for o in done]
    assert outs == sorted(outs, reverse=True) and len(set(outs)) == 40
    assert {o["statusHistory"][2]["metadata"]["pool"] for o in done} == {f"{name}/SOL"}
    r = aioredis.Redis.from_url(redis_url)
    try:
        assert await r.zcard(f"{lined.key_prefix}:swap-line:{name}/SOL") == 0
    finally:
        await r.aclose()
