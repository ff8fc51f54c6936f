"""Use case: accept an order — validate, persist as pending, then enqueue."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import attrs
import structlog

from order_engine.domain.order import Order
from order_engine.domain.ports import Clock, OrderQueue, OrderRepository
from order_engine.domain.requests import OrderRequest, new_order, validate

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
            amount_in=str(order.amount_in),
            slippage_bps=order.slippage_bps,
        )
        await self.queue.enqueue(order.id)
        log.debug("order enqueued", order_id=str(order.id))
        return order
