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
from order_engine.app.metrics.coalesce import Coalescer, shared_coalescer
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
    """`coalescer` decides when the values reach the metrics: at once (the default, for tests), or gathered and
    written once a second (`metrics_listener`, what the processes run)."""

    def __init__(self, metrics: EngineMetrics, coalescer: Coalescer | None = None) -> None:
        self.m = metrics
        self.c = coalescer or Coalescer(every_s=0)
        m, inc = metrics, self.c.inc
        handlers: dict[type, Callable[[Any], None]] = {
            StatusChanged: self._status_changed,
            OrderAccepted: self._accepted,
            QuotesGathered: self._quotes,
            RoutingDecided: lambda e: inc(m.child(m.routed, e.chosen)),
            AttemptFailed: lambda e: inc(m.child(m.retries, e.stage)),
            OrderRescheduled: lambda e: inc(m.child(m.rescues, e.status.value)),
            RecoverySwept: lambda e: inc(m.sweeps),
            IdempotentReplay: lambda e: inc(m.replays),
        }
        for kind in _INCIDENTS:
            child = metrics.child(metrics.incidents, _snake(kind.__name__))
            handlers[kind] = lambda _e, c=child: inc(c)
        self._handlers = handlers

    async def __call__(self, event: Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _accepted(self, event: OrderAccepted) -> None:
        order = event.order
        self.c.inc(self.m.child(self.m.accepted, order.order_type.value))
        history = order.status_history
        for i in range(1, len(history)):  # written with its first decision: rested, or an IOC limit decided
            step = _AT_ACCEPTANCE.get((history[i - 1].status, history[i].status))
            if step is not None:
                self._entered(order, i, step)

    def _status_changed(self, event: StatusChanged) -> None:
        for each in event.steps:
            self._entered(each.order, len(each.order.status_history) - 1, each.step)

    def _entered(self, order: Order, i: int, step: Step) -> None:
        m, c, history, kind = self.m, self.c, order.status_history, order.order_type.value
        entry = history[i]
        status = entry.status
        c.inc(m.child(m.transitions, kind, step.value, status.value))
        if step in _FORWARD and i > 0:
            left = history[i - 1].status
            start = i - 1
            while start > 0 and history[start - 1].status is left:  # retries kept it in that status
                start -= 1
            elapsed = (entry.timestamp - history[start].timestamp).total_seconds()
            c.observe(m.child(m.stage, kind, STAGE[left]), elapsed)
            if left is OrderStatus.TRIGGERED:
                c.observe(m.child(m.trigger_delay, kind), elapsed)
        if status is OrderStatus.TRIGGERED:
            c.inc(m.child(m.triggers, kind))
        elif status.is_terminal:
            c.inc(m.child(m.finished, kind, status.value))
            c.observe(m.child(m.duration, kind, status.value), (entry.timestamp - history[0].timestamp).total_seconds())
            if isinstance(entry.payload, Failed):
                c.inc(m.child(m.failures, kind, entry.payload.failure_class.value))
                if entry.payload.failure_class is FailureClass.SLIPPAGE:
                    c.inc(m.child(m.slippage, kind))

    def _quotes(self, event: QuotesGathered) -> None:
        for venue, seconds in event.latency_s.items():
            self.c.observe(self.m.child(self.m.quote, venue), seconds)
        for venue, error_class in event.errors.items():
            self.c.inc(self.m.child(self.m.quote_errors, venue, error_class))


def metrics_listener(metrics: EngineMetrics) -> Listener:
    """What every process runs: values gathered in process and written once a second (app/metrics/coalesce.py)."""
    return MetricsListener(metrics, shared_coalescer())
