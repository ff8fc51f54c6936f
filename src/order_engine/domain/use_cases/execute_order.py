"""Use case: drive one order from its persisted status to a terminal one.

Each step is one guarded change, so a duplicate or stale job can never move the
order twice, and an attempt that follows a crash or a transient error resumes
from where the order is rather than starting over.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
import structlog

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
from order_engine.domain.money import dec_str
from order_engine.domain.order import Order
from order_engine.domain.ports import Clock, DexVenue, OrderRepository, StatusNotifier, SwapExecutor, SwapRequest
from order_engine.domain.quotes import Quote, min_amount_out, routing_reason, select_best
from order_engine.domain.status import JOB_DRIVEN, STAGE, OrderStatus, Step
from order_engine.domain.tokens import Token, is_native_sol, token

log = structlog.get_logger("order_engine.execute")


@attrs.define
class ExecuteOrder:
    repo: OrderRepository
    venues: Sequence[DexVenue]
    chain: SwapExecutor
    notifier: StatusNotifier
    clock: Clock
    max_attempts: int = 3
    retry_base_s: float = 2.0

    def retry_delay(self, attempt: int) -> float:
        """Exponential backoff: base, 2×base, 4×base … after attempts 1, 2, 3 …"""
        return self.retry_base_s * 2 ** (attempt - 1)

    async def __call__(self, order_id: uuid.UUID, attempt: int = 1) -> Order | None:
        """Run one attempt. Returns the order as left, None if there is nothing to do.

        Raises RetryLater when a transient error leaves attempts to spare.
        """
        started = self.clock.now()
        order = await self.repo.get(order_id)
        bound = log.bind(order_id=str(order_id), attempt=attempt)
        if order is None:
            bound.warning("job for unknown order dropped")
            return None
        if order.status not in JOB_DRIVEN:  # terminal (a duplicate job, or cancelled meanwhile) or resting
            bound.info("order is not for a job to drive; job ignored", status=order.status.value)
            return order
        resumed_from = order.status
        try:
            while order.status in JOB_DRIVEN:
                order = await self._advance(order, attempt, bound, started, resumed_from)
            return order
        except StaleTransition:
            bound.info("order moved on under another job; this one stops")
            return None
        except (DexError, OrderNotExecutable, OSError) as exc:
            return await self._handle_failure(order, attempt, exc, bound)

    async def _advance(
        self, order: Order, attempt: int, bound: Any, started: datetime, resumed_from: OrderStatus
    ) -> Order:
        match order.status:
            case OrderStatus.PENDING | OrderStatus.TRIGGERED:
                return await self._route(order, attempt, bound, started)
            case OrderStatus.ROUTING:
                return await self._build(order, attempt)
            case OrderStatus.BUILDING:
                # An attempt that finds the order already built may follow one that sent the swap
                # and died before recording it: ask the chain before sending anything.
                return await self._submit(order, attempt, bound, look_up_first=resumed_from is OrderStatus.BUILDING)
            case OrderStatus.SUBMITTED:
                return await self._confirm(order, attempt)
        raise AssertionError(f"no step from {order.status}")  # pragma: no cover

    async def _step(self, order: Order, step: Step, attempt: int, metadata: Mapping[str, Any], **updates: Any) -> Order:
        change = order.change(step, self.clock.now(), attempt=attempt, metadata=metadata, **updates)
        order = await self.repo.apply(change)
        log.info(
            "order status changed",
            order_id=str(order.id),
            status=order.status.value,
            seq=order.seq,
            step=step.value,
            attempt=attempt,
        )
        try:
            await self.notifier.publish(order)
        except Exception as exc:  # a lost broadcast must not fail the order; the row is the truth
            log.warning("status broadcast failed", order_id=str(order.id), seq=order.seq, error=repr(exc))
        return order

    async def _route(self, order: Order, attempt: int, bound: Any, started_at: datetime) -> Order:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                v.quote(order.token_in, order.token_out, order.amount_in, order_id=order.id, attempt=attempt)
                for v in self.venues
            ),
            return_exceptions=True,
        )
        quotes: list[Quote] = []
        errors: dict[str, str] = {}
        for venue, result in zip(self.venues, results, strict=True):
            if isinstance(result, Quote):
                quotes.append(result)
            elif isinstance(result, DexError | OSError):
                errors[venue.name] = str(result) or type(result).__name__
            else:
                raise result  # a bug, not a market condition
        if not quotes:
            unsupported = [r for r in results if isinstance(r, UnsupportedPair)]
            if unsupported and len(unsupported) == len(results):
                raise unsupported[0]
            raise DexUnavailable(
                "no venue returned a quote (" + "; ".join(f"{k}: {v}" for k, v in errors.items()) + ")"
            )
        best = select_best(quotes)
        expected, floor = self._floor(order, best.amount_out)
        unit = self._out_token(order).quantum
        if floor < unit:  # a fill of nothing would confirm: the client would pay fees for no output
            raise AmountTooSmall(expected, floor, unit, order.token_out, order.slippage_bps)
        reason = routing_reason(best, quotes)
        bound.info(
            "routing decision",
            quotes={q.venue: {"price": dec_str(q.price), "amountOut": dec_str(q.amount_out)} for q in quotes},
            unavailable=errors,
            chosen=best.venue,
            reason=reason,
        )
        metadata = {
            "quotes": [q.to_dict() for q in quotes],
            "unavailable": errors,
            "chosen": best.venue,
            "reason": reason,
            "quoteMs": round((time.perf_counter() - started) * 1000),
            "attemptStartedAt": started_at.isoformat().replace("+00:00", "Z"),
        }
        return await self._step(order, Step.ROUTE, attempt, metadata, dex_used=best.venue)

    async def _build(self, order: Order, attempt: int) -> Order:
        routing = order.last_entry(OrderStatus.ROUTING)
        assert routing is not None and order.dex_used is not None
        chosen = next(q for q in routing.metadata["quotes"] if q["venue"] == order.dex_used)
        expected, floor = self._floor(order, Decimal(chosen["amountOut"]))
        fetch_started = time.perf_counter()
        blockhash = await self.chain.recent_blockhash()
        blockhash_ms = round((time.perf_counter() - fetch_started) * 1000)
        metadata = {
            "dexUsed": order.dex_used,
            "quotedPrice": chosen["price"],
            "expectedAmountOut": dec_str(expected),
            "minAmountOut": dec_str(floor),
            "slippageBps": order.slippage_bps,
            "wrapSol": is_native_sol(order.token_in),
            "unwrapSol": is_native_sol(order.token_out),
            "recentBlockhash": blockhash,
            "blockhashMs": blockhash_ms,
        }
        return await self._step(order, Step.BUILD, attempt, metadata)

    @staticmethod
    def _out_token(order: Order) -> Token:
        out_token = token(order.token_out)
        assert out_token is not None
        return out_token

    def _floor(self, order: Order, amount_out: Decimal) -> tuple[Decimal, Decimal]:
        """(expected amount out in whole units, the slippage floor below it, rounded down to a unit)."""
        out_token = self._out_token(order)
        expected = out_token.round_down(amount_out)
        return expected, min_amount_out(expected, order.slippage_bps, out_token.quantum)

    async def _submit(self, order: Order, attempt: int, bound: Any, *, look_up_first: bool) -> Order:
        if look_up_first and (existing := await self.chain.find(order.id)) is not None:
            bound.warning("swap already sent by an earlier attempt; settling it, not re-sending", tx_hash=existing)
            metadata = {"txHash": existing, "foundOnChain": True}
            return await self._step(order, Step.SUBMIT, attempt, metadata, tx_hash=existing)
        built = order.last_entry(OrderStatus.BUILDING)
        assert built is not None and order.dex_used is not None
        swap = SwapRequest(
            order_id=order.id,
            venue=order.dex_used,
            token_in=order.token_in,
            token_out=order.token_out,
            amount_in=order.amount_in,
            quoted_price=Decimal(built.metadata["quotedPrice"]),
            min_amount_out=Decimal(built.metadata["minAmountOut"]),
        )
        signature = await self.chain.submit(swap, attempt=attempt)
        return await self._step(order, Step.SUBMIT, attempt, {"txHash": signature}, tx_hash=signature)

    async def _confirm(self, order: Order, attempt: int) -> Order:
        assert order.tx_hash is not None
        result = await self.chain.confirm(order.tx_hash, attempt=attempt)
        if result.error is not None:
            built = order.last_entry(OrderStatus.BUILDING)
            raise SlippageExceeded(result.amount_out, Decimal(built.metadata["minAmountOut"]) if built else None)
        metadata = {
            "txHash": result.signature,
            "executedPrice": str(result.executed_price),
            "amountOut": str(result.amount_out),
            "slot": result.slot,
            "executionMs": result.simulated_ms,
        }
        return await self._step(
            order,
            Step.CONFIRM,
            attempt,
            metadata,
            executed_price=result.executed_price,
            amount_out=result.amount_out,
        )

    async def _handle_failure(self, order: Order, attempt: int, exc: Exception, bound: Any) -> Order | None:
        latest = await self.repo.get(order.id) or order
        if latest.status not in JOB_DRIVEN:
            return latest
        stage = STAGE[latest.status]
        transient = isinstance(exc, OSError) or (isinstance(exc, DexError) and exc.transient)
        error = str(exc) or type(exc).__name__
        if transient and attempt < self.max_attempts:
            delay = self.retry_delay(attempt)
            bound.warning("attempt failed; will retry", stage=stage, error=error, retry_in_s=delay)
            metadata = {
                "attempt": attempt,
                "maxAttempts": self.max_attempts,
                "error": error,
                "stage": stage,
                "retryInS": delay,
            }
            try:
                await self._step(latest, Step.RETRY, attempt, metadata)
            except StaleTransition:
                return None
            raise RetryLater(delay, exc) from exc
        reason = "slippage exceeded" if isinstance(exc, SlippageExceeded) else error
        metadata: dict[str, Any] = {"reason": reason, "attempts": attempt, "stage": stage}
        if isinstance(exc, AmountTooSmall):
            metadata |= {"expectedAmountOut": dec_str(exc.expected), "minAmountOut": dec_str(exc.min_amount_out)}
        if isinstance(exc, SlippageExceeded):
            metadata |= {
                "amountOut": dec_str(exc.amount_out),
                "minAmountOut": None if exc.min_amount_out is None else dec_str(exc.min_amount_out),
            }
        bound.error("order failed", stage=stage, reason=reason, transient=transient)
        try:
            return await self._step(latest, Step.FAIL, attempt, metadata, failure_reason=reason)
        except StaleTransition:
            return None
