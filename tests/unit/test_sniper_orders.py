"""Sniper orders in the domain: validation of every new field, the launch conditions (venue, liquidity, opening,
safety), submission order and the impact of those before, the launch fee's decay — all on fakes.

Numbers: a launch pool of 50 SOL against 50 000 000 PEPE2 (1e-6 SOL each), Raydium's 0.3 % fee.
"""

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal as D

import attrs
import pytest
from fakes import T0, FakeClock, FakeQueue, FakeWatch, InMemoryOrderRepository, InMemorySwapLine, RecordingListener

from order_engine.adapters.wire import order_to_dict, payload_to_dict, sniper_terms_from_dict
from order_engine.domain import amm
from order_engine.domain.errors import InvalidOrder
from order_engine.domain.events import EventBus, OutOfTurn
from order_engine.domain.launches import Launch, LaunchRequest, launch_pool, validate_launch
from order_engine.domain.payloads import Rested
from order_engine.domain.ports import SwapRequest, SwapResult
from order_engine.domain.quotes import Quote
from order_engine.domain.requests import OrderRequest, Policy, new_order, request_fingerprint, validate
from order_engine.domain.resting_index import RestingIndex
from order_engine.domain.sniper_terms import Safety, SniperTrigger
from order_engine.domain.snipers import evaluate, submission_order
from order_engine.domain.status import OrderStatus as S
from order_engine.domain.status import OrderType, Step
from order_engine.domain.tokens import Token, forget_launched, register, token
from order_engine.domain.use_cases import ExecuteOrder, SubmitOrder
from order_engine.domain.use_cases.cancel_order import CancelOrder
from order_engine.domain.use_cases.resting import TriggerOrders

MINT = "PePe2MintXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"[:44].replace("X", "1")


@pytest.fixture(autouse=True)
def _static_tokens_only():
    forget_launched()
    yield
    forget_launched()


def sniper(amount: str = "0.5", **kw) -> OrderRequest:
    terms = {"trigger": SniperTrigger(venue="any", min_liquidity=D("20")), "safety": None} | kw
    return OrderRequest("SOL", terms.pop("token_out", "PEPE2"), D(amount), order_type="sniper", **terms)


def launch(*, mint_revoked: bool = True, freeze_revoked: bool = True, opens_at=None) -> Launch:
    return Launch("PEPE2", MINT, 6, "raydium", "SOL", mint_revoked, freeze_revoked, opens_at, T0)


def pool(venue: str = "raydium", sol: str = "50", *, opens_at=None, fee_bps: int = 30, **kw) -> amm.Pool:
    request = LaunchRequest("PEPE2", 6, venue, "SOL", D("0.000001"), D(sol), opens_at=opens_at)
    return launch_pool(request, now=T0, fee_bps=fee_bps, **kw)


def waiting(request: OrderRequest, at=T0, order_id: uuid.UUID | None = None):
    return new_order(validate(request, now=at), order_id or uuid.uuid4(), at)


