"""Use case: accept an order — validate, persist as pending, then enqueue.

With an idempotency key, a request repeating one already accepted (same key, same validated
request, within 24 h) gets that order back and enqueues nothing; the same key with another
request is an IdempotencyConflict.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import attrs

from order_engine.domain.errors import IdempotencyConflict, QueueUnavailable
from order_engine.domain.events import (
    CloseFailed,
    EnqueueFailed,
    EventBus,
    IdempotentReplay,
    OrderAccepted,
    StatusWriter,
)
from order_engine.domain.order import Order
from order_engine.domain.payloads import Failed
from order_engine.domain.ports import Clock, OrderQueue, OrderRepository
from order_engine.domain.requests import IDEMPOTENCY_KEY_TTL, OrderRequest, fingerprint_of, new_order, validate
from order_engine.domain.status import Step


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

    async def __call__(self, request: OrderRequest) -> Order:
        return (await self.accept(request)).order

    async def accept(self, request: OrderRequest) -> Submission:
        """Raises InvalidOrder before anything is written; the row is committed before the enqueue.

        Raises IdempotencyConflict when the request's key is held by an order made from a different request.
        """
        request = validate(request)
        now = self.clock.now()
        candidate = new_order(request, self.new_id(), now)
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
        try:
            await self.queue.enqueue(order.id)
        except Exception as exc:
            await self._close_unqueued(order, exc)
            raise QueueUnavailable(order.id, exc) from exc
        return Submission(order, created=True)

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
            payload=Failed(reason=reason, attempts=0, stage="queueing"),
            failure_reason=reason,
            **({"idempotency_key": None} if order.idempotency_key is not None else {}),
        )
        try:
            await StatusWriter(self.repo, self.events).apply(change)
        except Exception as write_error:  # the database is down too: the recovery sweep will find it
            await self.events.emit(CloseFailed(order.id, repr(write_error)))
