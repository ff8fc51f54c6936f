"""Every engine metric, with its closed label sets, created once per process and pre-created at zero.

Names follow Prometheus's conventions: an `order_engine_` prefix, `_total` counters, `_seconds` histograms. Labels
come from closed sets only (order type, status, step, stage, venue, failure class, error class, incident kind): never
an order id, a free-text reason or a launched token's symbol. Every combination a dashboard may ask for exists from
start-up (at zero), so a panel shows 0 rather than "no data" for what has not happened yet.

In multiprocess mode (PROMETHEUS_MULTIPROC_DIR) prometheus_client keeps each value in a per-process file that the
API's /metrics adds up; gauges say how: `livesum` (open sockets: live processes only) or `mostrecent` (the active
watcher's count of resting orders).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from order_engine.adapters.market.table import VENUE_FEES_BPS
from order_engine.domain.payloads import FailureClass
from order_engine.domain.status import EDGES, STAGE, TERMINAL, OrderType

disable_created_metrics()  # no `_created` series beside every counter and histogram: nothing reads them

ORDER_TYPES = tuple(t.value for t in OrderType)
OUTCOMES = tuple(sorted(s.value for s in TERMINAL))  # cancelled, confirmed, expired, failed
STAGES = ("routing", "building", "submitting", "confirming")  # the job's forward steps, in order
assert set(STAGES) == set(STAGE.values())
VENUES = tuple(VENUE_FEES_BPS)
FAILURE_CLASSES = tuple(c.value for c in FailureClass)
QUOTE_ERRORS = ("unsupported_pair", "unavailable", "error")
LANES = ("main", "snipers")
QUEUE_STATES = ("queued", "active", "scheduled")
WS_ROUTES = ("watch", "execute")
INCIDENTS = (
    "enqueue_failed",
    "close_failed",
    "watch_notify_failed",
    "triggered_not_queued",
    "swap_line_failed",
    "out_of_turn",
    "swap_found_on_chain",
    "job_superseded",
    "job_skipped",
)
RESCUED = ("pending", "triggered", "routing", "building", "submitted")

# Seconds: from a millisecond's work to a limit order resting for a day.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)
QUOTE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


def _product(*sets: Iterable[str]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = [()]
    for values in sets:
        out = [(*prefix, v) for prefix in out for v in values]
    return out


class EngineMetrics:
    """The metric objects, and each labelled child resolved once (`child(metric, *labels)` is a dict lookup)."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        r = {"registry": registry}
        self.accepted = Counter("order_engine_orders_accepted_total", "Orders accepted, by type", ["order_type"], **r)
        self.finished = Counter(
            "order_engine_orders_finished_total",
            "Orders that reached a terminal status, by type and status",
            ["order_type", "status"],
            **r,
        )
        self.failures = Counter(
            "order_engine_order_failures_total",
            "Failed orders by type and failure class (the entry's failureClass)",
            ["order_type", "failure_class"],
            **r,
        )
        self.slippage = Counter(
            "order_engine_slippage_failures_total",
            "Orders failed on their slippage floor, by type",
            ["order_type"],
            **r,
        )
        self.transitions = Counter(
            "order_engine_status_transitions_total",
            "Status changes committed, by order type, step and the status entered",
            ["order_type", "step", "status"],
            **r,
        )
        self.duration = Histogram(
            "order_engine_order_duration_seconds",
            "From acceptance to the terminal status, by type and outcome",
            ["order_type", "status"],
            buckets=LATENCY_BUCKETS,
            **r,
        )
        self.stage = Histogram(
            "order_engine_stage_duration_seconds",
            "Time in each forward step of a job (routing: queue wait and quotes; building; submitting; confirming)",
            ["order_type", "stage"],
            buckets=LATENCY_BUCKETS,
            **r,
        )
        self.quote = Histogram(
            "order_engine_quote_duration_seconds",
            "A venue's quote, asked at routing",
            ["venue"],
            buckets=QUOTE_BUCKETS,
            **r,
        )
        self.quote_errors = Counter(
            "order_engine_quote_errors_total",
            "Quotes a venue failed to give, by error class",
            ["venue", "error_class"],
            **r,
        )
        self.routed = Counter("order_engine_routing_decisions_total", "Orders routed to each venue", ["venue"], **r)
        self.retries = Counter(
            "order_engine_retries_total", "Attempts that failed transiently and were retried, by stage", ["stage"], **r
        )
        self.resting = Gauge(
            "order_engine_resting_orders",
            "Orders resting (waiting for their condition), by type, as the active watcher holds them",
            ["order_type"],
            multiprocess_mode="mostrecent",
            **r,
        )
        self.triggers = Counter(
            "order_engine_triggers_total", "Resting orders whose condition was met, by type", ["order_type"], **r
        )
        self.trigger_delay = Histogram(
            "order_engine_trigger_to_routing_seconds",
            "From an order's trigger to its routing (queue wait and quotes), by type",
            ["order_type"],
            buckets=LATENCY_BUCKETS,
            **r,
        )
        self.ws_open = Gauge(
            "order_engine_websocket_connections",
            "Live status streams open, by route",
            ["route"],
            multiprocess_mode="livesum",
            **r,
        )
        self.ws_sent = Counter(
            "order_engine_websocket_messages_total", "Status messages sent on live streams, by route", ["route"], **r
        )
        self.rescues = Counter(
            "order_engine_recovery_rescues_total",
            "Stranded orders the recovery sweep gave a new job, by the status they were stranded in",
            ["status"],
            **r,
        )
        self.sweeps = Counter("order_engine_recovery_sweeps_total", "Recovery sweeps run", **r)
        self.rate_waits = Counter(
            "order_engine_rate_limit_waits_total", "Order attempts that waited for the start-rate limit", **r
        )
        self.rate_wait = Histogram(
            "order_engine_rate_limit_wait_seconds",
            "How long an attempt waited for the start-rate limit (those that waited)",
            buckets=LATENCY_BUCKETS,
            **r,
        )
        self.replays = Counter(
            "order_engine_idempotent_replays_total",
            "Requests answered with an earlier order (same Idempotency-Key)",
            **r,
        )
        self.incidents = Counter(
            "order_engine_incidents_total",
            "Things that went wrong and were handled (a notice lost, a swap found sent, a line skipped), by kind",
            ["kind"],
            **r,
        )
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._precreate()

    def child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def _precreate(self) -> None:
        sets: Mapping[Any, list[tuple[str, ...]]] = {
            self.accepted: _product(ORDER_TYPES),
            self.finished: _product(ORDER_TYPES, OUTCOMES),
            self.failures: _product(ORDER_TYPES, FAILURE_CLASSES),
            self.slippage: _product(ORDER_TYPES),
            self.transitions: sorted({(t.value, e.step.value, e.target.value) for e in EDGES for t in e.types}),
            self.duration: _product(ORDER_TYPES, OUTCOMES),
            self.stage: _product(ORDER_TYPES, STAGES),
            self.quote: _product(VENUES),
            self.quote_errors: _product(VENUES, QUOTE_ERRORS),
            self.routed: _product(VENUES),
            self.retries: _product(STAGES),
            self.resting: [("limit",), ("sniper",)],
            self.triggers: [("limit",), ("sniper",)],
            self.trigger_delay: [("limit",), ("sniper",)],
            self.ws_open: _product(WS_ROUTES),
            self.ws_sent: _product(WS_ROUTES),
            self.rescues: _product(RESCUED),
            self.incidents: _product(INCIDENTS),
        }
        for metric, combos in sets.items():
            for labels in combos:
                self.child(metric, *labels)


@functools.cache
def engine_metrics() -> EngineMetrics:
    """This process's metrics (in prometheus_client's default registry)."""
    return EngineMetrics()
