"""Use cases of the watcher: trigger resting orders whose condition is met, expire those whose time ran out.

Both are batches (a move can cross a thousand limits at once, and a thousand can expire in one second): one
guarded write for the batch, each row still guarded by its own (status, seq), so an order cancelled or
re-armed meanwhile loses alone. A triggered order is then enqueued; a crash in between is healed by the
recovery sweep, which re-schedules `triggered` orders (never `waiting` ones).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import attrs

from order_engine.domain.events import EventBus, StatusWriter, SwapLineFailed, TriggeredNotQueued
from order_engine.domain.order import Order
from order_engine.domain.payloads import Expired, Triggered
from order_engine.domain.ports import Clock, OrderQueue, OrderRepository, SwapLine
from order_engine.domain.snipers import swap_line
from order_engine.domain.status import OrderStatus, Step

T = TypeVar("T")


FIRST_CHUNK, MAX_CHUNK = 1, 512


def chunks(items: Sequence[T], first: int = FIRST_CHUNK, most: int = MAX_CHUNK) -> Iterator[Sequence[T]]:
    """`items` in order, in slices of `first`, twice that, … up to `most` each."""
    start, size = 0, first
    while start < len(items):
        yield items[start : start + size]
        start, size = start + size, min(size * 2, most)


@attrs.define
class TriggerOrders:
    repo: OrderRepository
    queue: OrderQueue
    clock: Clock
    events: EventBus = attrs.field(factory=EventBus)
    line: SwapLine | None = None  # snipers join their launch's swap line before their jobs are queued

    async def __call__(self, hits: Sequence[tuple[Order, Triggered]]) -> list[Order]:
        """`waiting → triggered` for each (order, what met its condition), then a job for each that moved.

        In chunks that grow (1, 2, 4, … 512), in the order given: the first job is queued after a one-row write,
        not after a thousand rows (and starts before the others crowd its worker), and the rest still share a
        statement per chunk. Triggered snipers join their
        pool's swap line (in the order given: submission order) before their jobs are queued.
        """
        now = self.clock.now()
        writer = StatusWriter(self.repo, self.events)
        triggered: list[Order] = []
        for part in chunks(hits):
            changes = [o.change(Step.TRIGGER, now, attempt=o.attempts, payload=p) for o, p in part]
            moved = await writer.apply_many(changes)
            await self._join_lines(moved)
            for order in moved:
                triggered.append(order)
                try:
                    await self.queue.enqueue(order.id, arm=order.arm, order_type=order.order_type)
                except Exception as exc:
                    await self.events.emit(TriggeredNotQueued(order.id, repr(exc)))
        return triggered

    async def _join_lines(self, orders: Sequence[Order]) -> None:
        if self.line is None:
            return
        lines: dict[str, list[Order]] = {}
        for order in orders:
            if (line := swap_line(order)) is not None:
                lines.setdefault(line, []).append(order)
        for line, members in lines.items():
            try:
                await self.line.join(line, members)
            except Exception as exc:  # they still execute, only without waiting their turn
                await self.events.emit(SwapLineFailed(line, tuple(o.id for o in members), f"join: {exc!r}"))


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
