"""ExecuteOrder driven through the in-memory fakes.

Numbers used throughout (1.5 SOL → USDC, 75 bps slippage):
  raydium  1.5 × 101.2   × (1 − 0.0025) = 151.420500
  meteora  1.5 × 101.537 × (1 − 0.003)  = 151.8485835   ← wins
  expected = 151.8485835 rounded down to USDC's 6 decimals = 151.848583
  minimum  = 151.848583 × 0.9925 = 150.7097186275 → rounded down = 150.709718
"""

import asyncio
import gc
import uuid
from dataclasses import dataclass
from decimal import Decimal
from decimal import Decimal as D

import attrs
import pytest
from fakes import (
    FakeChain,
    FakeClock,
    InMemoryOrderRepository,
    RecordingListener,
    RecordingNotifier,
    ScriptedVenue,
    publishing_to,
)

from order_engine.adapters.wire import payload_to_dict
from order_engine.domain.errors import DexUnavailable, RetryLater, SlippageExceeded, UnsupportedPair
from order_engine.domain.events import EventBus, RoutingDecided, StatusChanged
from order_engine.domain.order import Order
from order_engine.domain.ports import SwapRequest
from order_engine.domain.requests import OrderRequest, new_order, validate
from order_engine.domain.status import OrderStatus as S
from order_engine.domain.status import OrderType, Step
from order_engine.domain.use_cases import ExecuteOrder


def meta(entry) -> dict:
    """An entry's payload as the API and the live streams show it (the shape the README documents)."""
    return payload_to_dict(entry.payload)


HAPPY = [S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED]


class WorkerCrash(BaseException):
    """Stands for the process dying: nothing in the use case may swallow it."""


def raydium(**kw) -> ScriptedVenue:
    return ScriptedVenue("raydium", "0.0025", "101.2", **kw)


def meteora(**kw) -> ScriptedVenue:
    return ScriptedVenue("meteora", "0.003", "101.537", **kw)


@dataclass
class Rig:
    repo: InMemoryOrderRepository
    chain: FakeChain
    notifier: RecordingNotifier
    clock: FakeClock
    venues: list[ScriptedVenue]
    execute: ExecuteOrder
    order_id: uuid.UUID
    recorded: RecordingListener

    async def order(self) -> Order:
        order = await self.repo.get(self.order_id)
        assert order is not None
        return order

    async def statuses(self) -> list[S]:
        return [e.status for e in (await self.order()).status_history]


def rig(*, venues=None, chain=None, notifier=None, amount_in=D("1.5")) -> Rig:
    repo, clock = InMemoryOrderRepository(), FakeClock()
    chain = chain or FakeChain(executed_price=D("101.41"), amount_out=D("151.650000"))
    notifier = notifier or RecordingNotifier()
    venues = venues if venues is not None else [raydium(), meteora()]
    request = validate(OrderRequest(token_in="SOL", token_out="USDC", amount_in=amount_in, slippage_bps=75))
    order = new_order(request, uuid.uuid4(), clock.now())
    repo.put(order)
    recorded = RecordingListener()
    events = EventBus([recorded, publishing_to(notifier)])
    execute = ExecuteOrder(repo=repo, venues=venues, chain=chain, events=events, clock=clock, retry_base_s=2.0)
    return Rig(repo, chain, notifier, clock, venues, execute, order.id, recorded)


# --- happy path -------------------------------------------------------------------------


