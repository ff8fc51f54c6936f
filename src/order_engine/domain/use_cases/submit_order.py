"""Use case: accept an order — validate, persist with its first entries, then hand it on.

A market order is persisted `pending` and enqueued. A limit order is persisted with its acceptance decided
against the market in the same INSERT: `waiting` (then the watcher is told), or, for IOC, `triggered` (then
enqueued) or `expired`. With an idempotency key, a request repeating one already accepted (same key, same
validated request, within 24 h) gets that order back and nothing else happens; the same key with another
request is an IdempotencyConflict.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import attrs

from order_engine.domain.errors import DexError, IdempotencyConflict, MarketUnavailable, QueueUnavailable
from order_engine.domain.events import (
    CloseFailed,
    EnqueueFailed,
    EventBus,
    IdempotentReplay,
    OrderAccepted,
    StatusWriter,
    WatchNotifyFailed,
)
from order_engine.domain.limits import effective_price, limit_floor
from order_engine.domain.order import Order
from order_engine.domain.payloads import Expired, Failed, FailureClass, Payload, Rested, Triggered
from order_engine.domain.ports import Clock, MarketQuotes, OrderQueue, OrderRepository, RestingWatch, TokenDirectory
from order_engine.domain.requests import (
    DEFAULT_POLICY,
    IDEMPOTENCY_KEY_TTL,
    OrderRequest,
    Policy,
    fingerprint_of,
    new_order,
    validate,
)
from order_engine.domain.status import JOB_DRIVEN, OrderStatus, OrderType, Step, TimeInForce
from order_engine.domain.tokens import token

IOC_NOT_MET = "IOC: the limit was not met at acceptance"


@attrs.frozen
class Submission:
    order: Order
    created: bool  # False: an idempotent replay, `order` is the one the key's first request created


@attrs.define
class SubmitOrder:
    repo: OrderRepository
    queue: OrderQueue
    clock: Clock
    events: EventBus = attrs.field(factory=EventBus)
    new_id: Callable[[], uuid.UUID] = uuid.uuid4
    market: MarketQuotes | None = None  # needed for limit orders
    watch: RestingWatch | None = None
    policy: Policy = DEFAULT_POLICY
    tokens: TokenDirectory | None = None  # launched tokens: refreshed when a request names one this process lacks

    async def __call__(self, request: OrderRequest) -> Order:
        return (await self.accept(request)).order

    async def accept(self, request: OrderRequest) -> Submission:
        """Raises InvalidOrder before anything is written; the row is committed before the enqueue.

        Raises IdempotencyConflict when the request's key is held by an order made from a different request,
        MarketUnavailable when an IOC limit cannot be decided (nothing written).
        """
        now = self.clock.now()
        if self.tokens is not None and (token(request.token_in) is None or token(request.token_out) is None):
            await self.tokens.refresh()
        request = validate(request, now=now, policy=self.policy)
        acceptance = await self._acceptance(request, now) if request.order_type == OrderType.LIMIT else None
        candidate = new_order(request, self.new_id(), now, policy=self.policy, acceptance=acceptance)
        if request.idempotency_key is None:
            order = await self.repo.add(candidate)
        else:
            order, created = await self.repo.add_idempotent(candidate, expired_before=now - IDEMPOTENCY_KEY_TTL)
            if not created:
                if fingerprint_of(order) != candidate.request_fingerprint:
                    raise IdempotencyConflict(request.idempotency_key)
                await self.events.emit(IdempotentReplay(order))
                return Submission(order, created=False)
        await self.events.emit(OrderAccepted(order))
        if order.status in JOB_DRIVEN:
            try:
                await self.queue.enqueue(order.id, arm=order.arm, order_type=order.order_type)
            except Exception as exc:
                await self._close_unqueued(order, exc)
                raise QueueUnavailable(order.id, exc) from exc
        elif order.status is OrderStatus.WAITING:
            await self._tell_watcher(order)
        return Submission(order, created=True)

    async def _acceptance(self, request: OrderRequest, now: datetime) -> Payload:
        """A limit order's second entry: how the market stands against its limit right now."""
        if self.market is None:
            raise RuntimeError("SubmitOrder needs a MarketQuotes port to accept limit orders")
        assert request.limit_price is not None
        tout = token(request.token_out)
        assert tout is not None
        floor = limit_floor(request.amount_in, request.limit_price, tout)
        ioc = request.time_in_force == TimeInForce.IOC
        try:
            quotes = await self.market.quotes(request.token_in, request.token_out, request.amount_in)
        except (DexError, OSError) as exc:
            if ioc:
                raise MarketUnavailable(exc) from exc
            quotes = []  # a resting order does not need the market now: the watcher will judge it
        best = max(quotes, key=lambda q: (q.amount_out, -q.fee_rate), default=None)
        best_price = None if best is None else effective_price(best.amount_out, request.amount_in)
        if not ioc:
            return Rested(arm=1, limit_price=request.limit_price, best_effective_price=best_price)
        if best is not None and best_price is not None and best.amount_out >= floor:
            return Triggered(
                venue=best.venue, effective_price=best_price, market_at=now, limit_price=request.limit_price
            )
        return Expired(reason=IOC_NOT_MET, limit_price=request.limit_price, best_effective_price=best_price)

    async def _tell_watcher(self, order: Order) -> None:
        """A lost notice only delays the trigger: the watcher reconciles with PostgreSQL every few seconds."""
        if self.watch is None:
            return
        try:
            await self.watch.rested(order)
        except Exception as exc:
            await self.events.emit(WatchNotifyFailed(order.id, repr(exc)))

    async def _close_unqueued(self, order: Order, exc: Exception) -> None:
        """No job will ever run this order: close it as failed so nothing sits in pending forever.

        The same write releases its idempotency key: the client was told to try again, and its
        retry with that key must make a new order, not replay one that was never accepted.
        """
        reason = "not accepted: queue unavailable"
        await self.events.emit(EnqueueFailed(order.id, repr(exc)))
        change = order.change(
            Step.FAIL,
            self.clock.now(),
            attempt=0,
            payload=Failed(reason=reason, attempts=0, stage="queueing", failure_class=FailureClass.NOT_QUEUED),
            failure_reason=reason,
            **({"idempotency_key": None} if order.idempotency_key is not None else {}),
        )
        try:
            await StatusWriter(self.repo, self.events).apply(change)
        except Exception as write_error:  # the database is down too: the recovery sweep will find it
            await self.events.emit(CloseFailed(order.id, repr(write_error)))