# --- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "field", "part"),
    [
        pytest.param(sniper(trigger=None), "trigger", "required", id="no-trigger"),
        pytest.param(sniper(trigger=SniperTrigger(event="pool_updated")), "trigger.event", "pool_created", id="event"),
        pytest.param(sniper(trigger=SniperTrigger(venue="orca")), "trigger.venue", "any, meteora, raydium", id="venue"),
        pytest.param(
            sniper(trigger=SniperTrigger(min_liquidity=D("-1"))), "trigger.minLiquidity", "0 or more", id="neg"
        ),
        pytest.param(
            sniper(trigger=SniperTrigger(min_liquidity=D("1e16"))), "trigger.minLiquidity", "at most", id="big"
        ),
        pytest.param(
            sniper(trigger=SniperTrigger(min_liquidity=D("0.0000000001"))), "trigger.minLiquidity", "9 decimal", id="dp"
        ),
        pytest.param(
            sniper(safety=Safety(require_mint_authority_revoked="yes")),  # type: ignore[arg-type]
            "safety.requireMintAuthorityRevoked",
            "true or false",
            id="mint-flag",
        ),
        pytest.param(
            sniper(safety=Safety(require_freeze_authority_revoked=1)),  # type: ignore[arg-type]
            "safety.requireFreezeAuthorityRevoked",
            "true or false",
            id="freeze-flag",
        ),
        pytest.param(sniper(expires_at=T0 - timedelta(seconds=1)), "expiresAt", "future", id="past"),
        pytest.param(sniper(expires_at=T0 + timedelta(hours=25)), "expiresAt", "within", id="too-far"),
        pytest.param(sniper(token_out="PEPE_2"), "tokenOut", "symbol", id="bad-symbol"),
        pytest.param(sniper(token_out="P"), "tokenOut", "symbol", id="short-symbol"),
        pytest.param(sniper(token_out="SOL"), "tokenOut", "differ", id="same"),
        pytest.param(sniper(slippage_bps=5001), "slippageBps", "0 to 5000", id="slippage"),
        pytest.param(sniper(limit_price=D("1")), "limitPrice", "limit orders only", id="limit-price"),
        pytest.param(sniper(time_in_force="GTC"), "timeInForce", "limit orders only", id="tif"),
        pytest.param(attrs.evolve(sniper(), token_in="PEPE3"), "tokenIn", "unknown token", id="unknown-token-in"),
        pytest.param(OrderRequest("SOL", "PEPE2", D("1")), "tokenOut", "unknown token", id="market-for-unknown-token"),
        pytest.param(
            OrderRequest("SOL", "PEPE2", D("1"), order_type="limit", limit_price=D("1")),
            "tokenOut",
            "unknown token",
            id="limit-for-unknown-token",
        ),
        pytest.param(
            OrderRequest("SOL", "USDC", D("1"), trigger=SniperTrigger()), "trigger", "sniper orders only", id="mkt"
        ),
        pytest.param(OrderRequest("SOL", "USDC", D("1"), safety=Safety()), "safety", "sniper orders only", id="mkt-s"),
    ],
)
def test_bad_sniper_requests_name_the_field(request_, field, part):
    with pytest.raises(InvalidOrder) as info:
        validate(request_, now=T0)
    assert (info.value.field, part in info.value.message) == (field, True), info.value.message


def test_defaults_an_unknown_symbol_or_a_mint_and_the_max_age():
    done = validate(sniper(token_out="pepe2", trigger=SniperTrigger(venue="RAYDIUM")), now=T0)
    assert (done.token_out, done.slippage_bps, done.trigger.venue) == ("PEPE2", 50, "raydium")
    assert done.safety == Safety(True, True)
    assert validate(sniper(token_out=MINT), now=T0).token_out == MINT  # a mint keeps its case
    order = new_order(done, uuid.uuid4(), T0, policy=Policy(sniper_max_age=timedelta(hours=2)))
    assert order.expires_at == T0 + timedelta(hours=2) and order.arm == 1
    assert [e.status for e in order.status_history] == [S.PENDING, S.WAITING]
    assert order.status_history[1].payload == Rested(arm=1)


def test_fingerprints_include_the_trigger_and_the_safety():
    def fp(request: OrderRequest) -> str:
        r = validate(request, now=T0)
        return request_fingerprint(
            r.token_in, r.token_out, r.amount_in, r.order_type, r.slippage_bps, trigger=r.trigger, safety=r.safety
        )

    assert fp(sniper()) == fp(sniper(trigger=SniperTrigger(venue="any", min_liquidity=D("20.00"))))
    assert fp(sniper()) == fp(sniper(safety=Safety()))  # the defaults, spelled out
    assert fp(sniper()) != fp(sniper(trigger=SniperTrigger(venue="raydium", min_liquidity=D("20"))))
    assert fp(sniper()) != fp(sniper(trigger=SniperTrigger(min_liquidity=D("21"))))
    assert fp(sniper()) != fp(sniper(safety=Safety(require_freeze_authority_revoked=False)))


