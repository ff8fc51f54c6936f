"""The domain emits events and imports nothing from the outside; the bus and the one place status changes pass."""

from __future__ import annotations

import ast
import logging
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
from fakes import FakeClock, FakeQueue, InMemoryOrderRepository, RecordingListener, RecordingNotifier, publishing_to
from structlog.testing import capture_logs

from order_engine.app import listeners
from order_engine.domain.errors import QueueUnavailable
from order_engine.domain.events import (
    EnqueueFailed,
    EventBus,
    JobSkipped,
    OrderAccepted,
    OrderRescheduled,
    RecoverySwept,
    StatusChanged,
    StatusWriter,
)
from order_engine.domain.requests import OrderRequest
from order_engine.domain.status import OrderStatus, Step
from order_engine.domain.use_cases import SubmitOrder
from order_engine.domain.use_cases.recover_orders import RecoverOrders

DOMAIN = Path(__file__).parents[2] / "src/order_engine/domain"
# The standard library the domain may use, plus attrs for its entities. Anything else is a framework,
# a driver or a logging library, and belongs in adapters/ or app/.
ALLOWED = {"__future__", "abc", "asyncio", "bisect", "collections", "datetime", "decimal", "enum", "functools", "hashlib", "heapq",
           "json", "re", "time", "types", "typing", "uuid", "attrs", "order_engine"}  # fmt: skip


def test_the_domain_imports_no_framework_driver_or_logging_library() -> None:
    found: dict[str, set[str]] = {}
    for path in DOMAIN.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            )  # fmt: skip
            for name in names:
                root = name.split(".")[0]
                if root not in ALLOWED:
                    found.setdefault(str(path.relative_to(DOMAIN)), set()).add(root)
                if root == "order_engine":
                    assert name.startswith("order_engine.domain"), f"{path.name} imports {name}"
    assert found == {}


async def test_a_failing_listener_stops_neither_the_others_nor_the_caller() -> None:
    recorded, errors = RecordingListener(), []

    async def broken(event: object) -> None:
        raise RuntimeError("redis down")

    bus = EventBus([broken, recorded], on_error=lambda listener, event, exc: errors.append((event, exc)))
    event = JobSkipped(uuid.uuid4(), 1, None)
    await bus.emit(event)
    assert recorded.events == [event]
    assert [(e, str(x)) for e, x in errors] == [(event, "redis down")]


async def test_a_crash_is_not_swallowed() -> None:
    async def dying(event: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await EventBus([dying]).emit(JobSkipped(uuid.uuid4(), 1, None))


async def test_the_status_writer_emits_after_the_commit_and_only_on_success() -> None:
    clock, repo, recorded = FakeClock(), InMemoryOrderRepository(), RecordingListener()
    submit = SubmitOrder(repo=repo, queue=FakeQueue(), clock=clock)
    order = await submit(OrderRequest("SOL", "USDC", Decimal("1")))
    writer = StatusWriter(repo, EventBus([recorded]))
    change = order.change(Step.CANCEL, clock.now(), attempt=0)

    cancelled = await writer.apply(change)
    assert recorded.events == [StatusChanged(cancelled, Step.CANCEL, 0)]
    assert repo.orders[order.id].status is OrderStatus.CANCELLED  # committed before anyone heard of it

    with pytest.raises(Exception):  # noqa: B017 - the stale change: the guard refuses it
        await writer.apply(change)
    assert len(recorded.events) == 1  # nothing announced for a change that was not made


async def test_submit_announces_the_order_and_a_queue_failure_closes_it_through_the_writer() -> None:
    clock, repo, recorded = FakeClock(), InMemoryOrderRepository(), RecordingListener()
    ok = SubmitOrder(repo=repo, queue=FakeQueue(), clock=clock, events=EventBus([recorded]))
    order = await ok(OrderRequest("SOL", "USDC", Decimal("1")))
    assert recorded.events == [OrderAccepted(order)]

    recorded.events.clear()
    down = SubmitOrder(
        repo=repo, queue=FakeQueue(error=ConnectionError("redis")), clock=clock, events=EventBus([recorded])
    )
    with pytest.raises(QueueUnavailable):
        await down(OrderRequest("SOL", "USDC", Decimal("2")))
    kinds = [type(e) for e in recorded.events]
    assert kinds == [OrderAccepted, EnqueueFailed, StatusChanged]
    closed = recorded.of(StatusChanged)[0]
    assert closed.order.status is OrderStatus.FAILED and closed.step is Step.FAIL


async def test_the_recovery_sweep_reports_each_rescue_and_the_round() -> None:
    clock, repo, recorded = FakeClock(), InMemoryOrderRepository(), RecordingListener()
    recover = RecoverOrders(repo=repo, queue=FakeQueue(), clock=clock, events=EventBus([recorded]), stale_after_s=60)
    assert await recover() == 0 and recorded.events == []  # nothing stale: nothing said
    order = await SubmitOrder(repo=repo, queue=FakeQueue(), clock=clock)(OrderRequest("SOL", "USDC", Decimal("1")))
    clock.advance(90)
    assert await recover() == 1
    rescued, swept = recorded.events
    assert isinstance(rescued, OrderRescheduled) and rescued.order_id == order.id
    assert rescued.status is OrderStatus.PENDING and rescued.idle_s >= 90
    assert swept == RecoverySwept(stale=1, scheduled=1)


async def test_a_two_step_change_is_one_event_logged_and_broadcast_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    clock, repo, recorded, notifier = FakeClock(), InMemoryOrderRepository(), RecordingListener(), RecordingNotifier()
    order = await SubmitOrder(repo=repo, queue=FakeQueue(), clock=clock)(OrderRequest("SOL", "USDC", Decimal("1")))
    change = order.change(Step.ROUTE, clock.now(), attempt=1, dex_used="raydium").then(Step.BUILD, clock.now())
    monkeypatch.setattr(listeners, "log", structlog.get_logger("order_engine.events"))
    monkeypatch.setattr(listeners._LEVEL, "isEnabledFor", lambda level: level >= logging.INFO)
    with capture_logs() as logs:
        built = await StatusWriter(repo, EventBus([recorded, listeners.log_event, publishing_to(notifier)])).apply(
            change
        )

    (event,) = recorded.events
    assert isinstance(event, StatusChanged) and event.order == built
    assert [(s.step, s.order.status, s.order.seq) for s in event.steps] == [
        (Step.ROUTE, OrderStatus.ROUTING, 2),
        (Step.BUILD, OrderStatus.BUILDING, 3),
    ]
    assert [(line["status"], line["seq"], line["step"]) for line in logs] == [
        ("routing", 2, "route"),
        ("building", 3, "build"),
    ]
    assert notifier.published == [(order.id, 2, OrderStatus.ROUTING), (order.id, 3, OrderStatus.BUILDING)]
    assert notifier.attempts == 1  # both states in one publish
