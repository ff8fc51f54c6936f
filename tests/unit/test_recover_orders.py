"""RecoverOrders: re-schedules exactly the orders no job drives, and leaves the rest alone."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import attrs
from fakes import FakeClock, FakeQueue, InMemoryOrderRepository

from order_engine.domain.requests import OrderRequest, new_order
from order_engine.domain.status import OrderType, Step
from order_engine.domain.use_cases.recover_orders import RecoverOrders


async def stored(
    repo: InMemoryOrderRepository, clock: FakeClock, *triggers: Step, order_type: OrderType = OrderType.MARKET
) -> uuid.UUID:
    order = new_order(OrderRequest("SOL", "USDC", Decimal("1")), uuid.uuid4(), clock.now())
    arm = None if order_type is OrderType.MARKET else 1
    order = await repo.add(attrs.evolve(order, order_type=order_type, arm=arm))
    for trigger in triggers:
        order = await repo.apply(order.change(trigger, clock.now(), attempt=1))
    return order.id


async def test_only_stale_non_terminal_orders_are_rescheduled_once() -> None:
    clock, repo = FakeClock(), InMemoryOrderRepository()
    queue = FakeQueue()
    recover = RecoverOrders(repo=repo, queue=queue, clock=clock, stale_after_s=60)
    stranded_pending = await stored(repo, clock)
    stranded_routing = await stored(repo, clock, Step.ROUTE)
    await stored(repo, clock, Step.FAIL)  # terminal: never touched
    clock.current += timedelta(seconds=61)
    fresh = await stored(repo, clock)  # still within its grace period

    assert await recover() == 2
    assert sorted(queue.enqueued) == sorted([stranded_pending, stranded_routing])
    assert fresh not in queue.enqueued

    # the jobs are live now: a second sweep finds the same orders but creates nothing
    assert await recover() == 0
    assert len(queue.enqueued) == 4 and len(set(queue.enqueued)) == 2


async def test_a_finished_job_that_left_its_order_open_gets_a_new_one() -> None:
    clock, repo = FakeClock(), InMemoryOrderRepository()
    queue = FakeQueue()
    recover = RecoverOrders(repo=repo, queue=queue, clock=clock, stale_after_s=30)
    order_id = await stored(repo, clock, Step.ROUTE, Step.BUILD)
    clock.current += timedelta(seconds=31)
    assert await recover() == 1
    queue.live.discard(order_id)  # the job ended (e.g. its worker was killed on the last attempt)
    assert await recover() == 1
    assert queue.enqueued == [order_id, order_id]


async def test_resting_orders_are_never_rescheduled_and_triggered_ones_are() -> None:
    """A waiting limit order has no job by design (the watcher owns it): re-scheduling it every sweep would
    run a job that finds nothing to do. A triggered one whose enqueue was lost must get its job."""
    clock, repo = FakeClock(), InMemoryOrderRepository()
    queue = FakeQueue()
    recover = RecoverOrders(repo=repo, queue=queue, clock=clock, stale_after_s=60)
    await stored(repo, clock, Step.REST, order_type=OrderType.LIMIT)
    await stored(repo, clock, Step.REST, Step.CANCEL, order_type=OrderType.SNIPER)
    await stored(repo, clock, Step.REST, Step.EXPIRE, order_type=OrderType.LIMIT)
    triggered = await stored(repo, clock, Step.REST, Step.TRIGGER, order_type=OrderType.LIMIT)
    clock.current += timedelta(days=2)

    assert await recover() == 1
    assert queue.enqueued == [triggered]
    assert queue.keys == [(triggered, 1)]  # on its arm's job key, as the watcher enqueued it