async def test_a_sniper_is_accepted_waiting_in_one_insert_and_the_watcher_is_told():
    repo, watch = InMemoryOrderRepository(), FakeWatch()
    queue = FakeQueue(repo=repo)
    order = await SubmitOrder(repo=repo, queue=queue, clock=FakeClock(), watch=watch)(sniper())
    assert [e.status for e in order.status_history] == [S.PENDING, S.WAITING] and repo.added == [order.id]
    assert queue.enqueued == [] and watch.notices == [("rest", order.id, 1)]
    body = order_to_dict(order)
    assert body["trigger"] == {"event": "pool_created", "venue": "any", "minLiquidity": "20"}
    assert body["safety"] == {"requireMintAuthorityRevoked": True, "requireFreezeAuthorityRevoked": True}
    assert sniper_terms_from_dict(body["trigger"], body["safety"]) == (order.trigger, order.safety)


# --- conditions ------------------------------------------------------------------------------------------


def test_fires_on_a_deep_enough_open_pool_of_a_safe_token_with_what_it_saw():
    order = waiting(sniper())
    verdict = evaluate(order, [pool()], launch(), T0)
    assert verdict.hit is not None and verdict.hit.venue == "raydium"
    assert (verdict.hit.pool, verdict.hit.liquidity, verdict.hit.market_at) == ("PEPE2/SOL", D("50"), T0)
    meta = payload_to_dict(verdict.hit)
    assert set(meta) == {"venue", "effectivePrice", "marketAt", "pool", "liquidity"}


@pytest.mark.parametrize(
    ("order_kw", "pools", "record", "reason"),
    [
        pytest.param({}, [pool(sol="19.99")], launch(), "below the 20 asked", id="shallow"),
        pytest.param(
            {"trigger": SniperTrigger(venue="meteora", min_liquidity=D("20"))},
            [pool()],
            launch(),
            "not the venue asked for",
            id="venue",
        ),
        pytest.param({}, [pool(opens_at=T0 + timedelta(seconds=2))], launch(), "not open yet", id="not-open"),
        pytest.param({}, [pool()], launch(mint_revoked=False), "mint authority not revoked", id="mint"),
        pytest.param({}, [pool()], launch(freeze_revoked=False), "freeze authority not revoked", id="freeze"),
        pytest.param({}, [pool()], None, "mint authority not revoked", id="unknown-authorities"),
    ],
)
def test_does_not_fire_and_says_why(order_kw, pools, record, reason):
    verdict = evaluate(waiting(sniper(**order_kw)), pools, record, T0)
    assert verdict.hit is None and reason in verdict.reason


def test_checks_can_be_turned_off_and_min_liquidity_is_on_the_token_in_side():
    relaxed = sniper(safety=Safety(False, False), trigger=SniperTrigger(min_liquidity=D("50")))
    assert evaluate(waiting(relaxed), [pool()], launch(mint_revoked=False, freeze_revoked=False), T0).hit
    assert evaluate(waiting(sniper()), [], launch(), T0) == evaluate(waiting(sniper()), [], launch(), T0)
    assert evaluate(waiting(sniper()), [], launch(), T0).reason is None  # no pool yet: nothing to say


def test_opens_at_the_opening_not_before():
    opening = T0 + timedelta(seconds=2)
    order, pools = waiting(sniper()), [pool(opens_at=opening)]
    assert evaluate(order, pools, launch(), opening - timedelta(milliseconds=1)).hit is None
    assert evaluate(order, pools, launch(), opening).hit is not None


def test_the_pool_that_gives_the_most_is_the_venue_at_launch_the_decaying_fee_included():
    meteora = pool("meteora", fee_bps=20, launch_fee_bps=5000, fee_decay_ms=60_000)
    raydium = pool("raydium")
    assert evaluate(waiting(sniper()), [meteora, raydium], launch(), T0).hit.venue == "raydium"
    later = T0 + timedelta(seconds=60)
    assert evaluate(waiting(sniper()), [meteora, raydium], launch(), later).hit.venue == "meteora"


