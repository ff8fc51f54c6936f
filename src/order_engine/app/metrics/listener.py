"""The metrics listener: counts what the domain's events say, on the bus every status change passes through.

No adapter counts anything itself: a status change is counted once, after its commit, in the process that made
it (API at acceptance, worker while executing, watcher at trigger and expiry), and multiprocess mode (or the
scrape of every process) adds the processes up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from order_engine.app.metrics.catalog import EngineMetrics
from order_engine.domain.events import (
    AttemptFailed,
    CloseFailed,
    EnqueueFailed,
    Event,
    IdempotentReplay,
    JobSkipped,
    JobSuperseded,
    Listener,
    OrderAccepted,
    OrderRescheduled,
    OutOfTurn,
    QuotesGathered,
    RecoverySwept,
    RoutingDecided,
    StatusChanged,
    SwapFoundOnChain,
    SwapLineFailed,
    TriggeredNotQueued,
    WatchNotifyFailed,
)
from order_engine.domain.order import Order
from order_engine.domain.payloads import Failed, FailureClass
from order_engine.domain.status import EDGES, STAGE, OrderStatus, Step

# The steps that move a job forward: the time before each is the time its stage took.
_FORWARD = frozenset({Step.ROUTE, Step.BUILD, Step.SUBMIT, Step.CONFIRM})
# The step behind each entry an order is written with (a resting order is inserted as pending + waiting).
_AT_ACCEPTANCE = {(e.source, e.target): e.step for e in EDGES if e.source is OrderStatus.PENDING}
_INCIDENTS = (
    EnqueueFailed,
    CloseFailed,
    WatchNotifyFailed,
    TriggeredNotQueued,
    SwapLineFailed,
    OutOfTurn,
    SwapFoundOnChain,
    JobSuperseded,
    JobSkipped,
)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class MetricsListener:
    def __init__(self, metrics: EngineMetrics) -> None:
        self.m = metrics
        handlers: dict[type, Callable[[Any], None]] = {
            StatusChanged: self._status_changed,
            OrderAccepted: self._accepted,
            QuotesGathered: self._quotes,
            RoutingDecided: lambda e: self.m.child(self.m.routed, e.chosen).inc(),
            AttemptFailed: lambda e: self.m.child(self.m.retries, e.stage).inc(),
            OrderRescheduled: lambda e: self.m.child(self.m.rescues, e.status.value).inc(),
            RecoverySwept: lambda e: self.m.sweeps.inc(),
            IdempotentReplay: lambda e: self.m.replays.inc(),
        }
        for kind in _INCIDENTS:
            child = metrics.child(metrics.incidents, _snake(kind.__name__))
            handlers[kind] = lambda _e, c=child: c.inc()
        self._handlers = handlers

    async def __call__(self, event: Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _accepted(self, event: OrderAccepted) -> None:
        order = event.order
        self.m.child(self.m.accepted, order.order_type.value).inc()
        history = order.status_history
        for i in range(1, len(history)):  # written with its first decision: rested, or an IOC limit decided
            step = _AT_ACCEPTANCE.get((history[i - 1].status, history[i].status))
            if step is not None:
                self._entered(order, i, step)

    def _status_changed(self, event: StatusChanged) -> None:
        self._entered(event.order, len(event.order.status_history) - 1, event.step)

    def _entered(self, order: Order, i: int, step: Step) -> None:
        m, history, kind = self.m, order.status_history, order.order_type.value
        entry = history[i]
        status = entry.status
        m.child(m.transitions, kind, step.value, status.value).inc()
        if step in _FORWARD and i > 0:
            left = history[i - 1].status
            start = i - 1
            while start > 0 and history[start - 1].status is left:  # retries kept it in that status
                start -= 1
            elapsed = (entry.timestamp - history[start].timestamp).total_seconds()
            m.child(m.stage, kind, STAGE[left]).observe(elapsed)
            if left is OrderStatus.TRIGGERED:
                m.child(m.trigger_delay, kind).observe(elapsed)
        if status is OrderStatus.TRIGGERED:
            m.child(m.triggers, kind).inc()
        elif status.is_terminal:
            m.child(m.finished, kind, status.value).inc()
            m.child(m.duration, kind, status.value).observe((entry.timestamp - history[0].timestamp).total_seconds())
            if isinstance(entry.payload, Failed):
                m.child(m.failures, kind, entry.payload.failure_class.value).inc()
                if entry.payload.failure_class is FailureClass.SLIPPAGE:
                    m.child(m.slippage, kind).inc()

    def _quotes(self, event: QuotesGathered) -> None:
        for venue, seconds in event.latency_s.items():
            self.m.child(self.m.quote, venue).observe(seconds)
        for venue, error_class in event.errors.items():
            self.m.child(self.m.quote_errors, venue, error_class).inc()


def metrics_listener(metrics: EngineMetrics) -> Listener:
    return MetricsListener(metrics)
