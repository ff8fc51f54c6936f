"""Resting orders on real PostgreSQL: batch trigger/expire guarded per row, the watcher's reads, and cancel
racing a trigger (exactly one wins, every time)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from order_engine.adapters.clock import SystemClock
from order_engine.adapters.sql.repository import SqlOrderRepository
from order_engine.domain.order import Order
from order_engine.domain.payloads import Expired, Rested, Triggered
from order_engine.domain.requests import OrderRequest, new_order, validate
from order_engine.domain.status import OrderStatus as S
from order_engine.domain.use_cases.cancel_order import CancelOrder
from order_engine.domain.use_cases.resting import ExpireOrders, TriggerOrders


class Queue:
    def __init__(self) -> None:
        self.keys: list[tuple[uuid.UUID, int | None]] = []

    async def enqueue(self, order_id: uuid.UUID, *, arm: int | None = None) -> bool:
        self.keys.append((order_id, arm))
        return True


def resting(price: str = "150", token_in: str = "SOL", token_out: str = "USDC") -> Order:
    now = datetime.now(UTC)
    request = validate(OrderRequest(token_in, token_out, D("1"), order_type="limit", limit_price=D(price)), now=now)
    return new_order(request, uuid.uuid4(), now, acceptance=Rested(arm=1, limit_price=D(price)))


HIT = Triggered("raydium", D("151"), datetime(2026, 1, 1, tzinfo=UTC), D("150"))


async def test_a_batch_trigger_is_one_statement_and_a_cancelled_row_loses_alone(repo: SqlOrderRepository) -> None:
    orders = [await repo.add(resting()) for _ in range(5)]
    clock, queue = SystemClock(), Queue()
    await CancelOrder(repo, clock)(orders[2].id)
    triggered = await TriggerOrders(repo, queue, clock)([(o, HIT) for o in orders])
    assert [o.id for o in triggered] == [o.id for i, o in enumerate(orders) if i != 2]
    assert queue.keys == [(o.id, 1) for o in triggered]
    for order in triggered:
        stored = await repo.get(order.id)
        assert stored == order and [e.status for e in stored.status_history] == [S.PENDING, S.WAITING, S.TRIGGERED]
        assert stored.status_history[-1].payload == HIT
    assert (await repo.get(orders[2].id)).status is S.CANCELLED


async def test_batch_expiry_and_the_watchers_reads(repo: SqlOrderRepository) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    orders = [await repo.add(resting()) for _ in range(3)]
    mine = {o.id for o in orders}
    pages, after = [], None
    while page := await repo.list_resting(after=after, limit=2):
        pages.append([o.id for o in page])
        after = page[-1].id
    seen = [i for p in pages for i in p]
    assert mine <= set(seen) and seen == sorted(seen)
    assert {(o.id, 1) for o in orders} <= set(await repo.resting_since(since))
    expired = await ExpireOrders(repo, SystemClock())([(o, Expired("time", D("150"))) for o in orders[:2]])
    assert [o.status for o in expired] == [S.EXPIRED, S.EXPIRED]
    assert {o.id for o in await repo.list_resting(after=None, limit=100_000)} & mine == {orders[2].id}
    assert {o.id for o in await repo.get_many([o.id for o in orders])} == mine


async def test_the_book_groups_resting_limits_by_side_and_price(repo: SqlOrderRepository) -> None:
    pair = ("JUP", "RAY")  # a pair no other test rests orders on
    for price in ("2", "2", "3"):
        await repo.add(resting(price, *pair))
    await repo.add(resting("0.25", pair[1], pair[0]))
    book = sorted(await repo.resting_book(list(pair)))
    assert book == [("JUP", D("2"), D("2"), 2), ("JUP", D("3"), D("1"), 1), ("RAY", D("0.25"), D("1"), 1)]


@pytest.mark.timeout(120)
async def test_cancel_racing_a_trigger_exactly_one_wins_each_of_100_times(repo: SqlOrderRepository) -> None:
    """From `waiting` exactly one of the two guarded changes applies. A cancel that loses finds the order
    `triggered` (still cancellable) and cancels it from there; a trigger that loses writes nothing and queues
    no job. Either way the order ends cancelled, with one cancel entry and at most one trigger."""
    clock = SystemClock()
    cancel = CancelOrder(repo, clock)
    seen = {"cancel first": 0, "trigger first": 0}
    for _ in range(100):
        queue = Queue()
        order = await repo.add(resting())
        cancelled, triggered = await asyncio.gather(cancel(order.id), TriggerOrders(repo, queue, clock)([(order, HIT)]))
        stored = await repo.get(order.id)
        assert stored is not None and stored.status is S.CANCELLED and cancelled == stored
        after = [e.status for e in stored.status_history[2:]]
        if after == [S.CANCELLED]:
            assert triggered == [] and queue.keys == []  # the trigger's guarded write lost: no job
            seen["cancel first"] += 1
        else:
            assert after == [S.TRIGGERED, S.CANCELLED] and [o.id for o in triggered] == [order.id]
            assert stored.status_history[-1].payload.from_status == "triggered"
            seen["trigger first"] += 1
    assert sum(seen.values()) == 100