async def test_happy_path_runs_every_step_once_in_order():
    r = rig()
    order = await r.execute(r.order_id, attempt=1)

    assert order.status is S.CONFIRMED
    assert [e.status for e in order.status_history] == HAPPY
    assert order.seq == 5
    assert r.notifier.published == [
        (r.order_id, seq, status) for seq, status in zip(range(2, 6), HAPPY[1:], strict=True)
    ]
    stamps = [e.timestamp for e in order.status_history]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    assert order.attempts == 1
    # Each change was announced once, after it was written, with the steps that made it; routing is told too.
    # Route and build are one write of two entries (nothing between them can fail or be seen): one event.
    assert [(type(e).__name__, [s.step for s in getattr(e, "steps", ())]) for e in r.recorded.events] == [
        ("QuotesGathered", []),
        ("RoutingDecided", []),
        ("StatusChanged", [Step.ROUTE, Step.BUILD]),
        ("StatusChanged", [Step.SUBMIT]),
        ("StatusChanged", [Step.CONFIRM]),
    ]
    assert [[s.order.seq for s in e.steps] for e in r.recorded.of(StatusChanged)] == [[2, 3], [4], [5]]
    routed, built = r.recorded.of(StatusChanged)[0].steps
    assert (routed.order.status, routed.order.dex_used, routed.order.status_history) == (
        S.ROUTING,
        "meteora",
        order.status_history[:2],
    )
    assert built.order.status_history == order.status_history[:3]
    # Three guarded writes, not four: the first appended two entries.
    assert [[e.status for e in c.entries] for c in r.repo.changes] == [
        [S.ROUTING, S.BUILDING],
        [S.SUBMITTED],
        [S.CONFIRMED],
    ]
    assert r.recorded.of(RoutingDecided)[0].chosen == "meteora"
    assert [v.calls for v in r.venues] == [[1], [1]]
    assert order == await r.order()


async def test_happy_path_routing_metadata_holds_both_quotes_and_the_choice():
    r = rig()
    order = await r.execute(r.order_id)
    assert order.dex_used == "meteora"
    routing = meta(order.last_entry(S.ROUTING))
    assert routing["quotes"] == [
        {"venue": "raydium", "price": "101.2", "feeRate": "0.0025", "amountIn": "1.5",
         "amountOut": "151.420500", "estimatedFeeLamports": 5000},
        {"venue": "meteora", "price": "101.537", "feeRate": "0.003", "amountIn": "1.5",
         "amountOut": "151.8485835", "estimatedFeeLamports": 5000},
    ]  # fmt: skip
    assert routing["chosen"] == "meteora"
    assert routing["unavailable"] == {}
    assert routing["reason"] == "meteora returns 151.8485835 vs raydium 151.420500 (+28.27 bps)"
    assert isinstance(routing["quoteMs"], int)


async def test_happy_path_building_metadata_has_exact_slippage_floor():
    r = rig()
    order = await r.execute(r.order_id)
    building = meta(order.last_entry(S.BUILDING))
    assert isinstance(building.pop("blockhashMs"), int)
    assert building == {
        "dexUsed": "meteora",
        "quotedPrice": "101.537",
        "expectedAmountOut": "151.848583",
        "minAmountOut": "150.709718",
        "slippageBps": 75,
        "wrapSol": True,
        "unwrapSol": False,
        "recentBlockhash": "11111111111111111111111111111111",
    }
    signature = FakeChain.signature_for(r.order_id)
    assert r.chain.swaps[signature] == SwapRequest(
        order_id=r.order_id,
        venue="meteora",
        token_in="SOL",
        token_out="USDC",
        amount_in=D("1.5"),
        quoted_price=D("101.537"),
        min_amount_out=D("150.709718"),
    )


async def test_happy_path_confirmed_order_carries_the_settlement():
    r = rig()
    order = await r.execute(r.order_id)
    signature = FakeChain.signature_for(r.order_id)
    assert order.tx_hash == signature
    assert order.executed_price == D("101.41")
    assert order.amount_out == D("151.650000")
    assert order.failure_reason is None
    assert meta(order.last_entry(S.SUBMITTED)) == {"txHash": signature}
    confirmed = meta(order.last_entry(S.CONFIRMED))
    assert (confirmed["txHash"], confirmed["executedPrice"], confirmed["amountOut"]) == (
        signature,
        "101.41",
        "151.650000",
    )
    assert confirmed["slot"] == 300_000_001
    assert r.chain.executions[r.order_id] == 1
    assert (r.chain.submit_calls, r.chain.confirm_calls) == (1, 1)


