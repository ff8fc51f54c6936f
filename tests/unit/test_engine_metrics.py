"""The metrics listener counts what the domain's events say, and nothing else: driven through the use cases on the
fakes, read back from a registry of its own. Label values come from closed sets only, and every series a dashboard
names exists at zero before anything happens."""

import asyncio
import re
import uuid
from decimal import Decimal as D

import pytest
from fakes import (
    FakeChain,
    FakeClock,
    FakeMarket,
    FakeQueue,
    FakeWatch,
    InMemoryOrderRepository,
    ScriptedVenue,
    sol_usdc_pool,
)
from prometheus_client import CollectorRegistry, generate_latest

from order_engine.app.live.streams import LiveStreams
from order_engine.app.metrics import catalog
from order_engine.app.metrics.catalog import EngineMetrics
from order_engine.app.metrics.listener import MetricsListener
from order_engine.app.metrics.live import PrometheusStreamMeter
from order_engine.app.metrics.queue_depth import QueueDepth
from order_engine.domain.errors import DexUnavailable, RetryLater, UnsupportedPair
from order_engine.domain.events import EventBus, OutOfTurn
from order_engine.domain.payloads import Triggered
from order_engine.domain.requests import OrderRequest
from order_engine.domain.status import OrderStatus as S
from order_engine.domain.use_cases import ExecuteOrder, SubmitOrder
from order_engine.domain.use_cases.cancel_order import CancelOrder
from order_engine.domain.use_cases.resting import TriggerOrders


class Rig:
    def __init__(self, *, venues=None, chain=None) -> None:
        self.registry = CollectorRegistry()
        self.metrics = EngineMetrics(self.registry)
        self.events = EventBus([MetricsListener(self.metrics)])
        self.repo, self.clock, self.watch = InMemoryOrderRepository(), FakeClock(), FakeWatch()
        self.queue = FakeQueue(repo=self.repo)
        self.submit = SubmitOrder(
            repo=self.repo,
            queue=self.queue,
            clock=self.clock,
            events=self.events,
            market=FakeMarket([sol_usdc_pool()]),
            watch=self.watch,
        )
        self.execute = ExecuteOrder(
            repo=self.repo,
            venues=venues
            or [ScriptedVenue("raydium", "0.0025", "101.2"), ScriptedVenue("meteora", "0.003", "101.537")],
            chain=chain or FakeChain(executed_price=D("101.41"), amount_out=D("151.650000")),
            events=self.events,
            clock=self.clock,
            retry_base_s=2.0,
        )

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


def market(amount: str = "1.5") -> OrderRequest:
    return OrderRequest("SOL", "USDC", D(amount), slippage_bps=75)


async def test_a_confirmed_market_order_is_counted_once_at_every_step_with_its_stage_times():
    r = Rig()
    order = await r.submit(market())
    order = await r.execute(order.id, attempt=1)
    assert order.status is S.CONFIRMED
    assert r.value("order_engine_orders_accepted_total", order_type="market") == 1
    for step, status in (
        ("route", "routing"),
        ("build", "building"),
        ("submit", "submitted"),
        ("confirm", "confirmed"),
    ):
        assert r.value("order_engine_status_transitions_total", order_type="market", step=step, status=status) == 1
    assert r.value("order_engine_orders_finished_total", order_type="market", status="confirmed") == 1
    assert r.value("order_engine_orders_finished_total", order_type="market", status="failed") == 0
    history = order.status_history
    total = (history[-1].timestamp - history[0].timestamp).total_seconds()
    assert r.value("order_engine_order_duration_seconds_count", order_type="market", status="confirmed") == 1
    assert r.value("order_engine_order_duration_seconds_sum", order_type="market", status="confirmed") == pytest.approx(
        total
    )
    stages = {
        stage: r.value("order_engine_stage_duration_seconds_sum", order_type="market", stage=stage)
        for stage in catalog.STAGES
    }
    steps = [(b.timestamp - a.timestamp).total_seconds() for a, b in zip(history, history[1:], strict=False)]
    assert list(stages.values()) == pytest.approx(steps)  # routing, building, submitting, confirming in turn
    assert sum(stages.values()) == pytest.approx(total)
    assert r.value("order_engine_quote_duration_seconds_count", venue="raydium") == 1
    assert r.value("order_engine_quote_duration_seconds_count", venue="meteora") == 1
    assert r.value("order_engine_routing_decisions_total", venue="meteora") == 1  # meteora quotes more
    assert r.value("order_engine_routing_decisions_total", venue="raydium") == 0


