"""The mock chain (Redis-backed, idempotent per order) and the mock venues' quotes."""

from __future__ import annotations

import asyncio
import uuid
from decimal import ROUND_DOWN
from decimal import Decimal as D

import base58
import pytest

from order_engine.adapters.mock_dex.chain import GENESIS_SLOT, RedisMockChain
from order_engine.adapters.mock_dex.venue import METEORA, RAYDIUM, MockVenue
from order_engine.domain.errors import DexUnavailable, UnsupportedPair
from order_engine.domain.ports import SwapRequest

USDC_QUANTUM = D("0.000001")


@pytest.fixture
def make_chain(redis, key_prefix):
    prefix = f"{key_prefix}-{uuid.uuid4().hex[:8]}"

    def make(**kwargs) -> RedisMockChain:
        kwargs = {"latency_scale": 0, "seed": "chain-seed", **kwargs}
        return RedisMockChain(redis, prefix=prefix, **kwargs)

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


async def test_confirm_reports_price_and_amount_rounded_down_to_token_decimals(make_chain):
    chain = make_chain(drift_bps=0, drift_mean_bps=25)
    request = swap()
    signature = await chain.submit(request, attempt=1)

    result = await chain.confirm(signature, attempt=1)

    price = D("151.123456789") * (1 + D("0.0025"))
    exact_out = D("1.234567891") * price * (1 - RAYDIUM.fee_rate)
    assert result.signature == signature
    assert result.error is None
    assert isinstance(result.executed_price, D) and isinstance(result.amount_out, D)
    assert result.executed_price == price
    assert result.amount_out == exact_out.quantize(USDC_QUANTUM, rounding=ROUND_DOWN)
    assert result.amount_out < exact_out  # there was something to round away, and it went down
    assert result.amount_out.as_tuple().exponent == -6
    assert result.slot > GENESIS_SLOT
    assert await chain.confirm(signature, attempt=2) == result  # confirming again reports the same swap


async def test_same_seed_gives_the_same_fate_on_another_chain(make_chain, redis, key_prefix):
    request = swap()
    sig = await make_chain(drift_bps=20).submit(request, attempt=1)
    twin = RedisMockChain(redis, prefix=f"{key_prefix}-{uuid.uuid4().hex[:8]}", latency_scale=0, seed="chain-seed")
    assert await twin.submit(request, attempt=3) == sig
    other = RedisMockChain(redis, prefix=f"{key_prefix}-{uuid.uuid4().hex[:8]}", latency_scale=0, seed="other")
    assert await other.submit(request, attempt=1) != sig


async def test_adverse_drift_below_the_floor_is_slippage_exceeded(make_chain):
    chain = make_chain(drift_bps=0, drift_mean_bps=-300)
    quoted_out = (D("2") * D("150") * (1 - RAYDIUM.fee_rate)).quantize(USDC_QUANTUM, rounding=ROUND_DOWN)
    request = swap(amount_in="2", price="150", min_out=str(quoted_out))

    result = await chain.confirm(await chain.submit(request, attempt=1), attempt=1)

    assert result.error == "slippage exceeded"
    assert result.executed_price == D("150") * D("0.97")
    assert result.amount_out < quoted_out


async def test_floor_met_exactly_is_not_slippage(make_chain):
    chain = make_chain(drift_bps=0, drift_mean_bps=0)
    quoted_out = (D("2") * D("150") * (1 - METEORA.fee_rate)).quantize(USDC_QUANTUM, rounding=ROUND_DOWN)
    request = swap(amount_in="2", price="150", min_out=str(quoted_out), venue="meteora")

    result = await chain.confirm(await chain.submit(request, attempt=1), attempt=1)

    assert result.error is None
    assert result.amount_out == quoted_out == D("299.4")


async def test_unavailable_chain_executes_nothing(make_chain):
    chain = make_chain(failure_rate=1.0)
    request = swap()

    for attempt in (1, 2, 3):
        with pytest.raises(DexUnavailable):
            await chain.submit(request, attempt=attempt)

    assert await chain.executions(request.order_id) == 0
    assert await chain.find(request.order_id) is None


async def test_confirm_of_unknown_signature_is_transient(make_chain):
    with pytest.raises(DexUnavailable):
        await make_chain().confirm(base58.b58encode(b"\x01" * 64).decode(), attempt=1)


# --- venues ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "low", "high"), [(RAYDIUM, "0.98", "1.02"), (METEORA, "0.97", "1.02")])
async def test_quotes_stay_in_the_reference_band_with_the_venue_fee(model, low, high):
    venue = MockVenue(model, latency_scale=0, seed="venue-seed")
    base = D("150")  # SOL/USDC at the reference prices
    prices = []
    for _ in range(200):
        quote = await venue.quote("SOL", "USDC", D("3"), order_id=uuid.uuid4(), attempt=1)
        assert base * D(low) <= quote.price <= base * D(high)
        assert quote.venue == model.name and quote.amount_in == D("3")
        assert quote.fee_rate == {"raydium": D("0.003"), "meteora": D("0.002")}[model.name]
        expected = (D("3") * quote.price * (1 - quote.fee_rate)).quantize(USDC_QUANTUM, rounding=ROUND_DOWN)
        assert quote.amount_out == expected
        prices.append(quote.price)
    spread = (max(prices) - min(prices)) / base
    assert spread > (D(high) - D(low)) / 2  # the draws really span the band


async def test_quote_is_deterministic_per_seed_order_and_attempt():
    order_id = uuid.uuid4()
    one = MockVenue(RAYDIUM, latency_scale=0, seed="s1")
    same = MockVenue(RAYDIUM, latency_scale=0, seed="s1")

    q1 = await one.quote("SOL", "USDC", D("1"), order_id=order_id, attempt=1)
    assert await same.quote("SOL", "USDC", D("1"), order_id=order_id, attempt=1) == q1
    assert (await one.quote("SOL", "USDC", D("1"), order_id=order_id, attempt=2)).price != q1.price
    other_seed = MockVenue(RAYDIUM, latency_scale=0, seed="s2")
    assert (await other_seed.quote("SOL", "USDC", D("1"), order_id=order_id, attempt=1)).price != q1.price


@pytest.mark.parametrize(("token_in", "token_out"), [("SOL", "DOGE"), ("FOO", "USDC")])
async def test_unknown_token_is_unsupported_pair(token_in, token_out):
    venue = MockVenue(METEORA, latency_scale=0, seed="s")
    with pytest.raises(UnsupportedPair):
        await venue.quote(token_in, token_out, D("1"), order_id=uuid.uuid4(), attempt=1)


async def test_unavailable_venue_raises_dex_unavailable():
    venue = MockVenue(RAYDIUM, latency_scale=0, failure_rate=1.0, seed="s")
    with pytest.raises(DexUnavailable):
        await venue.quote("SOL", "USDC", D("1"), order_id=uuid.uuid4(), attempt=1)
