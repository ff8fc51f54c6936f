"""Limit orders in the domain: validation, the floor, acceptance (GTC/GTD/IOC), re-arm, cancel, and the
watcher's index — all on the fakes.

Numbers: a SOL/USDC pool of 10 000 SOL at 150 USDC, fee 0.3 %; selling 2 SOL gives
2 × 150 × 0.997 / (1 + 2 × 0.997 / 10 000) = 299.04036… USDC (effective ≈ 149.52), mid × (1 − fee) = 149.55.
"""

import uuid
from datetime import timedelta
from decimal import Decimal as D

import attrs
import pytest
from fakes import (
    T0,
    FakeChain,
    FakeClock,
    FakeMarket,
    FakeQueue,
    FakeWatch,
    InMemoryOrderRepository,
    ScriptedVenue,
    sol_usdc_pool,
)

from order_engine.adapters.wire import payload_to_dict
from order_engine.domain import amm
from order_engine.domain.errors import InvalidOrder, MarketUnavailable, TooLate
from order_engine.domain.events import EventBus
from order_engine.domain.limits import limit_floor
from order_engine.domain.order import Order
from order_engine.domain.payloads import Rested, Triggered
from order_engine.domain.requests import OrderRequest, new_order, validate
from order_engine.domain.resting_index import RestingIndex, bound
from order_engine.domain.status import OrderStatus as S
from order_engine.domain.status import OrderType, Step, TimeInForce
from order_engine.domain.tokens import TOKENS
from order_engine.domain.use_cases import ExecuteOrder, SubmitOrder
from order_engine.domain.use_cases.cancel_order import CancelOrder
from order_engine.domain.use_cases.resting import ExpireOrders, TriggerOrders

POOL = sol_usdc_pool()


def limit(price: str = "150", amount: str = "2", **kw) -> OrderRequest:
    return OrderRequest("SOL", "USDC", D(amount), order_type="limit", limit_price=D(price), **kw)


# --- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "field", "part"),
    [
        pytest.param(limit(slippage_bps=50), "slippageBps", "not used by limit orders", id="slippage"),
        pytest.param(attrs.evolve(limit(), limit_price=None), "limitPrice", "required", id="no-limit"),
        pytest.param(limit("0"), "limitPrice", "greater than 0", id="zero-limit"),
        pytest.param(limit("1e16"), "limitPrice", "at most", id="huge-limit"),
        pytest.param(limit("0.0000001", "1"), "limitPrice", "less than one unit", id="dust"),
        pytest.param(limit(time_in_force="FOK"), "timeInForce", "GTC, GTD, IOC", id="bad-tif"),
        pytest.param(limit(time_in_force="GTD"), "expiresAt", "required for GTD", id="gtd-no-expiry"),
        pytest.param(limit(time_in_force="GTD", expires_at=T0), "expiresAt", "future", id="gtd-past"),
        pytest.param(
            limit(time_in_force="GTD", expires_at=T0 + timedelta(days=31)), "expiresAt", "within", id="gtd-too-far"
        ),
        pytest.param(limit(expires_at=T0 + timedelta(hours=1)), "expiresAt", "GTD orders only", id="gtc-expiry"),
        pytest.param(
            limit(time_in_force="IOC", expires_at=T0 + timedelta(hours=1)), "expiresAt", "never rest", id="ioc-exp"
        ),
        pytest.param(
            OrderRequest("SOL", "USDC", D("1"), limit_price=D("150")), "limitPrice", "limit orders only", id="mkt"
        ),
        pytest.param(OrderRequest("SOL", "USDC", D("1"), time_in_force="GTC"), "timeInForce", "limit", id="mkt-tif"),
    ],
)
def test_bad_limit_requests_name_the_field(request_, field, part):
    with pytest.raises(InvalidOrder) as info:
        validate(request_, now=T0)
    assert (info.value.field, part in info.value.message) == (field, True), info.value.message


def test_gtc_is_the_default_and_gtd_within_the_max_age_is_fine():
    assert validate(limit(), now=T0).time_in_force == "GTC"
    gtd = validate(limit(time_in_force="GTD", expires_at=T0 + timedelta(days=30)), now=T0)
    assert gtd.time_in_force == "GTD" and gtd.slippage_bps is None


