"""Idempotency keys on a real PostgreSQL: concurrent first requests, expiry and conflicts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import text

from order_engine.adapters.clock import SystemClock
from order_engine.domain.errors import IdempotencyConflict, QueueUnavailable
from order_engine.domain.order import Order
from order_engine.domain.requests import IDEMPOTENCY_KEY_TTL, OrderRequest, new_order
from order_engine.domain.status import OrderStatus
from order_engine.domain.use_cases import SubmitOrder


class RecordingQueue:
    def __init__(self, error: Exception | None = None) -> None:
        self.enqueued: list[uuid.UUID] = []
        self.error = error

    async def enqueue(self, order_id: uuid.UUID, *, arm: int | None = None) -> None:
        if self.error is not None:
            raise self.error
        self.enqueued.append(order_id)


def fresh_key() -> str:
    return f"idem-{uuid.uuid4()}"


def keyed(key: str, amount: str = "1.5", *, at: datetime | None = None) -> Order:
    request = OrderRequest("SOL", "USDC", D(amount), idempotency_key=key)
    return new_order(request, uuid.uuid4(), at or datetime.now(UTC))


def window() -> datetime:
    return datetime.now(UTC) - IDEMPOTENCY_KEY_TTL


async def rows_with_key(engine, key: str) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(text("select count(*) from orders where idempotency_key = :k"), {"k": key})).scalar()
        )


async def test_fifty_concurrent_adds_with_one_key_make_one_row(repo, engine):
    key = fresh_key()
    candidates = [keyed(key) for _ in range(50)]

    results = await asyncio.gather(*(repo.add_idempotent(c, expired_before=window()) for c in candidates))

    created = [order for order, was_created in results if was_created]
    assert len(created) == 1
    winner = created[0]
    assert {order.id for order, _ in results} == {winner.id}
    assert winner.id in {c.id for c in candidates}
    assert all(order == winner for order, _ in results)
    assert winner.request_fingerprint == candidates[0].request_fingerprint
    assert await rows_with_key(engine, key) == 1
    assert await repo.get(winner.id) == winner


async def test_fifty_concurrent_submits_enqueue_once(repo, engine):
    queue = RecordingQueue()
    submit = SubmitOrder(repo=repo, queue=queue, clock=SystemClock())
    key = fresh_key()

    results = await asyncio.gather(
        *(submit.accept(OrderRequest("sol", "usdc", D("2.50"), idempotency_key=key)) for _ in range(50))
    )

    assert sum(r.created for r in results) == 1
    assert len({r.order.id for r in results}) == 1
    assert queue.enqueued == [results[0].order.id]
    assert await rows_with_key(engine, key) == 1


async def test_an_expired_key_is_taken_over_by_the_next_order(repo, engine):
    key = fresh_key()
    old = await repo.add(keyed(key, "1", at=datetime.now(UTC) - timedelta(hours=25)))

    new, created = await repo.add_idempotent(keyed(key, "2"), expired_before=window())

    assert created is True and new.id != old.id and new.idempotency_key == key
    released = await repo.get(old.id)
    assert released.idempotency_key is None
    assert released.request_fingerprint == old.request_fingerprint  # the old order keeps its history
    assert await rows_with_key(engine, key) == 1
    replay, created = await repo.add_idempotent(keyed(key, "2"), expired_before=window())
    assert created is False and replay.id == new.id


async def test_a_key_younger_than_24_hours_is_not_taken_over(repo, engine):
    key = fresh_key()
    old = await repo.add(keyed(key, "1", at=datetime.now(UTC) - timedelta(hours=23, minutes=59)))
    holder, created = await repo.add_idempotent(keyed(key, "2"), expired_before=window())
    assert created is False and holder == old
    assert await rows_with_key(engine, key) == 1


async def test_twenty_concurrent_takeovers_of_an_expired_key_make_one_order(repo, engine):
    key = fresh_key()
    old = await repo.add(keyed(key, at=datetime.now(UTC) - timedelta(days=3)))
    candidates = [keyed(key) for _ in range(20)]

    results = await asyncio.gather(*(repo.add_idempotent(c, expired_before=window()) for c in candidates))

    created = [order for order, was_created in results if was_created]
    assert len(created) == 1 and created[0].id != old.id
    assert {order.id for order, _ in results} == {created[0].id}
    assert await rows_with_key(engine, key) == 1
    assert (await repo.get(old.id)).idempotency_key is None


async def test_same_key_different_request_is_a_conflict_and_writes_nothing(repo, engine):
    queue = RecordingQueue()
    submit = SubmitOrder(repo=repo, queue=queue, clock=SystemClock())
    key = fresh_key()
    first = await submit(OrderRequest("SOL", "USDC", D("1.5"), idempotency_key=key))

    with pytest.raises(IdempotencyConflict):
        await submit(OrderRequest("SOL", "USDC", D("1.6"), idempotency_key=key))
    with pytest.raises(IdempotencyConflict):
        await submit(OrderRequest("SOL", "USDC", D("1.5"), slippage_bps=100, idempotency_key=key))

    replay = await submit.accept(OrderRequest("sol", "USDC", D("1.500"), idempotency_key=key))
    assert replay.created is False and replay.order.id == first.id
    assert queue.enqueued == [first.id]
    assert await rows_with_key(engine, key) == 1


async def test_an_order_closed_as_not_accepted_frees_its_key(repo, engine):
    queue = RecordingQueue(error=ConnectionError("redis down"))
    submit = SubmitOrder(repo=repo, queue=queue, clock=SystemClock())
    key = fresh_key()
    with pytest.raises(QueueUnavailable) as raised:
        await submit(OrderRequest("SOL", "USDC", D("1"), idempotency_key=key))
    closed = await repo.get(raised.value.order_id)
    assert closed.status is OrderStatus.FAILED and closed.idempotency_key is None

    queue.error = None
    retry = await submit.accept(OrderRequest("SOL", "USDC", D("1"), idempotency_key=key))
    assert retry.created is True and retry.order.id != closed.id
    assert queue.enqueued == [retry.order.id]
    assert await rows_with_key(engine, key) == 1


async def test_without_a_key_identical_orders_are_separate_rows(repo):
    submit = SubmitOrder(repo=repo, queue=RecordingQueue(), clock=SystemClock())
    a = await submit(OrderRequest("SOL", "USDC", D("1.5")))
    b = await submit(OrderRequest("SOL", "USDC", D("1.5")))
    assert a.id != b.id and a.idempotency_key is None and b.idempotency_key is None
    assert a.request_fingerprint == b.request_fingerprint  # stored for every order, unique for none


async def test_schema_has_the_fingerprint_column(engine):
    async with engine.connect() as conn:
        column = (
            await conn.execute(
                text(
                    "select data_type, character_maximum_length, is_nullable from information_schema.columns "
                    "where table_name = 'orders' and column_name = 'request_fingerprint'"
                )
            )
        ).one()
    assert tuple(column) == ("character varying", 64, "YES")