@pytest.mark.parametrize("error", [DexUnavailable("meteora: 503"), UnsupportedPair("meteora: no pool")])
async def test_one_venue_down_still_routes_to_the_other(error):
    r = rig(venues=[raydium(), meteora(always=error)])
    order = await r.execute(r.order_id)
    assert order.status is S.CONFIRMED
    assert order.dex_used == "raydium"
    routing = meta(order.last_entry(S.ROUTING))
    assert [q["venue"] for q in routing["quotes"]] == ["raydium"]
    assert routing["unavailable"] == {"meteora": str(error)}
    assert routing["reason"] == "raydium was the only venue that quoted"
    # raydium: 151.420500 → min 151.420500 × 0.9925 = 150.28484625 → 150.284846
    assert meta(order.last_entry(S.BUILDING))["minAmountOut"] == "150.284846"


# --- transient errors ---------------------------------------------------------------------


def rig_with_repo_error(status: S, error: BaseException) -> Rig:
    r = rig()
    r.repo.fail_on[status] = error
    return r


@pytest.mark.parametrize(
    ("stage", "make_rig", "error", "statuses"),
    [
        pytest.param(
            "routing",
            lambda: rig(venues=[raydium(errors={1: DexUnavailable("timeout")}),
                                meteora(errors={1: DexUnavailable("timeout")})]),
            "no venue returned a quote (raydium: timeout; meteora: timeout)",
            [S.PENDING, S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED],
            id="routing",
        ),
        pytest.param(  # asked for with the quotes, and part of the one write of route and build
            "routing",
            lambda: rig(chain=FakeChain(blockhash_errors=[DexUnavailable("getLatestBlockhash timed out")])),
            "getLatestBlockhash timed out",
            [S.PENDING, S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED],
            id="blockhash",
        ),
        pytest.param(  # route and build are one write: it failing leaves the order pending, routed again
            "routing",
            lambda: rig_with_repo_error(S.BUILDING, ConnectionResetError("db connection reset")),
            "db connection reset",
            [S.PENDING, S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED],
            id="route-and-build-write-oserror",
        ),
        pytest.param(
            "submitting",
            lambda: rig(chain=FakeChain(submit_errors=[DexUnavailable("rpc node timed out")])),
            "rpc node timed out",
            [S.PENDING, S.ROUTING, S.BUILDING, S.BUILDING, S.SUBMITTED, S.CONFIRMED],
            id="submitting",
        ),
        pytest.param(
            "submitting",
            lambda: rig(chain=FakeChain(submit_errors=[ConnectionResetError("connection reset by peer")])),
            "connection reset by peer",
            [S.PENDING, S.ROUTING, S.BUILDING, S.BUILDING, S.SUBMITTED, S.CONFIRMED],
            id="submitting-oserror",
        ),
        pytest.param(
            "confirming",
            lambda: rig(chain=FakeChain(confirm_errors=[DexUnavailable("blockhash not found yet")])),
            "blockhash not found yet",
            [S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED, S.SUBMITTED, S.CONFIRMED],
            id="confirming",
        ),
    ],
)  # fmt: skip
async def test_transient_error_then_success(stage, make_rig, error, statuses):
    r = make_rig()
    with pytest.raises(RetryLater) as info:
        await r.execute(r.order_id, attempt=1)
    assert info.value.delay_s == 2.0
    assert str(info.value.cause) == error

    after_first = await r.order()
    retry = after_first.status_history[-1]
    assert retry.status is after_first.status_history[-2].status  # a self-transition
    assert meta(retry) == {
        "attempt": 1, "maxAttempts": 3, "error": error, "stage": stage, "retryInS": 2.0,
    }  # fmt: skip
    assert after_first.attempts == 1
    assert r.notifier.published[-1] == (r.order_id, after_first.seq, retry.status)

    order = await r.execute(r.order_id, attempt=2)
    assert order.status is S.CONFIRMED
    assert [e.status for e in order.status_history] == statuses
    assert order.attempts == 2
    assert r.notifier.seqs() == list(range(2, 7))
    assert r.chain.executions[r.order_id] == 1