def test_the_floor_rounds_up_so_a_limit_never_fills_below_it():
    usdc = TOKENS["USDC"]
    assert limit_floor(D("2"), D("150"), usdc) == D("300.000000")
    assert limit_floor(D("0.333333333"), D("150.0000001"), usdc) == D("50.000000")  # 49.99999998333… ↑
    assert limit_floor(D("1"), D("0.0000011"), usdc) == D("0.000002")


def test_fingerprints_tell_limits_apart():
    def fp(req: OrderRequest) -> str:
        return new_order(validate(req, now=T0), uuid.uuid4(), T0, acceptance=Rested(arm=1)).request_fingerprint

    assert fp(limit("150")) == fp(limit("150.00"))
    assert fp(limit("150")) != fp(limit("151"))
    assert fp(limit()) != fp(limit(time_in_force="GTD", expires_at=T0 + timedelta(hours=1)))


# --- acceptance --------------------------------------------------------------------------------------------


def submitter(market: FakeMarket | None = None):
    repo, watch = InMemoryOrderRepository(), FakeWatch()
    queue = FakeQueue(repo=repo)
    clock = FakeClock()
    submit = SubmitOrder(repo=repo, queue=queue, clock=clock, market=market or FakeMarket([POOL]), watch=watch)
    return submit, repo, queue, watch


async def test_a_gtc_limit_is_accepted_waiting_in_one_insert_and_the_watcher_is_told():
    submit, repo, queue, watch = submitter()
    order = await submit(limit("160"))
    assert [e.status for e in order.status_history] == [S.PENDING, S.WAITING]
    assert repo.added == [order.id] and queue.enqueued == []
    assert watch.notices == [("rest", order.id, 1)]
    assert order.arm == 1 and order.time_in_force is TimeInForce.GTC and order.slippage_bps is None
    assert order.expires_at == order.created_at + timedelta(days=30)
    best = amm.quote(POOL, "SOL", D("2")).amount_out / 2
    assert payload_to_dict(order.status_history[1].payload) == {
        "arm": 1,
        "limitPrice": "160",
        "bestEffectivePrice": str(best.quantize(D("1e-25"))).rstrip("0"),
    }


async def test_a_resting_order_is_accepted_even_when_the_market_cannot_be_read():
    submit, _, _, watch = submitter(FakeMarket(error=OSError("redis down")))
    order = await submit(limit("160"))
    assert order.status is S.WAITING and order.status_history[1].payload.best_effective_price is None
    assert len(watch.notices) == 1


async def test_ioc_met_now_is_triggered_and_queued_under_its_arm():
    submit, _, queue, watch = submitter()
    order = await submit(limit("149", time_in_force="IOC"))
    assert [e.status for e in order.status_history] == [S.PENDING, S.TRIGGERED]
    assert queue.keys == [(order.id, 1)] and watch.notices == []
    payload = order.status_history[1].payload
    assert isinstance(payload, Triggered) and payload.venue == "raydium" and payload.effective_price >= D("149")


async def test_ioc_not_met_expires_at_once_and_nothing_runs():
    submit, _, queue, watch = submitter()
    order = await submit(limit("149.53", time_in_force="IOC"))  # effective 149.520… < 149.53
    assert [e.status for e in order.status_history] == [S.PENDING, S.EXPIRED]
    assert queue.enqueued == [] and watch.notices == []
    assert payload_to_dict(order.status_history[1].payload)["reason"] == "IOC: the limit was not met at acceptance"


async def test_ioc_without_a_market_is_refused_and_writes_nothing():
    submit, repo, queue, _ = submitter(FakeMarket(error=OSError("redis down")))
    with pytest.raises(MarketUnavailable):
        await submit(limit("149", time_in_force="IOC"))
    assert repo.orders == {} and queue.enqueued == []


# --- the watcher's index -----------------------------------------------------------------------------------


def resting(price: str, amount: str = "2", *, expires_in_s: float = 3600, order_id: uuid.UUID | None = None) -> Order:
    request = validate(
        limit(price, amount, time_in_force="GTD", expires_at=T0 + timedelta(seconds=expires_in_s)), now=T0
    )
    return new_order(request, order_id or uuid.uuid4(), T0, acceptance=Rested(arm=1, limit_price=D(price)))


