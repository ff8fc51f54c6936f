"""OrderRepository on PostgreSQL: one statement, one round trip, per operation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from order_engine.adapters.sql.mapping import order_from_row, row_values, update_values
from order_engine.adapters.sql.models import OrderRow
from order_engine.domain.errors import StaleTransition
from order_engine.domain.order import Order, StatusChange
from order_engine.domain.status import TERMINAL, OrderStatus

orders = OrderRow.__table__


class SqlOrderRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, order: Order) -> Order:
        async with self._engine.begin() as conn:
            row = (await conn.execute(insert(orders).values(row_values(order)).returning(*orders.c))).one()
        return order_from_row(row)

    async def add_idempotent(self, order: Order, *, expired_before: datetime) -> tuple[Order, bool]:
        """One transaction: release the key if it expired, INSERT … ON CONFLICT DO NOTHING, else read the holder.

        The UNIQUE constraint on `idempotency_key` decides the race: a concurrent INSERT with the
        same key waits for the first to commit and then does nothing, and the next statement
        (READ COMMITTED: a fresh snapshot) sees the winner. Two transactions releasing the same
        expired key serialise on its row lock; the second finds the key already gone.
        """
        key = order.idempotency_key
        if key is None:
            raise ValueError("add_idempotent needs an order with an idempotency key")
        release = (
            update(orders)
            .where(orders.c.idempotency_key == key, orders.c.created_at < expired_before)
            .values(idempotency_key=None)
        )
        create = (
            pg_insert(orders)
            .values(row_values(order))
            .on_conflict_do_nothing(index_elements=[orders.c.idempotency_key])
            .returning(*orders.c)
        )
        holder = select(orders).where(orders.c.idempotency_key == key)
        for _ in range(3):  # the holder can release its key in between (closed as not accepted): try again
            async with self._engine.begin() as conn:
                await conn.execute(release)
                row = (await conn.execute(create)).one_or_none()
                if row is not None:
                    return order_from_row(row), True
                row = (await conn.execute(holder)).one_or_none()
            if row is not None:
                return order_from_row(row), False
        raise RuntimeError(f"idempotency key {key[:64]!r} neither inserted nor found")

    async def get(self, order_id: uuid.UUID) -> Order | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(orders).where(orders.c.id == order_id))).one_or_none()
        return None if row is None else order_from_row(row)

    async def list(
        self, *, status: OrderStatus | None, limit: int, before: tuple[datetime, uuid.UUID] | None
    ) -> Sequence[Order]:
        stmt = select(orders).order_by(orders.c.created_at.desc(), orders.c.id.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(orders.c.status == status.value)
        if before is not None:
            stmt = stmt.where(tuple_(orders.c.created_at, orders.c.id) < tuple_(*before))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [order_from_row(r) for r in rows]

    async def list_stale(self, *, updated_before: datetime, limit: int) -> Sequence[Order]:
        stmt = (
            select(orders)
            .where(orders.c.status.not_in([s.value for s in TERMINAL]), orders.c.updated_at < updated_before)
            .order_by(orders.c.updated_at)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [order_from_row(r) for r in rows]

    async def apply(self, change: StatusChange) -> Order:
        """The guarded transition: status, history append, updated_at and attempts in one UPDATE.

        It matches only while the order is still at the expected (status, seq), so of two
        jobs racing on the same step exactly one wins and the other gets StaleTransition.
        """
        stmt = (
            update(orders)
            .where(
                orders.c.id == change.order_id,
                orders.c.status == change.expected_status.value,
                func.jsonb_array_length(orders.c.status_history) == change.expected_seq,
            )
            .values(
                status=change.entry.status.value,
                status_history=orders.c.status_history.op("||")(bindparam("entry", type_=JSONB)),
                updated_at=change.entry.timestamp,
                attempts=func.greatest(orders.c.attempts, change.attempt),
                **update_values(dict(change.updates)),
            )
            .returning(*orders.c)
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(stmt, {"entry": [change.entry.to_dict()]})).one_or_none()
        if row is None:
            raise StaleTransition(change.order_id, change.expected_status.value, change.expected_seq)
        return order_from_row(row)