def test_the_launch_fee_decays_linearly_to_the_normal_fee():
    p = pool("meteora", fee_bps=20, launch_fee_bps=5000, fee_decay_ms=60_000)
    at = [amm.fee_bps_at(p, T0 + timedelta(seconds=s)) for s in (0, 15, 30, 59.999, 60, 3600)]
    assert at == [5000, 3755, 2510, 21, 20, 20]
    assert amm.fee_bps_at(p, T0 - timedelta(seconds=1)) == 5000  # before the opening: the launch fee
    assert amm.at(p, T0).fee_bps == 5000 and amm.at(p, T0 + timedelta(minutes=2)) == p
    assert amm.fee_bps_at(pool(), T0) == 30  # no schedule: the normal fee
    assert amm.quote(amm.at(p, T0), "SOL", D("1")).fee_rate == D("0.5")


# --- the index: by token, in submission order -------------------------------------------------------------


def test_snipers_are_indexed_by_the_token_they_want_in_submission_order():
    index = RestingIndex()
    first, second = waiting(sniper(), T0), waiting(sniper(), T0 + timedelta(seconds=1))
    by_mint = waiting(sniper(token_out=MINT), T0 + timedelta(seconds=2))
    other = waiting(sniper(token_out="DOGE9"))
    for order in (by_mint, second, other, first):
        assert index.add(order)
    assert index.wanted() == {"PEPE2", MINT, "DOGE9"}
    assert [o.id for o in index.snipers_wanting("PEPE2", MINT)] == [first.id, second.id, by_mint.id]
    index.remove(second.id)
    assert [o.id for o in index.snipers_wanting("PEPE2")] == [first.id]
    assert submission_order([by_mint, first]) == [first, by_mint]
    assert index.next_expiry() == T0 + timedelta(hours=24)


async def test_triggered_snipers_are_queued_on_their_lane_in_submission_order():
    repo, clock = InMemoryOrderRepository(), FakeClock()
    queue = FakeQueue(repo=repo)
    orders = [waiting(sniper(), T0 + timedelta(seconds=i)) for i in range(3)]
    for order in orders:
        repo.put(order)
    hits = [(o, evaluate(o, [pool()], launch(), T0).hit) for o in orders]
    done = await TriggerOrders(repo=repo, queue=queue, clock=clock)(hits)
    assert [o.status for o in done] == [S.TRIGGERED] * 3
    assert queue.enqueued == [o.id for o in orders] and queue.lanes == [OrderType.SNIPER] * 3


# --- execution: each sees the impact of those before ------------------------------------------------------


class PoolMarket:
    """One venue quoting from an in-memory pool, and a chain swapping against it (the floor enforced)."""

    name = "raydium"

    def __init__(self, pool_: amm.Pool) -> None:
        self.pool = pool_
        self.results: dict[str, SwapResult] = {}

    async def quote(self, token_in, token_out, amount_in, *, order_id, attempt) -> Quote:
        q = amm.quote(self.pool, "SOL", amount_in)
        return Quote(self.name, q.price, q.fee_rate, amount_in, q.amount_out)

    async def recent_blockhash(self) -> str:
        return "11111111111111111111111111111111"

    async def find(self, order_id):
        return None

    async def submit(self, swap: SwapRequest, *, attempt: int) -> str:
        units = int(swap.amount_in.scaleb(9))
        out = amm.amount_out(self.pool, "SOL", units)
        got = D(out).scaleb(-6)
        error = None if got >= swap.min_amount_out else "slippage exceeded"
        if error is None:
            self.pool = amm.swapped(self.pool, "SOL", units)[0]
        signature = f"sig{swap.order_id.hex}"
        self.results[signature] = SwapResult(signature, got / swap.amount_in, got, 1, error)
        return signature

    async def confirm(self, signature: str, *, attempt: int) -> SwapResult:
        return self.results[signature]