def test_candidates_are_the_limits_up_to_the_bound_and_only_crossed_ones_trigger():
    index = RestingIndex()
    low, near, high = resting("140"), resting("149.54"), resting("149.6")
    whale = resting("149", amount="2000")  # its own impact: 2000 SOL into 10 000 gets ~124.6 each
    for order in (high, near, whale, low):
        assert index.add(order)
    assert bound([POOL], "SOL", "USDC") == D("149.55")
    assert [o.id for o in index.candidates("SOL", "USDC", D("149.55"))] == [low.id, whale.id, near.id]
    crossed = [o.id for o, _ in index.crossed([POOL], "SOL", "USDC")]
    assert crossed == [low.id]  # near: 149.52 effective < 149.54; whale: impact; high: above the bound
    assert index.crossed([POOL], "USDC", "SOL") == []


def test_an_order_is_indexed_once_and_replaced_only_by_a_newer_copy():
    index, order = RestingIndex(), resting("140")
    assert index.add(order) and not index.add(order)
    rearmed = attrs.evolve(order, status_history=(*order.status_history, order.status_history[-1]), arm=2)
    assert index.add(rearmed) and index.get(order.id).arm == 2 and len(index) == 1
    assert index.remove(order.id) is not None and index.candidates("SOL", "USDC", D("1000")) == []


def test_expiries_come_soonest_first_and_skip_removed_orders():
    index = RestingIndex()
    late, soon, gone = resting("1", expires_in_s=30), resting("1", expires_in_s=10), resting("1", expires_in_s=20)
    for order in (late, soon, gone):
        index.add(order)
    index.remove(gone.id)
    assert index.next_expiry() == T0 + timedelta(seconds=10)
    assert index.due(T0 + timedelta(seconds=29)) == [soon]
    assert index.due(T0 + timedelta(seconds=30)) == [late]
    index.expire_later([late])
    assert index.due(T0 + timedelta(seconds=31)) == [late]


async def test_trigger_and_expiry_are_batched_and_a_stale_order_loses_alone():
    repo, queue, clock = InMemoryOrderRepository(), FakeQueue(), FakeClock()
    a, b, c, d = resting("140"), resting("140"), resting("140"), resting("140")
    for order in (a, b, c, d):
        repo.put(order)
    await repo.apply(b.change(Step.CANCEL, clock.now(), attempt=0))  # b moved on: its trigger is stale
    hit = Triggered("raydium", D("149.5"), T0)
    done = await TriggerOrders(repo, queue, clock)([(a, hit), (b, hit), (d, hit)])
    # a alone first, then b and d in one statement, where b loses alone
    assert [o.id for o in done] == [a.id, d.id] and queue.keys == [(a.id, 1), (d.id, 1)] and repo.batches == [1, 2]
    expired = await ExpireOrders(repo, clock)([(c, attrs.evolve(hit_expired := _expired()))])
    assert [o.status for o in expired] == [S.EXPIRED] and hit_expired.reason == "time"


def _expired():
    from order_engine.domain.payloads import Expired

    return Expired(reason="time", limit_price=D("140"))


# --- cancel ------------------------------------------------------------------------------------------------


async def test_cancel_each_cancellable_status_then_409_after():
    repo, clock, watch = InMemoryOrderRepository(), FakeClock(), FakeWatch()
    cancel = CancelOrder(repo, clock, EventBus(), watch)
    waiting = resting("140")
    repo.put(waiting)
    done = await cancel(waiting.id)
    assert done.status is S.CANCELLED and watch.notices == [("gone", waiting.id)]
    assert (await cancel(waiting.id)) == done  # again: 200, same order, nothing written
    assert [e.status for e in done.status_history] == [S.PENDING, S.WAITING, S.CANCELLED]
    assert payload_to_dict(done.status_history[-1].payload) == {
        "fromStatus": "waiting",
        "reason": "cancelled by client",
    }
    routing = resting("140")
    repo.put(routing)
    moved = await repo.apply(routing.change(Step.TRIGGER, clock.now(), attempt=0, payload=Triggered("r", D(1), T0)))
    assert (await cancel(moved.id)).status is S.CANCELLED  # triggered: still cancellable
    market = new_order(validate(OrderRequest("SOL", "USDC", D("1"))), uuid.uuid4(), T0)
    repo.put(market)
    routed = await repo.apply(market.change(Step.ROUTE, clock.now(), attempt=1))
    with pytest.raises(TooLate) as info:
        await cancel(routed.id)
    assert str(info.value) == "too late: routing"


# --- re-arm ------------------------------------------------------------------------------------------------