async def test_transient_error_on_every_attempt_fails_on_the_last():
    down = DexUnavailable("pool overloaded")
    r = rig(venues=[raydium(always=down), meteora(always=down)])
    reason = "no venue returned a quote (raydium: pool overloaded; meteora: pool overloaded)"

    delays = []
    for attempt in (1, 2):
        with pytest.raises(RetryLater) as info:
            await r.execute(r.order_id, attempt=attempt)
        delays.append(info.value.delay_s)
        r.clock.advance(info.value.delay_s)
    assert delays == [2.0, 4.0]

    order = await r.execute(r.order_id, attempt=3)
    assert order.status is S.FAILED
    assert order.failure_reason == reason
    assert order.attempts == 3
    assert [e.status for e in order.status_history] == [S.PENDING, S.PENDING, S.PENDING, S.FAILED]
    assert [meta(e)["retryInS"] for e in order.status_history[1:3]] == [2.0, 4.0]
    assert [meta(e)["attempt"] for e in order.status_history[1:3]] == [1, 2]
    assert meta(order.status_history[-1]) == {
        "reason": reason, "failureClass": "venue_unavailable", "attempts": 3, "stage": "routing"
    }  # fmt: skip
    assert [v.calls for v in r.venues] == [[1, 2, 3], [1, 2, 3]]
    assert r.chain.submit_calls == 0
    assert r.notifier.statuses() == [S.PENDING, S.PENDING, S.FAILED]


@pytest.mark.parametrize(("attempt", "delay"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)])
def test_retry_delay_doubles_from_the_base(attempt, delay):
    execute = ExecuteOrder(repo=None, venues=[], chain=None, events=EventBus(), clock=None, retry_base_s=0.5)
    assert execute.retry_delay(attempt) == delay


# --- permanent errors -----------------------------------------------------------------------


async def test_slippage_at_confirmation_fails_at_once():
    r = rig(chain=FakeChain(error="slippage exceeded", amount_out=D("150.1")))
    order = await r.execute(r.order_id, attempt=1)  # no RetryLater
    assert order.status is S.FAILED
    assert order.failure_reason == "slippage exceeded"
    assert [e.status for e in order.status_history] == [*HAPPY[:4], S.FAILED]
    assert meta(order.status_history[-1]) == {
        "reason": "slippage exceeded", "failureClass": "slippage", "attempts": 1, "stage": "confirming",
        "amountOut": "150.1", "minAmountOut": "150.709718",
    }  # fmt: skip
    assert order.amount_out is None and order.executed_price is None
    assert (r.chain.executions[r.order_id], r.chain.confirm_calls) == (1, 1)


async def test_slippage_rejected_at_submit_fails_at_once():
    r = rig(chain=FakeChain(submit_errors=[SlippageExceeded(D("150"), D("150.709718"))]))
    order = await r.execute(r.order_id, attempt=1)
    assert order.status is S.FAILED
    assert order.failure_reason == "slippage exceeded"
    assert meta(order.status_history[-1])["stage"] == "submitting"
    assert [e.status for e in order.status_history] == [S.PENDING, S.ROUTING, S.BUILDING, S.FAILED]


async def test_pair_no_venue_trades_fails_at_once():
    r = rig(venues=[raydium(always=UnsupportedPair("no SOL/USDC pool")), meteora(always=UnsupportedPair("nope"))])
    order = await r.execute(r.order_id, attempt=1)
    assert order.status is S.FAILED
    assert order.failure_reason == "no SOL/USDC pool"
    assert meta(order.status_history[-1]) == {
        "reason": "no SOL/USDC pool", "failureClass": "unsupported_pair", "attempts": 1, "stage": "routing"
    }  # fmt: skip
    assert order.seq == 2