async def test_transient_errors_count_as_retries_then_one_venue_unavailable_failure():
    down = DexUnavailable("timeout")
    r = Rig(venues=[ScriptedVenue("raydium", "0.0025", always=down), ScriptedVenue("meteora", "0.003", always=down)])
    order = await r.submit(market())
    for attempt in (1, 2):
        with pytest.raises(RetryLater):
            await r.execute(order.id, attempt=attempt)
    order = await r.execute(order.id, attempt=3)
    assert order.status is S.FAILED
    assert r.value("order_engine_retries_total", stage="routing") == 2
    assert r.value("order_engine_quote_errors_total", venue="raydium", error_class="unavailable") == 3
    assert r.value("order_engine_order_failures_total", order_type="market", failure_class="venue_unavailable") == 1
    assert r.value("order_engine_orders_finished_total", order_type="market", status="failed") == 1
    assert r.value("order_engine_status_transitions_total", order_type="market", step="retry", status="pending") == 2
    assert r.value("order_engine_slippage_failures_total", order_type="market") == 0
    assert r.value("order_engine_stage_duration_seconds_count", order_type="market", stage="routing") == 0


async def test_a_stage_retried_is_timed_from_when_the_order_entered_it_not_from_its_retry():
    down = {1: DexUnavailable("timeout")}
    r = Rig(venues=[ScriptedVenue("raydium", "0.0025", errors=down), ScriptedVenue("meteora", "0.003", errors=down)])
    order = await r.submit(market())
    with pytest.raises(RetryLater):
        await r.execute(order.id, attempt=1)
    r.clock.advance(2.0)  # the backoff
    order = await r.execute(order.id, attempt=2)
    assert [e.status for e in order.status_history[:3]] == [S.PENDING, S.PENDING, S.ROUTING]
    routing = r.value("order_engine_stage_duration_seconds_sum", order_type="market", stage="routing")
    entered, routed = order.status_history[0].timestamp, order.status_history[2].timestamp
    assert routing == pytest.approx((routed - entered).total_seconds()) and routing > 2.0


async def test_slippage_and_unsupported_pairs_have_their_own_classes():
    r = Rig(chain=FakeChain(error="slippage exceeded", amount_out=D("150.1")))
    order = await r.execute((await r.submit(market())).id, attempt=1)
    assert order.status is S.FAILED
    assert r.value("order_engine_order_failures_total", order_type="market", failure_class="slippage") == 1
    assert r.value("order_engine_slippage_failures_total", order_type="market") == 1
    gone = UnsupportedPair("no SOL/USDC pool")
    r = Rig(venues=[ScriptedVenue("raydium", "0.0025", always=gone), ScriptedVenue("meteora", "0.003", always=gone)])
    await r.execute((await r.submit(market())).id, attempt=1)
    assert r.value("order_engine_order_failures_total", order_type="market", failure_class="unsupported_pair") == 1
    assert r.value("order_engine_quote_errors_total", venue="meteora", error_class="unsupported_pair") == 1


async def test_limit_orders_count_their_acceptance_entries_their_trigger_and_the_trigger_to_routing_delay():
    r = Rig(venues=[ScriptedVenue("raydium", "0.0025", "150")])
    rests = await r.submit(OrderRequest("SOL", "USDC", D("2"), order_type="limit", limit_price=D("149")))
    ioc = await r.submit(
        OrderRequest("SOL", "USDC", D("2"), order_type="limit", limit_price=D("149.53"), time_in_force="IOC")
    )
    assert (rests.status, ioc.status) == (S.WAITING, S.EXPIRED)
    assert r.value("order_engine_orders_accepted_total", order_type="limit") == 2
    assert r.value("order_engine_status_transitions_total", order_type="limit", step="rest", status="waiting") == 1
    assert r.value("order_engine_orders_finished_total", order_type="limit", status="expired") == 1
    trigger = TriggerOrders(r.repo, r.queue, r.clock, events=r.events)
    [triggered] = await trigger([(rests, Triggered("raydium", D("149.5"), r.clock.now()))])
    assert r.value("order_engine_triggers_total", order_type="limit") == 1
    r.clock.advance(0.25)  # the job starts a quarter of a second later
    await r.execute(triggered.id, attempt=1)
    delay = r.value("order_engine_trigger_to_routing_seconds_sum", order_type="limit")
    assert r.value("order_engine_trigger_to_routing_seconds_count", order_type="limit") == 1 and delay >= 0.25
    assert r.value("order_engine_orders_finished_total", order_type="limit", status="confirmed") == 1
    other = await r.submit(OrderRequest("SOL", "USDC", D("2"), order_type="limit", limit_price=D("160")))
    await CancelOrder(repo=r.repo, clock=r.clock, events=r.events, watch=r.watch)(other.id)
    assert r.value("order_engine_orders_finished_total", order_type="limit", status="cancelled") == 1


async def test_incidents_are_counted_by_kind():
    r = Rig()
    listener = MetricsListener(r.metrics)
    await listener(OutOfTurn(uuid.uuid4(), "PEPE/SOL", 2.0))
    await listener(OutOfTurn(uuid.uuid4(), "PEPE/SOL", 2.0))
    assert r.value("order_engine_incidents_total", kind="out_of_turn") == 2
    assert r.value("order_engine_incidents_total", kind="swap_found_on_chain") == 0


