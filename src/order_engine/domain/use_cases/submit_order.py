"""Use case: accept an order — validate, persist as pending, then enqueue."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import attrs
import structlog

from order_engine.domain.errors import QueueUnavailable
from order_engine.domain.money import dec_str
from order_engine.domain.order import Order
from order_engine.domain.ports import Clock, OrderQueue, OrderRepository
from order_engine.domain.requests import OrderRequest, new_order, validate
from order_engine.domain.status import Trigger

log = structlog.get_logger("order_engine.submit")


@attrs.define
class SubmitOrder:
    repo: OrderRepository
    queue: OrderQueue
    clock: Clock
    new_id: Callable[[], uuid.UUID] = uuid.uuid4

    async def __call__(self, request: OrderRequest) -> Order:
        """Raises InvalidOrder before anything is written; the row is committed before the enqueue."""
        request = validate(request)
        order = await self.repo.add(new_order(request, self.new_id(), self.clock.now()))
        log.info(
            "order created",
            order_id=str(order.id),
            order_type=order.order_type.value,
            pair=f"{order.token_in}/{order.token_out}",
            amount_in=dec_str(order.amount_in),
            slippage_bps=order.slippage_bps,
        )
        try:
            await self.queue.enqueue(order.id)
        except Exception as exc:
            await self._close_unqueued(order, exc)
            raise QueueUnavailable(order.id, exc) from exc
        log.debug("order enqueued", order_id=str(order.id))
        return order

    async def _close_unqueued(self, order: Order, exc: Exception) -> None:
        """No job will ever run this order: close it as failed so nothing sits in pending forever."""
        reason = "not accepted: queue unavailable"
        log.error("enqueue failed; order closed", order_id=str(order.id), error=repr(exc))
        change = order.change(
            Trigger.FAIL,
            self.clock.now(),
            attempt=0,
            metadata={"reason": reason, "stage": "queueing", "attempts": 0},
            failure_reason=reason,
        )
        try:
            await self.repo.apply(change)
        except Exception as write_error:  # the database is down too: nothing more can be done here
            log.error("could not close unqueued order", order_id=str(order.id), error=repr(write_error))
