"""Use case: cancel an order while it is still cancellable (pending, waiting or triggered).

The cancel is one guarded change, like every other: racing a trigger, a worker taking the order into routing
or another cancel, exactly one change wins. A cancel that loses to another cancel answers with that one's
result; one that loses to routing is TooLate.
"""

from __future__ import annotations

import uuid

import attrs

from order_engine.domain.errors import OrderNotFound, StaleTransition, TooLate
from order_engine.domain.events import EventBus, StatusWriter, WatchNotifyFailed
from order_engine.domain.order import Order
from order_engine.domain.payloads import Cancelled
from order_engine.domain.ports import Clock, OrderRepository, RestingWatch
from order_engine.domain.status import CANCELLABLE, OrderStatus, Step

MAX_RACES = 10  # each lost race means the order moved on: it cannot keep moving within the cancellable statuses


@attrs.define
class CancelOrder:
    repo: OrderRepository
    clock: Clock
    events: EventBus = attrs.field(factory=EventBus)
    watch: RestingWatch | None = None

    async def __call__(self, order_id: uuid.UUID) -> Order:
        """The order, now cancelled (or cancelled before). OrderNotFound; TooLate naming its status."""
        writer = StatusWriter(self.repo, self.events)
        for _ in range(MAX_RACES):
            order = await self.repo.get(order_id)
            if order is None:
                raise OrderNotFound(order_id)
            if order.status is OrderStatus.CANCELLED:
                return order
            if order.status not in CANCELLABLE:
                raise TooLate(order_id, order.status.value)
            change = order.change(
                Step.CANCEL, self.clock.now(), attempt=order.attempts, payload=Cancelled(order.status.value)
            )
            try:
                cancelled = await writer.apply(change)
            except StaleTransition:
                continue  # something moved it first: look again
            if order.status is OrderStatus.WAITING and self.watch is not None:
                try:
                    await self.watch.gone(order_id)
                except Exception as exc:  # the watcher drops it anyway when its trigger finds it cancelled
                    await self.events.emit(WatchNotifyFailed(order_id, repr(exc)))
            return cancelled
        raise TooLate(order_id, "the order kept changing")  # pragma: no cover