@pytest.mark.parametrize(
    ("amount_in", "expected", "floor"),
    [
        # 1 lamport: meteora 0.000000001 × 101.537 × 0.997 = 0.0000001012… → 0 USDC
        pytest.param(D("0.000000001"), "0.000000", "0.000000", id="output-below-one-unit"),
        # 10 lamports → 0.0000010123… → 0.000001 USDC, but 75 bps below one unit rounds down to 0
        pytest.param(D("0.00000001"), "0.000001", "0.000000", id="floor-below-one-unit"),
    ],
)
async def test_dust_fails_at_routing_and_never_reaches_the_chain(amount_in, expected, floor):
    r = rig(amount_in=amount_in)
    order = await r.execute(r.order_id, attempt=1)  # permanent: no RetryLater
    assert order.status is S.FAILED
    assert order.failure_reason.startswith("amount too small: ")
    assert "0.000001 USDC" in order.failure_reason  # names the smallest unit
    assert [e.status for e in order.status_history] == [S.PENDING, S.FAILED]
    metadata = meta(order.status_history[-1])
    assert metadata == {
        "reason": order.failure_reason, "failureClass": "amount_too_small", "attempts": 1, "stage": "routing",
        "expectedAmountOut": expected, "minAmountOut": floor,
    }  # fmt: skip
    assert r.chain.executions[r.order_id] == 0


async def test_a_floor_of_one_unit_executes():
    r = rig(amount_in=D("0.00000002"))  # 0.0000020246… → 0.000002 USDC; 75 bps below: 0.000001
    r.chain.amount_out = D("0.000002")
    order = await r.execute(r.order_id, attempt=1)
    assert order.status is S.CONFIRMED
    assert meta(order.status_history[2])["minAmountOut"] == "0.000001"


# --- duplicates, crashes, races ---------------------------------------------------------------


@pytest.mark.parametrize("chain_error", [None, "slippage exceeded"], ids=["confirmed", "failed"])
async def test_duplicate_job_on_terminal_order_does_nothing(chain_error):
    r = rig(chain=FakeChain(error=chain_error))
    done = await r.execute(r.order_id, attempt=1)
    assert done.status.is_terminal
    published, changes, submits = list(r.notifier.published), len(r.repo.changes), r.chain.submit_calls

    again = await r.execute(r.order_id, attempt=1)
    assert again == done
    assert await r.order() == done
    assert r.notifier.published == published
    assert len(r.repo.changes) == changes
    assert r.chain.submit_calls == submits
    assert [v.calls for v in r.venues] == [[1], [1]]


async def test_unknown_order_returns_none():
    r = rig()
    assert await r.execute(uuid.uuid4()) is None
    assert r.repo.changes == [] and r.notifier.published == []


async def test_resume_after_crash_following_submit_confirms_without_resending():
    r = rig(notifier=RecordingNotifier(error=WorkerCrash(), fail_on=[S.SUBMITTED]))
    with pytest.raises(WorkerCrash):
        await r.execute(r.order_id, attempt=1)
    assert (await r.order()).status is S.SUBMITTED

    r.notifier.error = None
    order = await r.execute(r.order_id, attempt=2)
    assert order.status is S.CONFIRMED
    assert await r.statuses() == HAPPY
    assert r.chain.executions[r.order_id] == 1
    assert (r.chain.submit_calls, r.chain.confirm_calls) == (1, 1)


async def test_resume_after_crash_between_send_and_record_does_not_execute_twice():
    r = rig()
    r.repo.fail_on[S.SUBMITTED] = WorkerCrash()
    with pytest.raises(WorkerCrash):
        await r.execute(r.order_id, attempt=1)
    assert (await r.order()).status is S.BUILDING
    assert r.chain.executions[r.order_id] == 1

    order = await r.execute(r.order_id, attempt=2)
    assert order.status is S.CONFIRMED
    assert order.tx_hash == FakeChain.signature_for(r.order_id)
    assert r.chain.submit_calls == 1  # the resumed attempt asked the chain first and sent nothing
    assert r.chain.executions[r.order_id] == 1
    assert meta(order.last_entry(S.SUBMITTED)) == {"txHash": order.tx_hash, "foundOnChain": True}


