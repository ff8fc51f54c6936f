"""Use cases of the watcher: trigger resting orders whose condition is met, expire those whose time ran out.

Both are batches (a move can cross a thousand limits at once, and a thousand can expire in one second): one
guarded write for the batch, each row still guarded by its own (status, seq), so an order cancelled or
re-armed meanwhile loses alone. A triggered order is then enqueued; a crash in between is healed by the
recovery sweep, which re-schedules `triggered` orders (never `waiting` ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from order_engine.domain.events import EventBus, StatusWriter, TriggeredNotQueued
from order_engine.domain.order import Order
from order_engine.domain.payloads import Expired, Triggered
from order_engine.domain.ports import Clock, OrderQueue, OrderRepository
from order_engine.domain.status import OrderStatus, Step


@attrs.define
class TriggerOrders:
    repo: OrderRepository
    queue: OrderQueue
    clock: Clock
    events: EventBus = attrs.field(factory=EventBus)

    async def __call__(self, hits: Sequence[tuple[Order, Triggered]]) -> list[Order]:
        """`waiting → triggered` for each (order, what met its condition), then a job for each that moved."""
        now = self.clock.now()
        changes = [o.change(Step.TRIGGER, now, attempt=o.attempts, payload=p) for o, p in hits]
        triggered = await StatusWriter(self.repo, self.events).apply_many(changes)
        for order in triggered:
            try:
                await self.queue.enqueue(order.id, arm=order.arm)
            except Exception as exc:
                await self.events.emit(TriggeredNotQueued(order.id, repr(exc)))
        return triggered


@attrs.define
class ExpireOrders:
    repo: OrderRepository
    clock: Clock
    events: EventBus = attrs.field(factory=EventBus)

    async def __call__(self, due: Sequence[tuple[Order, Expired]]) -> list[Order]:
        """`waiting → expired` for each (order, its limit and the market at expiry). Triggered ones still run."""
        now = self.clock.now()
        changes = [
            o.change(Step.EXPIRE, now, attempt=o.attempts, payload=p) for o, p in due if o.status is OrderStatus.WAITING
        ]
        return await StatusWriter(self.repo, self.events).apply_many(changes)
