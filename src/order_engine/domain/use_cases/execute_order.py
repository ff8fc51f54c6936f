"""Use case: drive one order from its persisted status to a terminal one.

Each step is one guarded change, so a duplicate or stale job can never move the
order twice, and an attempt that follows a crash or a transient error resumes
from where the order is rather than starting over. A market or sniper order's
route and build are one change of two steps (one write, both entries or neither).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from order_engine.domain.errors import (
    AmountTooSmall,
    DexError,
    DexUnavailable,
    OrderNotExecutable,
    RetryLater,
    SlippageExceeded,
    StaleTransition,
    UnsupportedPair,
)
from order_engine.domain.events import (
    AttemptFailed,
    EventBus,
    JobSkipped,
    JobSuperseded,
    OutOfTurn,
    QuotesGathered,
    RoutingDecided,
    StatusWriter,
    SwapFoundOnChain,
    SwapLineFailed,
    WatchNotifyFailed,
)
from order_engine.domain.limits import effective_price
from order_engine.domain.money import dec_str
from order_engine.domain.order import Order
from order_engine.domain.payloads import (
    Built,
    Confirmed,
    Failed,
    FailureClass,
    Payload,
    Rested,
    Retry,
    Routed,
    Submitted,
    Triggered,
)
from order_engine.domain.ports import (
    Clock,
    DexVenue,
    OrderRepository,
    RestingWatch,
    SwapExecutor,
    SwapLine,
    SwapRequest,
    SwapResult,
    TokenDirectory,
)
from order_engine.domain.quotes import Quote, min_amount_out, routing_reason, select_best
from order_engine.domain.requests import floor_of
from order_engine.domain.snipers import swap_line
from order_engine.domain.status import JOB_DRIVEN, STAGE, OrderStatus, OrderType, Step

# A sniper's attempt that ends in one of these has not sent its swap: it leaves its launch's line on the way out.
BEFORE_SWAP = frozenset({OrderStatus.TRIGGERED, OrderStatus.ROUTING, OrderStatus.BUILDING})
from order_engine.domain.tokens import Token, is_native_sol, token

P = TypeVar("P")


@attrs.define
class ExecuteOrder:
    repo: OrderRepository
    venues: Sequence[DexVenue]
    chain: SwapExecutor
    events: EventBus
    clock: Clock
    max_attempts: int = 3
    retry_base_s: float = 2.0
    watch: RestingWatch | None = None  # told when a limit order re-arms
    tokens: TokenDirectory | None = None  # refreshed when an order names a token launched after this process began
    line: SwapLine | None = None  # the snipers of one launch swap in submission order (domain/snipers.swap_line)
    turn_wait_s: float = 2.0  # the longest a sniper waits for those ahead of it before it swaps anyway
    writer: StatusWriter = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.writer = StatusWriter(self.repo, self.events)

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff: base, 2×base, 4×base … after attempts 1, 2, 3 …"""
        return self.retry_base_s * 2 ** (attempt - 1)

    async def __call__(self, order_id: uuid.UUID, attempt: int = 1) -> Order | None:
        """Run one attempt. Returns the order as left, None if there is nothing to do.

        Raises RetryLater when a transient error leaves attempts to spare.
        """
        started = self.clock.now()
        order = await self.repo.get(order_id)
        if order is None or order.status not in JOB_DRIVEN:  # unknown, terminal (cancelled meanwhile?), resting
            await self.events.emit(JobSkipped(order_id, attempt, None if order is None else order.status))
            if order is not None and self.line is not None and (line := swap_line(order)) is not None:
                await self._leave(line, order_id)  # a sniper cancelled while triggered holds up nobody
            return order
        resumed_from = order.status
        if self.tokens is not None and (token(order.token_in) is None or token(order.token_out) is None):
            await self.tokens.refresh()
        line = swap_line(order) if self.line is not None else None
        try:
            while order.status in JOB_DRIVEN:
                order = await self._advance(order, attempt, started, resumed_from)
            return order
        except StaleTransition:
            await self.events.emit(JobSuperseded(order_id, attempt))
            return None
        except (DexError, OrderNotExecutable, OSError) as exc:
            return await self._handle_failure(order, attempt, exc)
        finally:
            # An attempt that ended before its swap (failed at routing, superseded, a transient error) no longer holds
            # up those behind it; one that sent its swap left the line as it did (`_submit`).
            if line is not None and order.status in BEFORE_SWAP:
                await self._leave(line, order_id)

    async def _leave(self, line: str, order_id: uuid.UUID) -> None:
        assert self.line is not None
        try:
            await self.line.leave(line, order_id)
        except Exception as exc:  # those behind it wait their bound out, then swap anyway
            await self.events.emit(SwapLineFailed(line, (order_id,), f"leave: {exc!r}"))

    async def _advance(self, order: Order, attempt: int, started: datetime, resumed_from: OrderStatus) -> Order:
        match order.status:
            case OrderStatus.PENDING | OrderStatus.TRIGGERED:
                return await self._route(order, attempt, started)
            case OrderStatus.ROUTING:
                return await self._build(order, attempt)
            case OrderStatus.BUILDING:
                # An attempt that finds the order already built may follow one that sent the swap
                # and died before recording it: ask the chain before sending anything.
                return await self._submit(order, attempt, look_up_first=resumed_from is OrderStatus.BUILDING)
            case OrderStatus.SUBMITTED:
                return await self._confirm(order, attempt)
        raise AssertionError(f"no step from {order.status}")  # pragma: no cover

    async def _step(self, order: Order, step: Step, attempt: int, payload: Payload, **updates: Any) -> Order:
        change = order.change(step, self.clock.now(), attempt=attempt, payload=payload, **updates)
        return await self.writer.apply(change)

    async def _route(self, order: Order, attempt: int, started_at: datetime) -> Order:
        if order.order_type is OrderType.LIMIT:  # built later, after a fresh quote (`_build`)
            return await self._routed(order, attempt, started_at, None)
        # A market or sniper order is built right after routing, in the same write: its blockhash is asked for
        # while the venues quote, so that the RPC's wait does not hold `routing` back from the client.
        blockhash = asyncio.ensure_future(self._timed_blockhash())
        try:
            return await self._routed(order, attempt, started_at, blockhash)
        finally:
            _drop(blockhash)  # not wanted if routing ended without a build; its error (if any) consumed

    async def _timed_blockhash(self) -> tuple[str, float]:
        """A recent blockhash and how long the chain took to give it (s)."""
        asked = time.perf_counter()
        blockhash = await self.chain.recent_blockhash()
        return blockhash, time.perf_counter() - asked

    async def _routed(
        self, order: Order, attempt: int, started_at: datetime, blockhash: Awaitable[tuple[str, float]] | None
    ) -> Order:
        started = time.perf_counter()
        venues = self._venues_for(order)
        latencies: dict[str, float] = {}

        async def timed(venue: DexVenue) -> Quote:
            asked = time.perf_counter()
            try:
                return await venue.quote(
                    order.token_in, order.token_out, order.amount_in, order_id=order.id, attempt=attempt
                )
            finally:
                latencies[venue.name] = time.perf_counter() - asked

        results = await asyncio.gather(*(timed(v) for v in venues), return_exceptions=True)
        quotes: list[Quote] = []
        errors: dict[str, str] = {}
        error_classes: dict[str, str] = {}
        for venue, result in zip(venues, results, strict=True):
            if isinstance(result, Quote):
                quotes.append(result)
            elif isinstance(result, DexError | OSError):
                errors[venue.name] = str(result) or type(result).__name__
                error_classes[venue.name] = quote_error_class(result)
            else:
                raise result  # a bug, not a market condition
        await self.events.emit(QuotesGathered(order.id, order.order_type, latencies, error_classes))
        if not quotes:
            unsupported = [r for r in results if isinstance(r, UnsupportedPair)]
            if unsupported and len(unsupported) == len(results):
                raise unsupported[0]
            raise DexUnavailable(
                "no venue returned a quote (" + "; ".join(f"{k}: {v}" for k, v in errors.items()) + ")"
            )
        best = select_best(quotes)
        expected, floor = self._floor(order, best.amount_out)
        if order.order_type is OrderType.LIMIT and expected < floor:
            return await self._rearm(order, attempt, best.amount_out, best.venue)
        if order.order_type is OrderType.SNIPER and expected < floor:  # those before it moved the price too far
            raise SlippageExceeded(expected, floor)
        unit = self._out_token(order).quantum
        if floor < unit:  # a fill of nothing would confirm: the client would pay fees for no output
            assert order.slippage_bps is not None  # a limit's floor is at least one unit (checked at acceptance)
            raise AmountTooSmall(expected, floor, unit, order.token_out, order.slippage_bps)
        reason = routing_reason(best, quotes)
        amounts = {q.venue: {"price": dec_str(q.price), "amountOut": dec_str(q.amount_out)} for q in quotes}
        await self.events.emit(RoutingDecided(order.id, attempt, amounts, errors, best.venue, reason))
        routed = Routed(
            quotes=tuple(quotes),
            unavailable=errors,
            chosen=best.venue,
            reason=reason,
            quote_ms=round((time.perf_counter() - started) * 1000),
            attempt_started_at=started_at,
        )
        route = order.change(Step.ROUTE, self.clock.now(), attempt=attempt, payload=routed, dex_used=best.venue)
        if blockhash is None:  # a limit order: built after a fresh quote (`_build`), or re-armed
            return await self.writer.apply(route)
        # Nothing between route and build can fail for good or be seen outside this attempt (the blockhash was
        # asked for with the quotes): one write takes the order through `routing` to `building`, both or neither.
        built = await self._built(order, best, expected, floor, blockhash)
        return await self.writer.apply(route.then(Step.BUILD, self.clock.now(), payload=built))

    async def _build(self, order: Order, attempt: int) -> Order:
        """A limit order routed (or any order an earlier attempt left in `routing`): build it."""
        routed = self._payload(order, OrderStatus.ROUTING, Routed)
        assert order.dex_used is not None
        chosen = routed.quote_of(order.dex_used)
        if order.order_type is OrderType.LIMIT:  # a fresh quote: the market may have moved back since routing
            venue = next(v for v in self.venues if v.name == order.dex_used)
            chosen = await venue.quote(
                order.token_in, order.token_out, order.amount_in, order_id=order.id, attempt=attempt
            )
        expected, floor = self._floor(order, chosen.amount_out)
        if order.order_type is OrderType.LIMIT and expected < floor:
            return await self._rearm(order, attempt, chosen.amount_out, chosen.venue)
        return await self._step(order, Step.BUILD, attempt, await self._built(order, chosen, expected, floor))

    async def _built(
        self,
        order: Order,
        chosen: Quote,
        expected: Decimal,
        floor: Decimal,
        fetching: Awaitable[tuple[str, float]] | None = None,
    ) -> Built:
        """The swap built on `chosen`'s quote with its floor, on a recent blockhash (`fetching`: already asked for)."""
        blockhash, fetch_s = await (fetching or self._timed_blockhash())
        return Built(
            dex_used=chosen.venue,
            quoted_price=chosen.price,
            expected_amount_out=expected,
            min_amount_out=floor,
            slippage_bps=order.slippage_bps,
            wrap_sol=is_native_sol(order.token_in),
            unwrap_sol=is_native_sol(order.token_out),
            recent_blockhash=blockhash,
            blockhash_ms=round(fetch_s * 1000),
        )

    @staticmethod
    def _payload(order: Order, status: OrderStatus, kind: type[P]) -> P:
        """The payload of the entry that moved `order` into `status` (retry entries skipped)."""
        entry = order.last_entry(status)
        assert entry is not None and isinstance(entry.payload, kind), (status, entry)
        return entry.payload

    @staticmethod
    def _out_token(order: Order) -> Token:
        out_token = token(order.token_out)
        assert out_token is not None
        return out_token

    def _venues_for(self, order: Order) -> Sequence[DexVenue]:
        """Every venue, or the one a sniper's trigger names."""
        if order.trigger is None or order.trigger.venue == "any":
            return self.venues
        return [v for v in self.venues if v.name == order.trigger.venue] or self.venues

    def _floor(self, order: Order, amount_out: Decimal) -> tuple[Decimal, Decimal]:
        """(expected amount out in whole units, the least the swap may return): the slippage floor below the
        quote, rounded down to a unit; for a limit order, amountIn × limitPrice rounded up to a unit; for a
        sniper, `slippageBps` below what the launch gave it when it fired (amountIn × the trigger's effective
        price), so the snipers ahead of it on one launch may push it past its floor, never under it."""
        out_token = self._out_token(order)
        expected = out_token.round_down(amount_out)
        if order.order_type is OrderType.LIMIT:
            return expected, floor_of(order)
        assert order.slippage_bps is not None
        reference = expected
        if order.order_type is OrderType.SNIPER:
            fired = order.last_entry(OrderStatus.TRIGGERED)
            if fired is not None and isinstance(fired.payload, Triggered):
                reference = out_token.round_down(order.amount_in * fired.payload.effective_price)
        return expected, min_amount_out(reference, order.slippage_bps, out_token.quantum)

    async def _rearm(self, order: Order, attempt: int, amount_out: Decimal, venue: str) -> Order:
        """The market moved back before the swap was sent: the limit order watches again, one arm later."""
        assert order.arm is not None and order.limit_price is not None
        price = effective_price(amount_out, order.amount_in)
        rested = Rested(
            arm=order.arm + 1,
            limit_price=order.limit_price,
            best_effective_price=price,
            reason=f"market moved back: {venue} gives {dec_str(price)}, below the limit {dec_str(order.limit_price)}",
        )
        rearmed = await self._step(order, Step.REARM, attempt, rested, arm=order.arm + 1)
        if self.watch is not None:
            try:
                await self.watch.rested(rearmed)
            except Exception as exc:  # the watcher reconciles with PostgreSQL every few seconds
                await self.events.emit(WatchNotifyFailed(order.id, repr(exc)))
        return rearmed

    async def _submit(self, order: Order, attempt: int, *, look_up_first: bool) -> Order:
        line = swap_line(order) if self.line is not None else None
        if look_up_first and (existing := await self.chain.find(order.id)) is not None:
            if line is not None:  # sent by an attempt that died before it could leave the line
                await self._leave(line, order.id)
            await self.events.emit(SwapFoundOnChain(order.id, attempt, existing))
            found = Submitted(tx_hash=existing, found_on_chain=True)
            return await self._step(order, Step.SUBMIT, attempt, found, tx_hash=existing)
        built = self._payload(order, OrderStatus.BUILDING, Built)
        assert order.dex_used is not None
        swap = SwapRequest(
            order_id=order.id,
            venue=order.dex_used,
            token_in=order.token_in,
            token_out=order.token_out,
            amount_in=order.amount_in,
            quoted_price=built.quoted_price,
            min_amount_out=built.min_amount_out,
        )
        try:
            if line is not None:
                await self._wait_turn(line, order.id)
            signature = await self.chain.submit(swap, attempt=attempt)
        finally:
            if line is not None:
                await self._leave(line, order.id)  # sent: the next sniper of its launch may go
        # The chain is asked for the outcome while `submitted` is written: the answer is only acted on (written)
        # once that entry has committed, so nothing a client sees changes order, and the wait for the commit and
        # the wait for the chain overlap instead of adding up.
        confirming = asyncio.ensure_future(self.chain.confirm(signature, attempt=attempt))
        try:
            submitted = await self._step(order, Step.SUBMIT, attempt, Submitted(tx_hash=signature), tx_hash=signature)
        except BaseException:
            _drop(confirming)
            raise
        return await self._confirm(submitted, attempt, confirming)

    async def _wait_turn(self, line: str, order_id: uuid.UUID) -> None:
        """Until every sniper ahead of it on its launch has sent its swap (or given up), or the bound runs out: then
        its swap executes against the pool as they left it."""
        assert self.line is not None
        waited = time.perf_counter()
        try:
            in_turn = await self.line.wait_turn(line, order_id, within_s=self.turn_wait_s)
        except Exception as exc:  # the line unreadable: go now rather than not at all
            await self.events.emit(SwapLineFailed(line, (order_id,), f"wait: {exc!r}"))
            return
        if not in_turn:
            await self.events.emit(OutOfTurn(order_id, line, time.perf_counter() - waited))

    async def _confirm(self, order: Order, attempt: int, confirming: Awaitable[SwapResult] | None = None) -> Order:
        """`confirming`: the chain's answer already asked for (by `_submit`, for the swap it just sent)."""
        assert order.tx_hash is not None
        result = await (confirming or self.chain.confirm(order.tx_hash, attempt=attempt))
        if result.error is not None:
            built = order.last_entry(OrderStatus.BUILDING)
            floor = built.payload.min_amount_out if built is not None and isinstance(built.payload, Built) else None
            raise SlippageExceeded(result.amount_out, floor)
        confirmed = Confirmed(
            tx_hash=result.signature,
            executed_price=result.executed_price,
            amount_out=result.amount_out,
            slot=result.slot,
            execution_ms=result.simulated_ms,
        )
        return await self._step(
            order,
            Step.CONFIRM,
            attempt,
            confirmed,
            executed_price=result.executed_price,
            amount_out=result.amount_out,
        )

    async def _handle_failure(self, order: Order, attempt: int, exc: Exception) -> Order | None:
        latest = await self.repo.get(order.id) or order
        if latest.status not in JOB_DRIVEN:
            return latest
        stage = STAGE[latest.status]
        transient = isinstance(exc, OSError) or (isinstance(exc, DexError) and exc.transient)
        error = str(exc) or type(exc).__name__
        if transient and attempt < self.max_attempts:
            delay = self.retry_delay(attempt)
            await self.events.emit(AttemptFailed(order.id, attempt, stage, error, delay))
            retry = Retry(attempt=attempt, max_attempts=self.max_attempts, error=error, stage=stage, retry_in_s=delay)
            try:
                await self._step(latest, Step.RETRY, attempt, retry)
            except StaleTransition:
                return None
            raise RetryLater(delay, exc) from exc
        failed = Failed(reason=error, attempts=attempt, stage=stage, failure_class=failure_class(exc, transient))
        if isinstance(exc, AmountTooSmall):
            failed = attrs.evolve(failed, expected_amount_out=exc.expected, min_amount_out=exc.min_amount_out)
        if isinstance(exc, SlippageExceeded):
            failed = attrs.evolve(
                failed, reason="slippage exceeded", amount_out=exc.amount_out, min_amount_out=exc.min_amount_out
            )
        try:
            return await self._step(latest, Step.FAIL, attempt, failed, failure_reason=failed.reason)
        except StaleTransition:
            return None


def failure_class(exc: Exception, transient: bool) -> FailureClass:
    """The closed-set class of the error that failed an order (its reason stays the error's own words)."""
    if isinstance(exc, SlippageExceeded):
        return FailureClass.SLIPPAGE
    if isinstance(exc, AmountTooSmall):
        return FailureClass.AMOUNT_TOO_SMALL
    if isinstance(exc, UnsupportedPair):
        return FailureClass.UNSUPPORTED_PAIR
    if transient:  # the attempts ran out
        return FailureClass.VENUE_UNAVAILABLE
    return FailureClass.ERROR


def quote_error_class(exc: Exception) -> str:
    """A venue's failure to quote, as a closed set: `unsupported_pair`, `unavailable` (transient) or `error`."""
    if isinstance(exc, UnsupportedPair):
        return "unsupported_pair"
    if isinstance(exc, OSError) or (isinstance(exc, DexError) and exc.transient):
        return "unavailable"
    return "error"


def _drop(task: asyncio.Future[Any]) -> None:
    """A call no longer wanted (a confirmation, a blockhash): cancelled, its outcome (an error, perhaps) consumed."""
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