async def test_snipers_on_one_launch_run_in_submission_order_and_one_past_its_floor_fails():
    register(Token("PEPE2", MINT, 6))
    repo, clock, market = InMemoryOrderRepository(), FakeClock(), PoolMarket(pool())
    # 10 SOL into a 50 SOL pool moves the price ~44 %: the next one, allowing 15 %, cannot follow at the launch
    # price; the one after it allows 50 % and still gets in.
    requests = [sniper("10", slippage_bps=1500), sniper("1", slippage_bps=1500), sniper("1", slippage_bps=5000)]
    orders = [waiting(r, T0 + timedelta(seconds=i)) for i, r in enumerate(requests)]
    for order in orders:
        repo.put(order)
    hits = [(o, evaluate(o, [market.pool], launch(), T0).hit) for o in submission_order(orders)]
    await TriggerOrders(repo=repo, queue=FakeQueue(), clock=clock)(hits)
    execute = ExecuteOrder(repo=repo, venues=[market], chain=market, events=EventBus(), clock=clock)
    done = [await execute(o.id, attempt=3) for o in orders]  # the lane's order, one at a time
    assert [o.status for o in done] == [S.CONFIRMED, S.FAILED, S.CONFIRMED]
    assert done[1].failure_reason == "slippage exceeded"
    failed = payload_to_dict(done[1].status_history[-1].payload)
    assert D(failed["amountOut"]) < D(failed["minAmountOut"])
    # the floor is 15 % below what the launch gave it, not below the moved market
    fired = done[1].status_history[2].payload
    assert D(failed["minAmountOut"]) == (D("1") * fired.effective_price * D("0.85")).quantize(D("0.000001"))
    assert [e.status for e in done[0].status_history] == [
        S.PENDING,
        S.WAITING,
        S.TRIGGERED,
        S.ROUTING,
        S.BUILDING,
        S.SUBMITTED,
        S.CONFIRMED,
    ]


class SwapLog(PoolMarket):
    """PoolMarket that records the order swaps reach it in, and yields in its quote and blockhash (as a network
    call would), so that concurrent executions interleave."""

    def __init__(self, pool_: amm.Pool) -> None:
        super().__init__(pool_)
        self.swapped: list[uuid.UUID] = []

    async def quote(self, token_in, token_out, amount_in, *, order_id, attempt) -> Quote:
        await asyncio.sleep(0)
        return await super().quote(token_in, token_out, amount_in, order_id=order_id, attempt=attempt)

    async def recent_blockhash(self) -> str:
        await asyncio.sleep(0.002)
        return await super().recent_blockhash()

    async def submit(self, swap: SwapRequest, *, attempt: int) -> str:
        self.swapped.append(swap.order_id)
        return await super().submit(swap, attempt=attempt)


async def triggered_snipers(n: int, line: InMemorySwapLine, market: PoolMarket, repo) -> list:
    orders = [waiting(sniper("0.1", slippage_bps=5000), T0 + timedelta(seconds=i)) for i in range(n)]
    for order in orders:
        repo.put(order)
    hits = [(o, evaluate(o, [market.pool], launch(), T0).hit) for o in orders]
    await TriggerOrders(repo=repo, queue=FakeQueue(), clock=FakeClock(), line=line)(hits)
    return orders