async def test_the_chain_is_asked_for_the_outcome_while_submitted_is_written():
    """The wait for the `submitted` commit and the wait for the chain overlap; the outcome is written after."""
    r = rig()
    asked_during_write: list[int] = []
    write = r.repo.apply

    async def slow_write(change):  # type: ignore[no-untyped-def]
        if change.entry.status is S.SUBMITTED:
            for _ in range(3):  # the round trip to PostgreSQL
                await asyncio.sleep(0)
            asked_during_write.append(r.chain.confirm_calls)
        return await write(change)

    r.repo.apply = slow_write  # type: ignore[method-assign]
    order = await r.execute(r.order_id, attempt=1)
    assert asked_during_write == [1]
    assert order.status is S.CONFIRMED and await r.statuses() == HAPPY
    assert [e.status for e in r.repo.changes[-1].entries] == [S.CONFIRMED]  # after submitted, in its own write


def unretrieved_errors() -> list[dict]:
    """What the loop reports from now on about tasks whose error nobody read."""
    reported: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reported.append(context))
    return reported


async def assert_nothing_left_behind(unretrieved: list[dict]) -> None:
    """No task still running beside this test's, and none whose error went unread."""
    for _ in range(3):
        await asyncio.sleep(0)
    gc.collect()  # a task whose error nobody read reports it when collected
    current = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not current] == []
    assert unretrieved == []


async def test_a_crash_writing_submitted_leaves_no_confirmation_behind():
    """The confirmation asked for during the write is dropped with it: cancelled, its error (if any) consumed."""
    r = rig(chain=FakeChain(confirm_errors=[DexUnavailable("chain: rpc down")]))
    r.repo.fail_on[S.SUBMITTED] = WorkerCrash()
    unretrieved = unretrieved_errors()
    with pytest.raises(WorkerCrash):
        await r.execute(r.order_id, attempt=1)
    await assert_nothing_left_behind(unretrieved)
    assert (await r.order()).status is S.BUILDING


