"""The mock chain (Redis-backed, idempotent per order, trading against the venues' pools) and the mock venues'
quotes from those pools."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from decimal import Decimal as D

import base58
import pytest

from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.market.table import default_pools
from order_engine.adapters.mock_dex.chain import GENESIS_SLOT, RedisMockChain
from order_engine.adapters.mock_dex.venue import METEORA, RAYDIUM, MockVenue
from order_engine.domain import amm
from order_engine.domain.errors import DexUnavailable, UnsupportedPair
from order_engine.domain.ports import SwapRequest

USDC_QUANTUM = D("0.000001")


@pytest.fixture
async def pools(redis, key_prefix) -> RedisPoolStore:
    store = RedisPoolStore(redis, prefix=f"{key_prefix}-{uuid.uuid4().hex[:8]}")
    assert await store.seed(default_pools(seed="market-seed")) == 30
    return store


@pytest.fixture
def make_chain(redis, pools):
    def make(**kwargs) -> RedisMockChain:
        kwargs = {"latency_scale": 0, "seed": "chain-seed", "drift_bps": 0, **kwargs}
        return RedisMockChain(redis, prefix=pools._prefix, pools=pools, **kwargs)

    return make


def swap(
    order_id: uuid.UUID | None = None, *, amount_in="1.234567891", price="151.123456789", min_out="0", venue="raydium"
):
    return SwapRequest(
        order_id=order_id or uuid.uuid4(),
        venue=venue,
        token_in="SOL",
        token_out="USDC",
        amount_in=D(amount_in),
        quoted_price=D(price),
        min_amount_out=D(min_out),
    )


def units(amount: str, decimals: int) -> int:
    return int(D(amount).scaleb(decimals))


# --- chain -------------------------------------------------------------------------------------------


async def test_resubmitting_an_order_returns_the_same_signature_and_executes_once(make_chain):
    chain = make_chain()
    request = swap()

    first = await chain.submit(request, attempt=1)
    second = await chain.submit(request, attempt=2)
    third = await chain.submit(request, attempt=1)

    assert first == second == third
    assert 87 <= len(first) <= 88
    assert len(base58.b58decode(first)) == 64
    assert await chain.find(request.order_id) == first
    assert await chain.executions(request.order_id) == 1


@pytest.mark.parametrize("seed", ["chain-seed", None])
async def test_concurrent_submits_execute_once(make_chain, seed):
    chain = make_chain(seed=seed)  # unseeded, every call draws a different signature: only the first may land
    request = swap()

    signatures = await asyncio.gather(*(chain.submit(request, attempt=n) for n in range(1, 11)))

    assert len(set(signatures)) == 1
    assert await chain.find(request.order_id) == signatures[0]
    assert await chain.executions(request.order_id) == 1


async def test_find_unknown_order_is_none_and_orders_are_independent(make_chain):
    chain = make_chain()
    a, b = swap(), swap()
    sig_a = await chain.submit(a, attempt=1)
    sig_b = await chain.submit(b, attempt=1)

    assert sig_a != sig_b
    assert await chain.find(uuid.uuid4()) is None
    assert (await chain.executions(a.order_id), await chain.executions(b.order_id)) == (1, 1)
    assert await chain.executions(uuid.uuid4()) == 0


async def test_a_swap_trades_the_pool_and_reports_what_the_reserves_gave(make_chain, pools):
    chain = make_chain()
    before = await pools.get("raydium", "SOL", "USDC")
    other = await pools.get("meteora", "SOL", "USDC")
    request = swap()
    expected_units = amm.amount_out(before, "SOL", units("1.234567891", 9))

    result = await chain.confirm(await chain.submit(request, attempt=1), attempt=1)

    after = await pools.get("raydium", "SOL", "USDC")
    assert result.error is None
    assert result.amount_out == D(expected_units).scaleb(-6) and result.amount_out.as_tuple().exponent == -6
    assert result.executed_price == (result.amount_out / D("1.234567891")).quantize(D("1e-15"))
    assert (after.base_reserve, after.quote_reserve) == (
        before.base_reserve + units("1.234567891", 9),
        before.quote_reserve - expected_units,
    )
    assert after.version == before.version + 1
    assert result.slot > GENESIS_SLOT
    assert await chain.confirm(result.signature, attempt=2) == result  # confirming again reports the same swap
    assert await pools.get("meteora", "SOL", "USDC") == other  # only the venue it traded on moved


async def test_fifty_concurrent_swaps_move_the_pool_by_exactly_their_sum(make_chain, pools):
    """No lost update: each swap's output is what the reserves of its moment gave, and the reserves end where
    replaying the swaps in the order they committed (their slots) takes them."""
    chains = [make_chain(), make_chain()]  # as two worker processes: one serialises its own swaps, both race
    before = await pools.get("meteora", "SOL", "USDC")
    sizes = [D(n) / 7 for n in range(1, 51)]
    requests = [swap(amount_in=str(s.quantize(D("1e-9"))), venue="meteora") for s in sizes]

    signatures = await asyncio.gather(*(chains[n % 2].submit(r, attempt=1) for n, r in enumerate(requests)))
    results = await asyncio.gather(*(chains[0].confirm(sig) for sig in signatures))

    after = await pools.get("meteora", "SOL", "USDC")
    # One version per committed batch (the swaps in flight on a pool in one process go out together), at most one
    # per swap; every swap executed once.
    assert before.version < after.version <= before.version + 50 and all(r.error is None for r in results)
    assert [await chains[0].executions(r.order_id) for r in requests] == [1] * 50
    assert len({r.slot for r in results}) == 50
    replay = before
    for request, result in sorted(zip(requests, results, strict=True), key=lambda rr: rr[1].slot):
        replay, out = amm.swapped(replay, "SOL", units(str(request.amount_in), 9))
        assert D(out).scaleb(-6) == result.amount_out
    assert (replay.base_reserve, replay.quote_reserve) == (after.base_reserve, after.quote_reserve)
    assert after.base_reserve == before.base_reserve + sum(units(str(r.amount_in), 9) for r in requests)


async def test_swaps_in_flight_on_one_pool_go_out_together_and_a_repeated_order_executes_once(make_chain, pools):
    """Swaps submitted together go out together, in one script (one pool version per committed batch), and those
    arriving while a batch is in flight in the next; the same order twice in one batch is one execution with one
    signature."""
    chain = make_chain()
    before = await pools.get("meteora", "SOL", "USDC")
    requests = [swap(venue="meteora") for _ in range(20)]
    first = asyncio.gather(*(chain.submit(r, attempt=1) for r in [*requests[:15], requests[3]]))
    await asyncio.sleep(0.001)  # that batch is on its way
    later = asyncio.gather(*(chain.submit(r, attempt=1) for r in requests[15:]))
    together, after_it = await first, await later
    after = await pools.get("meteora", "SOL", "USDC")
    assert after.version == before.version + 2  # the first 15 (and a repeat) in one script, the other 5 in one
    signatures = [*together[:15], *after_it, together[15]]
    assert signatures[20] == signatures[3] and len(set(signatures)) == 20
    assert [await chain.executions(r.order_id) for r in requests] == [1] * 20


async def test_same_seed_gives_the_same_fate_on_another_chain(redis, key_prefix):
    request = swap()

    async def chain_with(seed: str) -> RedisMockChain:
        store = RedisPoolStore(redis, prefix=f"{key_prefix}-{uuid.uuid4().hex[:8]}")
        await store.seed(default_pools(seed="market-seed"))
        return RedisMockChain(redis, prefix=store._prefix, pools=store, latency_scale=0, seed=seed)

    sig = await (await chain_with("chain-seed")).submit(request, attempt=1)
    assert await (await chain_with("chain-seed")).submit(request, attempt=3) == sig
    assert await (await chain_with("other")).submit(request, attempt=1) != sig


async def test_adverse_drift_below_the_floor_is_slippage_exceeded_and_the_order_does_not_trade(make_chain, pools):
    chain = make_chain(drift_mean_bps=-300)
    before = await pools.get("raydium", "SOL", "USDC")
    quoted = amm.quote(before, "SOL", D("2"))
    request = swap(amount_in="2", min_out=str(quoted.amount_out))

    result = await chain.confirm(await chain.submit(request, attempt=1), attempt=1)

    moved = await pools.get("raydium", "SOL", "USDC")
    assert result.error == "slippage exceeded"
    assert result.amount_out < quoted.amount_out
    assert result.amount_out == pytest.approx(quoted.amount_out * D("0.97"), rel=D("0.001"))
    # The market fell 3 % (other traders); the order itself sold nothing into the pool.
    assert amm.mid_price(moved, "SOL", "USDC") == pytest.approx(
        amm.mid_price(before, "SOL", "USDC") * D("0.97"), rel=D("1e-6")
    )
    assert moved.version == before.version + 1
    assert await chain.executions(request.order_id) == 1  # it landed, and reverted


async def test_floor_met_exactly_is_not_slippage(make_chain, pools):
    chain = make_chain(drift_mean_bps=0)
    quoted = amm.quote(await pools.get("meteora", "SOL", "USDC"), "SOL", D("2"))
    request = swap(amount_in="2", min_out=str(quoted.amount_out), venue="meteora")

    result = await chain.confirm(await chain.submit(request, attempt=1), attempt=1)

    assert result.error is None
    assert result.amount_out == quoted.amount_out


async def test_unavailable_chain_executes_nothing(make_chain):
    chain = make_chain(failure_rate=1.0)
    request = swap()

    for attempt in (1, 2, 3):
        with pytest.raises(DexUnavailable):
            await chain.submit(request, attempt=attempt)

    assert await chain.executions(request.order_id) == 0
    assert await chain.find(request.order_id) is None


@contextlib.contextmanager
def commands_sent(redis) -> Iterator[list[tuple]]:
    """The commands `redis` sends inside the block, each as its arguments."""
    sent: list[tuple] = []
    real = redis.execute_command

    async def counted(*args, **kwargs):
        sent.append(args)
        return await real(*args, **kwargs)

    redis.execute_command = counted
    try:
        yield sent
    finally:
        del redis.execute_command


async def test_confirm_of_unknown_signature_is_transient(make_chain):
    with pytest.raises(DexUnavailable):
        await make_chain().confirm(base58.b58encode(b"\x01" * 64).decode(), attempt=1)


async def test_a_confirmation_is_one_read_and_a_swap_recorded_the_old_way_still_confirms(make_chain, redis, pools):
    chain = make_chain()
    request = swap()
    signature = await chain.submit(request, attempt=1)
    with commands_sent(redis) as reads:
        result = await chain.confirm(signature, attempt=1)
    assert [r[0] for r in reads] == ["GET"] and result.error is None and result.amount_out > 0
    # Before the record was kept under the signature too, the signature key held the order id.
    await redis.set(f"{pools._prefix}:chain:sig:{signature}", str(request.order_id))
    assert await chain.confirm(signature, attempt=1) == result


async def test_confirmations_in_flight_together_are_one_read(make_chain, redis, pools):
    chain = make_chain()
    requests = [swap() for _ in range(12)]
    signatures = [await chain.submit(r, attempt=1) for r in requests]
    with commands_sent(redis) as reads:
        results = await asyncio.gather(*(chain.confirm(s, attempt=1) for s in signatures))
    assert [r[0] for r in reads] == ["MGET"]  # asked together: one read
    assert len(reads[0]) == 1 + 12
    assert [r.signature for r in results] == signatures and all(r.amount_out > 0 for r in results)


async def test_the_blockhash_is_read_once_per_slot_time(make_chain, redis, pools):
    chain = make_chain()
    first = await chain.recent_blockhash()
    await redis.incr(f"{pools._prefix}:chain:slot")
    assert await chain.recent_blockhash() == first  # within the slot: the one read before
    chain._blockhash = (chain._blockhash[0] - 1, chain._blockhash[1])  # a slot time later
    assert await chain.recent_blockhash() != first


# --- venues ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [RAYDIUM, METEORA], ids=["raydium", "meteora"])
async def test_a_quote_is_what_the_venue_s_pool_gives_now(model, pools):
    venue = MockVenue(model, pools, latency_scale=0, seed="venue-seed")
    pool = await pools.get(model.name, "SOL", "USDC")
    quote = await venue.quote("SOL", "USDC", D("3"), order_id=uuid.uuid4(), attempt=1)
    expected = amm.quote(pool, "SOL", D("3"))
    assert (quote.venue, quote.amount_in, quote.price, quote.amount_out) == (
        model.name, D("3"), expected.price, expected.amount_out
    )  # fmt: skip
    assert quote.fee_rate == {"raydium": D("0.003"), "meteora": D("0.002")}[model.name]
    assert D(145) < quote.price < D(155)  # SOL near its $150 reference
    back = await venue.quote("USDC", "SOL", D("450"), order_id=uuid.uuid4(), attempt=1)  # the other way round
    assert back.price == pytest.approx(1 / quote.price, rel=D("1e-20"))


async def test_the_venues_differ_and_wsol_trades_in_the_sol_pools(pools):
    raydium, meteora = (MockVenue(m, pools, latency_scale=0) for m in (RAYDIUM, METEORA))
    r = await raydium.quote("SOL", "USDC", D("1"), order_id=uuid.uuid4(), attempt=1)
    m = await meteora.quote("SOL", "USDC", D("1"), order_id=uuid.uuid4(), attempt=1)
    assert r.price != m.price
    w = await raydium.quote("WSOL", "USDC", D("1"), order_id=uuid.uuid4(), attempt=1)
    assert w.price == r.price


@pytest.mark.parametrize(("token_in", "token_out"), [("SOL", "DOGE"), ("FOO", "USDC")])
async def test_unknown_token_is_unsupported_pair(token_in, token_out, pools):
    venue = MockVenue(METEORA, pools, latency_scale=0, seed="s")
    with pytest.raises(UnsupportedPair):
        await venue.quote(token_in, token_out, D("1"), order_id=uuid.uuid4(), attempt=1)


async def test_unavailable_venue_raises_dex_unavailable(pools):
    venue = MockVenue(RAYDIUM, pools, latency_scale=0, failure_rate=1.0, seed="s")
    with pytest.raises(DexUnavailable):
        await venue.quote("SOL", "USDC", D("1"), order_id=uuid.uuid4(), attempt=1)


async def test_a_swap_computed_on_a_pool_someone_else_changed_is_recomputed_on_the_pool_as_it_is(
    make_chain, pools, redis
):
    """The chain remembers the pool after its own swap and sends the next one computed on it; when another
    writer changed the pool meanwhile, the script refuses and reports the pool as it is, and the swap is
    recomputed on that. Also when the pool was put back at a version seen before with other reserves (a
    restore from a snapshot): the reserves are compared too, so no swap ever lands on reserves it did not see."""
    chain = make_chain()
    await chain.submit(swap(), attempt=1)  # the chain now knows the pool after this swap
    other = await pools.trade("raydium", "USDC", "SOL", units("500", 6))  # someone else trades it
    before = await pools.get("raydium", "SOL", "USDC")
    assert before is not None and before.version == other.version
    second = swap(amount_in="2")
    await chain.submit(second, attempt=1)
    after = await pools.get("raydium", "SOL", "USDC")
    assert after == amm.swapped(before, "SOL", units("2", 9))[0]  # exactly one amm step from what it was
    # Put the pool back at the version the chain knows, with other reserves.
    key = pools.key("raydium", "SOL", "USDC")
    await redis.hset(key, mapping={"quote_reserve": str(after.quote_reserve * 2)})
    doubled = await pools.get("raydium", "SOL", "USDC")
    assert doubled is not None and doubled.version == after.version
    await chain.submit(swap(amount_in="1"), attempt=1)
    final = await pools.get("raydium", "SOL", "USDC")
    assert final == amm.swapped(doubled, "SOL", units("1", 9))[0]
    assert await chain.executions(second.order_id) == 1