async def test_a_triggered_limit_the_market_left_behind_re_arms_with_a_new_arm_and_a_reason():
    repo, clock, watch = InMemoryOrderRepository(), FakeClock(), FakeWatch()
    order = resting("149")  # the venues below quote 100 × (1 − fee): far below the limit now
    repo.put(order)
    order = await repo.apply(order.change(Step.TRIGGER, clock.now(), attempt=0, payload=Triggered("r", D(150), T0)))
    venues = [ScriptedVenue("raydium", "0.003", "100"), ScriptedVenue("meteora", "0.002", "100")]
    chain = FakeChain(executed_price=D("100"), amount_out=D("200"))
    execute = ExecuteOrder(repo=repo, venues=venues, chain=chain, events=EventBus(), clock=clock, watch=watch)
    left = await execute(order.id, attempt=1)
    assert [e.status for e in left.status_history] == [S.PENDING, S.WAITING, S.TRIGGERED, S.WAITING]
    assert left.arm == 2 and chain.submit_calls == 0 and watch.notices == [("rest", order.id, 2)]
    meta = payload_to_dict(left.status_history[-1].payload)
    assert meta["arm"] == 2 and meta["reason"].startswith("market moved back: meteora gives 99.8")


async def test_a_met_limit_executes_with_its_floor_as_the_minimum_out():
    repo, clock = InMemoryOrderRepository(), FakeClock()
    order = resting("99")
    repo.put(order)
    order = await repo.apply(order.change(Step.TRIGGER, clock.now(), attempt=0, payload=Triggered("r", D(100), T0)))
    venues = [ScriptedVenue("raydium", "0.003", "100")]
    chain = FakeChain(executed_price=D("99.7"), amount_out=D("199.4"))
    done = await ExecuteOrder(repo=repo, venues=venues, chain=chain, events=EventBus(), clock=clock)(order.id, 1)
    assert done.status is S.CONFIRMED
    built = payload_to_dict(done.last_entry(S.BUILDING).payload)
    assert built["minAmountOut"] == "198.000000" and built["slippageBps"] is None
    assert [s.min_amount_out for s in chain.swaps.values()] == [D("198.000000")]
    assert done.order_type is OrderType.LIMIT


def test_triggers_are_written_in_growing_chunks_in_order():
    from order_engine.domain.use_cases.resting import chunks

    sizes = [len(c) for c in chunks(list(range(1000)))]
    # The first alone: its job is queued after a one-row write, ahead of the others' (launch → first sniper).
    assert sizes == [1, 2, 4, 8, 16, 32, 64, 128, 256, 489] and [
        x for c in chunks(list(range(1000))) for x in c
    ] == list(range(1000))
    assert [len(c) for c in chunks(list(range(3000)))][-3:] == [512, 512, 441]
    assert list(chunks([])) == []


class FallingVenue(ScriptedVenue):
    """Quotes `price` once, then `later` on every quote after (the market moving back between routing and
    building)."""

    def __init__(self, name: str, fee: str, price: str, later: str) -> None:
        super().__init__(name, fee, price)
        self.later = D(later)

    async def quote(self, *args, **kwargs):
        quote = await super().quote(*args, **kwargs)
        self.price = self.later
        return quote


async def test_a_limit_whose_fresh_quote_at_building_misses_re_arms_from_routing_and_sends_nothing():
    repo, clock, watch = InMemoryOrderRepository(), FakeClock(), FakeWatch()
    order = resting("99")  # 2 SOL: the floor is 198 USDC
    repo.put(order)
    order = await repo.apply(order.change(Step.TRIGGER, clock.now(), attempt=0, payload=Triggered("r", D(100), T0)))
    venue = FallingVenue("raydium", "0.003", "100", later="99")  # 199.4 at routing, 197.406 at building
    chain = FakeChain(executed_price=D("99.7"), amount_out=D("199.4"))
    left = await ExecuteOrder(repo=repo, venues=[venue], chain=chain, events=EventBus(), clock=clock, watch=watch)(
        order.id, 1
    )
    assert [e.status for e in left.status_history] == [S.PENDING, S.WAITING, S.TRIGGERED, S.ROUTING, S.WAITING]
    assert left.arm == 2 and chain.swaps == {} and watch.notices == [("rest", order.id, 2)]
    assert venue.calls == [1, 1]  # routing, then the fresh quote at building
    assert payload_to_dict(left.status_history[-1].payload)["reason"].startswith("market moved back: raydium gives")