def test_every_series_exists_at_zero_and_every_label_is_from_a_closed_set():
    registry = CollectorRegistry()
    EngineMetrics(registry)
    text = generate_latest(registry).decode()
    closed = {
        "order_type": set(catalog.ORDER_TYPES),
        "status": {s.value for s in S},
        "stage": set(catalog.STAGES),
        "venue": set(catalog.VENUES),
        "failure_class": set(catalog.FAILURE_CLASSES),
        "error_class": set(catalog.QUOTE_ERRORS),
        "route": set(catalog.WS_ROUTES),
        "kind": set(catalog.INCIDENTS),
        "step": {
            "rest",
            "trigger",
            "rearm",
            "route",
            "build",
            "submit",
            "confirm",
            "retry",
            "fail",
            "cancel",
            "expire",
        },
        "le": None,
    }
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all(line.endswith(" 0.0") for line in samples)  # nothing happened yet: every series at zero
    for line in samples:
        name = line.split("{")[0].split(" ")[0]
        assert name.startswith("order_engine_"), line
        for label, value in re.findall(r'(\w+)="([^"]*)"', line):
            assert label in closed, line
            assert closed[label] is None or value in closed[label], line
    assert 'order_engine_orders_finished_total{order_type="sniper",status="expired"} 0.0' in text
    assert 'order_engine_order_failures_total{failure_class="slippage",order_type="sniper"} 0.0' in text


def test_the_stream_meter_counts_sockets_open_and_messages_sent():
    registry = CollectorRegistry()
    meter = PrometheusStreamMeter(EngineMetrics(registry))
    streams = LiveStreams(10, 2, meter=meter)
    order_id = uuid.uuid4()

    class W:
        last = 0

        def wake(self) -> None:
            pass

    def open_(route: str) -> float | None:
        return registry.get_sample_value("order_engine_websocket_connections", {"route": route})

    with streams.admit(order_id, W(), "execute") as refused:
        assert refused is None and open_("execute") == 1 and open_("watch") == 0
        meter.sent("execute")
        with streams.admit(order_id, W()), streams.admit(order_id, W()) as third:
            assert third is not None  # over the per-order cap: refused, not counted
            assert open_("watch") == 1
    assert (open_("execute"), open_("watch")) == (0, 0)
    assert registry.get_sample_value("order_engine_websocket_messages_total", {"route": "execute"}) == 1


async def test_queue_depth_is_read_at_scrape_time_and_a_lane_redis_cannot_read_goes_missing():
    class Queue:
        def __init__(self, info=None, error=None) -> None:
            self._info, self.error, self.calls = info, error, 0

        async def info(self):
            self.calls += 1
            if self.error:
                raise self.error
            return self._info

    main = Queue({"queued": 7, "active": 3, "scheduled": 2, "workers": {"a": {}, "b": {}}})
    depth = QueueDepth({"main": main, "snipers": Queue(error=ConnectionError("redis down"))})
    registry = CollectorRegistry()
    registry.register(depth)
    await depth.refresh()
    await depth.refresh()  # within a second: the last read serves
    assert main.calls == 1
    value = registry.get_sample_value
    assert [value("order_engine_queue_jobs", {"lane": "main", "state": s}) for s in catalog.QUEUE_STATES] == [7, 3, 2]
    assert value("order_engine_queue_workers", {"lane": "main"}) == 2
    assert value("order_engine_queue_jobs", {"lane": "snipers", "state": "queued"}) is None


def _samples(registry: CollectorRegistry) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in registry.collect() for s in m.samples}


async def test_coalesced_values_are_what_writing_each_would_have_given_and_reach_the_metrics_within_the_period():
    from prometheus_client import Counter, Histogram

    from order_engine.app.metrics.coalesce import Coalescer

    values = [0.0005, 0.001, 0.0011, 0.003, 0.003, 2.0, 100.0, 1e12]  # bucket edges, repeats, past the last bound
    direct, gathered = CollectorRegistry(), CollectorRegistry()
    h1 = Histogram("h_seconds", "h", ["k"], buckets=catalog.QUOTE_BUCKETS, registry=direct).labels("a")
    c1 = Counter("c_total", "c", ["k"], registry=direct).labels("a")
    h2 = Histogram("h_seconds", "h", ["k"], buckets=catalog.QUOTE_BUCKETS, registry=gathered).labels("a")
    c2 = Counter("c_total", "c", ["k"], registry=gathered).labels("a")
    coalescer = Coalescer(every_s=0.05)
    for v in values:
        h1.observe(v)
        c1.inc()
        coalescer.observe(h2, v)
        coalescer.inc(c2)
    assert gathered.get_sample_value("c_total", {"k": "a"}) == 0  # nothing written yet
    await asyncio.sleep(0.1)  # one period later it is all there, exactly as written one by one
    assert _samples(gathered) == _samples(direct)
    assert gathered.get_sample_value("h_seconds_count", {"k": "a"}) == len(values)


def test_without_an_event_loop_values_are_written_at_once():
    from prometheus_client import Counter

    from order_engine.app.metrics.coalesce import Coalescer

    registry = CollectorRegistry()
    counter = Counter("n_total", "n", registry=registry)
    Coalescer(every_s=1.0).inc(counter, 3)
    assert registry.get_sample_value("n_total") == 3
