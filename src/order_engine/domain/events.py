"""What the domain tells the outside world: events, and the one bus that hands them to listeners.

The use cases do not log, broadcast or count: they emit an event, and listeners in the outer layers
(`app/listeners.py`) log it, publish it to live streams, and (later) count it. Every status change
goes through `StatusWriter.apply`, so a listener sees each one exactly once, after it is committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from order_engine.domain.order import Order, StatusChange
from order_engine.domain.ports import OrderRepository
from order_engine.domain.status import OrderStatus, OrderType, Step


@attrs.frozen
class StatusChanged:
    """A guarded change was committed: `order` is the row as it is now (its last entry is the new one).

    A change that took several steps in one write (`StatusChange.then`) is one event: `earlier` holds the steps
    before the last, each as its own event would have been, and `steps` all of them in order.
    """

    order: Order
    step: Step
    attempt: int
    earlier: tuple[StatusChanged, ...] = ()

    @property
    def steps(self) -> tuple[StatusChanged, ...]:
        return (*self.earlier, self)

    @classmethod
    def of(cls, order: Order, change: StatusChange) -> StatusChanged:
        """The event for `change`, committed as `order`."""
        earlier = tuple(cls(via, step, change.attempt) for via, step in change.passed)
        return cls(order, change.step, change.attempt, earlier)


@attrs.frozen
class OrderAccepted:
    """A new order was written (with its first entries) and, for a job-driven one, is about to be queued."""

    order: Order


@attrs.frozen
class IdempotentReplay:
    """A request repeated an Idempotency-Key with the same body: the first order is answered, nothing written."""

    order: Order


@attrs.frozen
class EnqueueFailed:
    """The order could not be queued: it is being closed as not accepted."""

    order_id: uuid.UUID
    error: str


@attrs.frozen
class CloseFailed:
    """Closing an unqueued order failed too (the database is down as well): the recovery sweep will find it."""

    order_id: uuid.UUID
    error: str


@attrs.frozen
class WatchNotifyFailed:
    """The watcher could not be told that an order rests; it will find it when it reconciles with PostgreSQL."""

    order_id: uuid.UUID
    error: str


@attrs.frozen
class TriggeredNotQueued:
    """A triggered order's job could not be enqueued; the recovery sweep re-schedules it."""

    order_id: uuid.UUID
    error: str


@attrs.frozen
class SwapLineFailed:
    """The swap line could not be joined, read or left (`error` says which): the snipers concerned, or those
    behind them, swap without waiting their turn."""

    line: str
    order_ids: tuple[uuid.UUID, ...]
    error: str


@attrs.frozen
class OutOfTurn:
    """A sniper waited `waited_s` for those ahead of it in `line` (one may have died) and swaps without its turn."""

    order_id: uuid.UUID
    line: str
    waited_s: float


@attrs.frozen
class JobSkipped:
    """A job found nothing to do: the order is unknown (`status` None), terminal, or resting."""

    order_id: uuid.UUID
    attempt: int
    status: OrderStatus | None


@attrs.frozen
class JobSuperseded:
    """The order moved on under another job while this one worked: this one stops without writing."""

    order_id: uuid.UUID
    attempt: int


@attrs.frozen
class QuotesGathered:
    """Every venue asked for a quote answered or failed: how long each took, and the class of each failure
    (`unsupported_pair`, `unavailable`, `error`). Emitted before the routing decision, whatever it is."""

    order_id: uuid.UUID
    order_type: OrderType
    latency_s: Mapping[str, float]  # venue -> seconds
    errors: Mapping[str, str]  # venue -> error class


@attrs.frozen
class RoutingDecided:
    order_id: uuid.UUID
    attempt: int
    amounts_out: Mapping[str, Any]  # venue -> {"price", "amountOut"} as decimal strings
    unavailable: Mapping[str, str]
    chosen: str
    reason: str


@attrs.frozen
class SwapFoundOnChain:
    """A resumed attempt found the swap an earlier one had sent: it settles that one instead of re-sending."""

    order_id: uuid.UUID
    attempt: int
    tx_hash: str


@attrs.frozen
class AttemptFailed:
    """A transient error ended this attempt; another follows after `retry_in_s`."""

    order_id: uuid.UUID
    attempt: int
    stage: str
    error: str
    retry_in_s: float


@attrs.frozen
class OrderRescheduled:
    """The recovery sweep gave a stranded order a new job."""

    order_id: uuid.UUID
    status: OrderStatus
    idle_s: float


@attrs.frozen
class RecoverySwept:
    stale: int
    scheduled: int


Event = (
    StatusChanged
    | OrderAccepted
    | IdempotentReplay
    | EnqueueFailed
    | CloseFailed
    | WatchNotifyFailed
    | TriggeredNotQueued
    | SwapLineFailed
    | OutOfTurn
    | JobSkipped
    | JobSuperseded
    | QuotesGathered
    | RoutingDecided
    | SwapFoundOnChain
    | AttemptFailed
    | OrderRescheduled
    | RecoverySwept
)


class Listener(Protocol):
    async def __call__(self, event: Event) -> None: ...


@attrs.define
class EventBus:
    """Calls every listener with every event, in order. A listener that raises does not stop the others nor
    the use case (a lost broadcast or log line must never fail an order): `on_error` hears of it."""

    listeners: Sequence[Listener] = ()
    on_error: Callable[[Listener, Event, Exception], None] | None = None

    async def emit(self, event: Event) -> None:
        for listener in self.listeners:
            try:
                await listener(event)
            except Exception as exc:
                if self.on_error is not None:
                    self.on_error(listener, event, exc)


@attrs.define
class StatusWriter:
    """The one place a status change is made: the guarded write, then the event (never before the commit)."""

    repo: OrderRepository
    events: EventBus

    async def apply(self, change: StatusChange) -> Order:
        order = await self.repo.apply(change)
        await self.events.emit(StatusChanged.of(order, change))
        return order

    async def apply_many(self, changes: Sequence[StatusChange]) -> list[Order]:
        """Many changes in one write; an event for each that applied (a stale one is left out, alone)."""
        if not changes:
            return []
        orders = list(await self.repo.apply_many(changes))
        by_id = {c.order_id: c for c in changes}
        for order in orders:
            await self.events.emit(StatusChanged.of(order, by_id[order.id]))
        return orders
