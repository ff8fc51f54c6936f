"""Use case: find orders that no job is driving and schedule them again.

An order can be left non-terminal with no live job when the API dies between the
commit and the enqueue, or when a job ends without finishing its order (its worker
was killed on the last attempt, the database vanished mid-write). Re-scheduling is
safe because the job key is the order id (a live job is never duplicated) and every
step is a guarded transition (a second job can never move the order twice).
"""

from __future__ import annotations

from datetime import timedelta

import attrs

from order_engine.domain.events import EventBus, OrderRescheduled, RecoverySwept
from order_engine.domain.ports import Clock, OrderQueue, OrderRepository


@attrs.define
class RecoverOrders:
    repo: OrderRepository
    queue: OrderQueue
    clock: Clock
    events: EventBus = attrs.field(factory=EventBus)
    stale_after_s: float = 90.0
    batch: int = 500

    async def __call__(self) -> int:
        """Schedule every job-driven order untouched for `stale_after_s`; returns how many got a new job."""
        cutoff = self.clock.now() - timedelta(seconds=self.stale_after_s)
        stale = await self.repo.list_stale(updated_before=cutoff, limit=self.batch)
        scheduled = 0
        for order in stale:
            if await self.queue.enqueue(order.id, arm=order.arm):
                scheduled += 1
                idle_s = round((self.clock.now() - order.updated_at).total_seconds(), 1)
                await self.events.emit(OrderRescheduled(order.id, order.status, idle_s))
        if stale:
            await self.events.emit(RecoverySwept(len(stale), scheduled))
        return scheduled
