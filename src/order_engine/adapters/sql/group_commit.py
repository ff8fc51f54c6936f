"""Group commit: the guarded transitions of a process's in-flight orders share statements and commits.

A change made while no other is on its way to PostgreSQL goes out as soon as the event loop comes round (no
timer: one turn of the loop), with the changes other orders made in that turn; the changes made while one is in
flight wait for it and then go out together, as one `UPDATE … FROM unnest(…)` (`SqlOrderRepository.apply_each`).
Ten orders' transitions then cost one round trip, one statement and one WAL flush instead of ten. Each is still exactly one guarded change: a row matches only at
its own expected (status, seq), a stale one gets its StaleTransition alone, and its caller sees the order only
after the statement that wrote it has committed (a broadcast still follows the committed row).

Reads by id are grouped the same way: the orders whose jobs start while a read is in flight are read together,
in one `SELECT … WHERE id = ANY(…)`. A read still sees every write committed before it was asked for.

New orders (an API's accepts, without an idempotency key) are inserted the same way: those accepted while an
INSERT is in flight go together in one `INSERT … SELECT FROM unnest(…)`, and each caller hears of its order only
once that statement has committed. A batch refused for what one of its rows holds (a constraint) is inserted
again row by row, so that only that row's caller gets the error.

Everything else is the wrapped repository's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from order_engine.adapters.batching import KeyedBatcher
from order_engine.adapters.sql.repository import SqlOrderRepository, batchable
from order_engine.domain.order import Order, StatusChange

GROUP = "orders"  # one group per process: every order's changes may share a statement
MOST_PER_STATEMENT = 64


class GroupCommitRepository:
    def __init__(self, repo: SqlOrderRepository, *, most: int = MOST_PER_STATEMENT) -> None:
        self._repo = repo
        self._batches: KeyedBatcher[StatusChange, Order] = KeyedBatcher(self._flush, most=most)
        self._reads: KeyedBatcher[uuid.UUID, Order | None] = KeyedBatcher(self._read, most=most)
        self._adds: KeyedBatcher[Order, Order] = KeyedBatcher(self._insert, most=most)
        self.inserts = 0  # INSERTs sent for new orders
        self.reads = 0  # SELECTs sent for reads by id
        self.statements = 0  # UPDATEs sent for grouped changes (read by the tests)
        self.changes = 0  # changes they carried
        self.fallbacks = 0  # statements rolled back by a deadlock, their changes then applied one by one

    def __getattr__(self, name: str) -> Any:  # get, add, list, apply_many …: the wrapped repository's
        return getattr(self._repo, name)

    async def get(self, order_id: uuid.UUID) -> Order | None:
        return await self._reads.submit(GROUP, order_id)

    async def _read(self, _group: str, order_ids: Sequence[uuid.UUID]) -> list[Order | None]:
        self.reads += 1
        if len(order_ids) == 1:
            return [await self._repo.get(order_ids[0])]
        found = {o.id: o for o in await self._repo.get_many(list(set(order_ids)))}
        return [found.get(i) for i in order_ids]

    async def add(self, order: Order) -> Order:
        return await self._adds.submit(GROUP, order)

    async def _insert(self, _group: str, orders: Sequence[Order]) -> list[Order | BaseException]:
        self.inserts += 1
        if len(orders) == 1:
            return [await self._repo.add(orders[0])]
        try:
            await self._repo.add_many(orders)
        except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
            return [await self._add_alone(o) for o in orders]  # whose row it is: each alone, the others go in
        return list(orders)

    async def _add_alone(self, order: Order) -> Order | BaseException:
        try:
            return await self._repo.add(order)
        except Exception as exc:  # the error its caller would have had from `add`
            return exc

    async def apply(self, change: StatusChange) -> Order:
        if not batchable(change):  # it clears a column (an idempotency key): alone, as it always went
            return await self._repo.apply(change)
        return await self._batches.submit(GROUP, change)

    async def _flush(self, _group: str, changes: Sequence[StatusChange]) -> list[Order | BaseException]:
        self.statements += 1
        self.changes += len(changes)
        if len(changes) == 1:  # the common case at low load: the single-row statement, prepared once
            return [await self._alone(changes[0])]
        try:
            return list(await self._repo.apply_each(changes))
        except asyncpg.DeadlockDetectedError:
            # Two processes' statements locking the same rows (duplicate jobs of the same orders) in different
            # orders: PostgreSQL rolled this one back whole. Each change again, alone: none can deadlock.
            self.fallbacks += 1
            return [await self._alone(c) for c in changes]

    async def _alone(self, change: StatusChange) -> Order | BaseException:
        try:
            return await self._repo.apply(change)
        except Exception as exc:  # StaleTransition, or the error its caller would have had from `apply`
            return exc