class CountingVenue(ScriptedVenue):
    """Records, after a network-like wait, how many blockhashes the chain had been asked for while it quoted."""

    def __init__(self, chain: FakeChain, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__("meteora", "0.003", "101.537", **kw)
        self.chain, self.seen = chain, []

    async def quote(self, token_in, token_out, amount_in, *, order_id, attempt):  # type: ignore[no-untyped-def]
        for _ in range(3):
            await asyncio.sleep(0)
        self.seen.append(self.chain.blockhash_calls)
        return await super().quote(token_in, token_out, amount_in, order_id=order_id, attempt=attempt)


async def test_the_blockhash_is_asked_for_while_the_venues_quote():
    """The RPC's wait for a blockhash overlaps the quotes: `routing` and `building` are written as soon as the
    quotes are in, not a blockhash round trip later."""
    r = rig()
    venue = CountingVenue(r.chain)
    r.execute.venues = [raydium(), venue]
    order = await r.execute(r.order_id, attempt=1)
    assert venue.seen == [1]
    assert r.chain.blockhash_calls == 1
    assert order.status is S.CONFIRMED and await r.statuses() == HAPPY
    built = meta(order.last_entry(S.BUILDING))
    assert built["recentBlockhash"] == "11111111111111111111111111111111" and built["blockhashMs"] >= 0


@pytest.mark.parametrize("blockhash_error", [None, DexUnavailable("chain: rpc down")])
async def test_routing_that_fails_leaves_no_blockhash_behind(blockhash_error):
    """No quote: the blockhash asked for with them is dropped (cancelled, or its error consumed)."""
    errors = [blockhash_error] if blockhash_error is not None else []
    r = rig(
        venues=[raydium(always=DexUnavailable("raydium down")), meteora(always=DexUnavailable("meteora down"))],
        chain=FakeChain(blockhash_errors=errors),
    )
    unretrieved = unretrieved_errors()
    with pytest.raises(RetryLater):  # transient: the attempt asks to be retried
        await r.execute(r.order_id, attempt=1)
    await assert_nothing_left_behind(unretrieved)
    order = await r.order()
    assert [e.status for e in order.status_history] == [S.PENDING, S.PENDING]  # the retry entry only


class MeddlingVenue(ScriptedVenue):
    """While quoting, another job fails the order under our feet."""

    def __init__(self, repo: InMemoryOrderRepository, clock: FakeClock) -> None:
        super().__init__("meddler", "0.003", "90")
        self.repo, self.clock = repo, clock

    async def quote(self, token_in, token_out, amount_in, *, order_id, attempt):
        order = await self.repo.get(order_id)
        await self.repo.apply(order.change(Step.FAIL, self.clock.now(), attempt=1, failure_reason="cancelled"))
        return await super().quote(token_in, token_out, amount_in, order_id=order_id, attempt=attempt)


async def test_stale_change_returns_none_without_writing():
    r = rig()
    r.execute.venues = [raydium(), MeddlingVenue(r.repo, r.clock)]
    assert await r.execute(r.order_id, attempt=1) is None

    order = await r.order()
    assert order.status is S.FAILED and order.failure_reason == "cancelled"
    assert order.seq == 2
    assert len(r.repo.changes) == 1  # only the other job's change
    assert r.notifier.published == []
    assert r.chain.submit_calls == 0


class YieldingVenue(ScriptedVenue):
    async def quote(self, *args, **kwargs):
        await asyncio.sleep(0)
        return await super().quote(*args, **kwargs)


async def test_two_concurrent_jobs_move_the_order_once():
    r = rig(venues=[YieldingVenue("raydium", "0.0025", "101.2"), YieldingVenue("meteora", "0.003", "101.537")])
    results = await asyncio.gather(r.execute(r.order_id, attempt=1), r.execute(r.order_id, attempt=1))

    assert sorted(o is None for o in results) == [False, True]
    winner = next(o for o in results if o is not None)
    assert winner.status is S.CONFIRMED
    assert await r.statuses() == HAPPY
    assert len(r.repo.changes) == 3  # route + build, submit, confirm
    assert r.notifier.seqs() == [2, 3, 4, 5]
    assert r.chain.executions[r.order_id] == 1


async def test_failing_notifier_does_not_fail_the_order():
    r = rig(notifier=RecordingNotifier(error=RuntimeError("redis down")))
    order = await r.execute(r.order_id, attempt=1)
    assert order.status is S.CONFIRMED
    assert await r.statuses() == HAPPY
    assert r.notifier.attempts == 3  # one per write: route + build, submit, confirm
    assert r.notifier.published == []


# --- orders that are not a market order in pending -----------------------------------------------


async def test_a_job_for_an_order_cancelled_while_pending_does_nothing():
    r = rig()
    order = await r.order()
    await r.repo.apply(order.change(Step.CANCEL, r.clock.now(), attempt=0))
    assert (await r.execute(r.order_id, attempt=1)).status is S.CANCELLED
    assert [q.calls for q in r.venues] == [[], []] and r.chain.submit_calls == 0
    assert await r.statuses() == [S.PENDING, S.CANCELLED]


@pytest.mark.parametrize(
    ("steps", "status", "runs"),
    [
        ([Step.REST], S.WAITING, False),  # resting: the watcher's, not a job's
        ([Step.REST, Step.EXPIRE], S.EXPIRED, False),
        ([Step.REST, Step.TRIGGER], S.CONFIRMED, True),  # triggered: the job routes it like any order
    ],
    ids=["waiting", "expired", "triggered"],
)
async def test_a_limit_order_is_driven_only_once_triggered(steps, status, runs):
    r = rig()
    # A limit far below the market (price 100): met whenever it is checked.
    order = attrs.evolve(
        await r.order(), order_type=OrderType.LIMIT, limit_price=Decimal("0.01"), slippage_bps=None, arm=1
    )
    r.repo.put(order)
    for step in steps:
        order = await r.repo.apply(order.change(step, r.clock.now(), attempt=0))
    assert (await r.execute(r.order_id, attempt=1)).status is status
    assert (r.chain.submit_calls == 1) is runs
    if runs:
        assert (await r.statuses())[1:] == [S.WAITING, S.TRIGGERED, S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED]