async def test_snipers_executing_at_once_swap_in_submission_order_through_their_line():
    register(Token("PEPE2", MINT, 6))
    repo, line, market, listener = InMemoryOrderRepository(), InMemorySwapLine(), SwapLog(pool()), RecordingListener()
    orders = await triggered_snipers(8, line, market, repo)
    assert list(line.lines) == ["PEPE2/SOL"] and len(line.lines["PEPE2/SOL"]) == 8  # joined when triggered
    events = EventBus([listener])
    execute = ExecuteOrder(repo=repo, venues=[market], chain=market, events=events, clock=FakeClock(), line=line)
    # The jobs start in reverse order, all at once: the swaps still reach the pool in submission order.
    done = await asyncio.gather(*(execute(o.id) for o in reversed(orders)))
    assert [o.status for o in done] == [S.CONFIRMED] * 8
    assert market.swapped == [o.id for o in orders]
    by_id = {o.id: o for o in done}
    outs = [by_id[o.id].amount_out for o in orders]
    assert outs == sorted(outs, reverse=True) and len(set(outs)) == 8  # each after the impact of those before
    assert line.lines["PEPE2/SOL"] == {} and listener.of(OutOfTurn) == []


async def test_a_cancelled_sniper_leaves_its_line_and_one_ahead_that_never_leaves_is_waited_for_a_bound_only():
    register(Token("PEPE2", MINT, 6))
    repo, line, market, listener = InMemoryOrderRepository(), InMemorySwapLine(), SwapLog(pool()), RecordingListener()
    first, second, third = await triggered_snipers(3, line, market, repo)
    cancel = CancelOrder(repo=repo, clock=FakeClock(), events=EventBus())
    await cancel(second.id)
    execute = ExecuteOrder(
        repo=repo,
        venues=[market],
        chain=market,
        events=EventBus([listener]),
        clock=FakeClock(),
        line=line,
        turn_wait_s=0.05,
    )
    assert (await execute(second.id)).status is S.CANCELLED  # its job finds it cancelled, and it leaves
    assert second.id in line.left and second.id not in line.lines["PEPE2/SOL"]
    # The first one's job has died (it never runs here): the third waits its bound out, then swaps anyway.
    assert (await execute(third.id)).status is S.CONFIRMED
    [late] = listener.of(OutOfTurn)
    assert late.order_id == third.id and late.line == "PEPE2/SOL" and late.waited_s >= 0.05
    assert market.swapped == [third.id]
    assert (await execute(first.id)).status is S.CONFIRMED  # its retry, later
    assert line.lines["PEPE2/SOL"] == {}


async def test_an_attempt_that_finds_its_swap_sent_by_a_dead_one_leaves_the_line():
    """The attempt before sent the swap and died before it could leave: the next finds the swap on chain, settles
    it, and leaves, so that those behind it do not wait their bound out."""
    register(Token("PEPE2", MINT, 6))
    repo, line, market = InMemoryOrderRepository(), InMemorySwapLine(), SwapLog(pool())
    first, second = await triggered_snipers(2, line, market, repo)
    clock = FakeClock()
    built = await ExecuteOrder(repo=repo, venues=[market], chain=market, events=EventBus(), clock=clock)._route(
        await repo.get(first.id), 1, clock.now()
    )
    assert built.status is S.BUILDING  # routed and built in one write
    signature = await market.submit(  # the dead attempt's swap
        SwapRequest(first.id, "raydium", "SOL", "PEPE2", first.amount_in, D("1"), D("0")), attempt=1
    )
    market.find = lambda order_id: asyncio.sleep(0, signature if order_id == first.id else None)
    execute = ExecuteOrder(repo=repo, venues=[market], chain=market, events=EventBus(), clock=clock, line=line)
    assert (await execute(first.id, attempt=2)).status is S.CONFIRMED
    assert first.id in line.left and list(line.lines["PEPE2/SOL"]) == [second.id]


async def test_a_sniper_out_of_any_line_does_not_wait():
    register(Token("PEPE2", MINT, 6))
    repo, line, market = InMemoryOrderRepository(), InMemorySwapLine(), SwapLog(pool())
    [order] = await triggered_snipers(1, InMemorySwapLine(), market, repo)  # joined another process's line
    execute = ExecuteOrder(repo=repo, venues=[market], chain=market, events=EventBus(), clock=FakeClock(), line=line)
    assert (await execute(order.id)).status is S.CONFIRMED


async def test_a_sniper_routes_only_to_the_venue_it_named():
    register(Token("PEPE2", MINT, 6))
    repo, clock = InMemoryOrderRepository(), FakeClock()
    raydium, meteora = PoolMarket(pool()), PoolMarket(pool("meteora", fee_bps=1))
    meteora.name = "meteora"
    order = waiting(sniper(trigger=SniperTrigger(venue="raydium")))
    repo.put(order)
    triggered = evaluate(order, [raydium.pool], launch(), T0).hit
    await repo.apply(order.change(Step.TRIGGER, clock.now(), attempt=0, payload=triggered))
    execute = ExecuteOrder(repo=repo, venues=[raydium, meteora], chain=raydium, events=EventBus(), clock=clock)
    done = await execute(order.id, attempt=1)
    assert done.status is S.CONFIRMED and done.dex_used == "raydium"
    assert token("pepe2") == Token("PEPE2", MINT, 6) and token(MINT).symbol == "PEPE2"


# --- launches --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"symbol": "PEPE-2"}, "symbol"),
        ({"symbol": "P"}, "symbol"),
        ({"decimals": 10}, "decimals"),
        ({"decimals": True}, "decimals"),
        ({"venue": "orca"}, "venue"),
        ({"quote_token": "BONK"}, "quoteToken"),
        ({"quote_token": "NOPE"}, "quoteToken"),
        ({"initial_price": D(0)}, "initialPrice"),
        ({"initial_price": D("1e30")}, "initialPrice"),
        ({"liquidity": D(0)}, "liquidity"),
        ({"liquidity": D("1e13")}, "liquidity"),
        ({"liquidity": D("1.0000000001")}, "liquidity"),
        ({"opens_at": T0 + timedelta(days=8)}, "opensAt"),
    ],
)
def test_bad_launches_name_the_field(change, field):
    request = attrs.evolve(LaunchRequest("PEPE2", 6, "raydium", "SOL", D("0.000001"), D("50")), **change)
    with pytest.raises(InvalidOrder) as info:
        validate_launch(request, now=T0)
    assert info.value.field == field, info.value.message


def test_a_launch_pool_holds_the_liquidity_at_the_initial_price():
    request = validate_launch(LaunchRequest("pepe2", 6, "Raydium", "sol", D("0.000001"), D("50")), now=T0)
    p = launch_pool(request, now=T0, fee_bps=30)
    assert (p.base, p.quote, p.venue, p.base_reserve, p.quote_reserve) == (
        "PEPE2",
        "SOL",
        "raydium",
        50_000_000 * 10**6,
        50 * 10**9,
    )
    assert amm.mid_price(p, "PEPE2", "SOL") == D("0.000001") and amm.is_open(p, T0)


def test_a_rebuild_indexes_snipers_with_the_limits():
    from test_limit_orders import resting

    index = RestingIndex()
    first, second, lim = waiting(sniper(), T0), waiting(sniper(), T0 + timedelta(seconds=1)), resting("140")
    assert index.add_many([second, lim, first]) == {("SOL", "USDC")}
    assert [o.id for o in index.snipers_wanting("PEPE2")] == [first.id, second.id] and len(index) == 3
    assert index.wanted() == {"PEPE2"} and index.remove(first.id) == first
    assert [o.id for o in index.snipers_wanting("PEPE2")] == [second.id]


def test_random_launches_are_valid_and_a_function_of_the_rng():
    import random

    from order_engine.adapters.market.launch_flow import random_launch

    draws = [random_launch(random.Random(n), T0) for n in range(200)]
    assert draws[:5] == [random_launch(random.Random(n), T0) for n in range(5)]
    for request in draws:
        assert validate_launch(request, now=T0) == request  # valid, and already in normal form
    assert {r.venue for r in draws} == {"raydium", "meteora"}
    assert any(r.opens_at is None for r in draws) and any(r.opens_at is not None for r in draws)
    assert any(not r.mint_authority_revoked for r in draws) and all(r.quote_token == "SOL" for r in draws)
