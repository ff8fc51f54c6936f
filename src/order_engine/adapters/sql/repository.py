"""OrderRepository on PostgreSQL (asyncpg): one statement, one round trip, per operation.

Statements run outside explicit transactions (each is atomic on its own), are prepared once per
connection by asyncpg's statement cache, and the column list comes from the SQLAlchemy table that
the migrations are written against, so the two cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache

import asyncpg
import msgspec

from order_engine.adapters.sql.mapping import COLUMN_TYPES, COLUMNS, order_from_row, row_args, update_values
from order_engine.adapters.wire import encode, entry_to_dict
from order_engine.domain.errors import StaleTransition
from order_engine.domain.order import Order, StatusChange
from order_engine.domain.status import JOB_DRIVEN, OrderStatus, OrderType

_COLS = ", ".join(COLUMNS)
_INSERT = f"INSERT INTO orders ({_COLS}) VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))})"
# Many orders in one statement: each column as an array (jsonb values pre-encoded: asyncpg would read a list
# inside a `jsonb[]` as another dimension of the array).
_INSERT_MANY = (
    f"INSERT INTO orders ({_COLS}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(COLUMN_TYPES, 1))
    + ")"
)
_JSONB_AT = frozenset(i for i, kind in enumerate(COLUMN_TYPES) if kind == "JSONB")
_INSERT_KEYED = f"{_INSERT} ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
_RELEASE_EXPIRED_KEY = "UPDATE orders SET idempotency_key = NULL WHERE idempotency_key = $1 AND created_at < $2"
_SELECT_BY_KEY = f"SELECT {_COLS} FROM orders WHERE idempotency_key = $1"
_SELECT_BY_ID = f"SELECT {_COLS} FROM orders WHERE id = $1"
_SEQS = "SELECT id, jsonb_array_length(status_history) AS seq FROM orders WHERE id = ANY($1::uuid[])"
_JOB_DRIVEN = sorted(s.value for s in JOB_DRIVEN)
# A transition returns every column but the history: the caller's order plus the new entries *is* the history
# the guard matched (seq = its length, and every entry was appended by a guarded change), so the JSONB need
# not travel back nor be decoded again on every step.
_RETURNED = ", ".join(c for c in COLUMNS if c != "status_history")


@cache
def _apply_sql(updated: tuple[str, ...]) -> str:
    """The guarded transition for one set of extra columns (a handful of shapes, each prepared once)."""
    extra = "".join(f", {name} = ${8 + i}" for i, name in enumerate(updated))
    return (
        "UPDATE orders SET status = $2, status_history = status_history || $3::jsonb, updated_at = $4,"
        f" attempts = greatest(attempts, $5){extra}"
        " WHERE id = $1 AND status = $6 AND jsonb_array_length(status_history) = $7"
        f" RETURNING {_RETURNED}"
    )


# The extra columns a batch may set, with their SQL types. A change that sets none leaves each NULL in its array,
# and NULL keeps the column as it was (`coalesce`): so a change that would set one of them *to* NULL is not
# batched (`batchable`), it goes alone through `apply`.
_BATCH_EXTRAS: tuple[tuple[str, str], ...] = (
    ("dex_used", "varchar"),
    ("executed_price", "varchar"),
    ("amount_out", "varchar"),
    ("tx_hash", "varchar"),
    ("failure_reason", "text"),
    ("arm", "int"),
)
_BATCH_EXTRA_NAMES = frozenset(name for name, _ in _BATCH_EXTRAS)

# Many guarded transitions in one statement (one round trip, one commit): each row matches only at its own
# expected (status, seq), so a stale one is left out alone while the others apply.
_APPLY_MANY = (
    "UPDATE orders AS o SET status = c.status, status_history = o.status_history || c.entry, updated_at = c.at,"
    " attempts = greatest(o.attempts, c.attempt)"
    + "".join(f", {name} = coalesce(c.{name}, o.{name})" for name, _ in _BATCH_EXTRAS)
    + " FROM unnest($1::uuid[], $2::varchar[], $3::jsonb[], $4::timestamptz[], $5::int[], $6::varchar[], $7::int[]"
    + "".join(f", ${8 + i}::{kind}[]" for i, (_, kind) in enumerate(_BATCH_EXTRAS))
    + ") AS c(id, status, entry, at, attempt, expected_status, expected_seq"
    + "".join(f", {name}" for name, _ in _BATCH_EXTRAS)
    + ") WHERE o.id = c.id AND o.status = c.expected_status AND jsonb_array_length(o.status_history) = c.expected_seq"
    f" RETURNING {', '.join(f'o.{c}' for c in COLUMNS if c != 'status_history')}"
)


def _appended(change: StatusChange) -> dict[str, object] | msgspec.Raw:
    """What one row of a batch appends to its history (`status_history || …`): the entry, a JSON object, or the
    entries of a change of several steps as one JSON array (pre-encoded: asyncpg would take a list inside the
    `jsonb[]` for another dimension of the array)."""
    if not change.passed:
        return entry_to_dict(change.entry)
    return msgspec.Raw(encode([entry_to_dict(e) for e in change.entries]))


def batchable(change: StatusChange) -> bool:
    """Whether `apply_each` can carry `change`: its extra columns are among `_BATCH_EXTRAS`, none set to NULL."""
    return all(name in _BATCH_EXTRA_NAMES and value is not None for name, value in change.updates.items())


_RESTING_PAGE = (
    f"SELECT {_COLS} FROM orders WHERE status = 'waiting' AND ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
)
_RESTING_SINCE = "SELECT id, arm FROM orders WHERE status = 'waiting' AND updated_at >= $1"
_BOOK = (
    "SELECT token_in, limit_price, sum(amount_in::numeric)::text AS amount, count(*) AS orders FROM orders"
    " WHERE status = 'waiting' AND order_type = 'limit' AND token_in = ANY($1::varchar[])"
    " AND token_out = ANY($1::varchar[]) AND token_in <> token_out GROUP BY token_in, limit_price"
)


class SqlOrderRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, order: Order) -> Order:
        await self._pool.execute(_INSERT, *row_args(order))
        return order

    async def add_many(self, orders: Sequence[Order]) -> None:
        """Orders without idempotency keys, in one INSERT (all or none)."""
        rows = [row_args(o) for o in orders]
        columns = [
            [None if r[i] is None else msgspec.Raw(encode(r[i])) for r in rows]
            if i in _JSONB_AT
            else [r[i] for r in rows]
            for i in range(len(COLUMNS))
        ]
        await self._pool.execute(_INSERT_MANY, *columns)

    async def add_idempotent(self, order: Order, *, expired_before: datetime) -> tuple[Order, bool]:
        """The common case is one round trip: INSERT … ON CONFLICT DO NOTHING finds the key free.

        Otherwise one transaction releases the key if its holder expired, tries the INSERT again and
        else reads the holder. The UNIQUE constraint on `idempotency_key` decides every race: a
        concurrent INSERT with the same key waits for the first to commit and then does nothing, and
        the next statement (READ COMMITTED: a fresh snapshot) sees the winner. Two transactions
        releasing the same expired key serialise on its row lock; the second finds the key gone.
        """
        key = order.idempotency_key
        if key is None:
            raise ValueError("add_idempotent needs an order with an idempotency key")
        args = row_args(order)
        if await self._pool.fetchval(_INSERT_KEYED, *args) is not None:
            return order, True
        for _ in range(3):  # the holder can release its key in between (closed as not accepted): try again
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(_RELEASE_EXPIRED_KEY, key, expired_before)
                if await conn.fetchval(_INSERT_KEYED, *args) is not None:
                    return order, True
                row = await conn.fetchrow(_SELECT_BY_KEY, key)
            if row is not None:
                return order_from_row(row), False
        raise RuntimeError(f"idempotency key {key[:64]!r} neither inserted nor found")

    async def get(self, order_id: uuid.UUID) -> Order | None:
        row = await self._pool.fetchrow(_SELECT_BY_ID, order_id)
        return None if row is None else order_from_row(row)

    async def list(
        self,
        *,
        status: OrderStatus | None,
        limit: int,
        before: tuple[datetime, uuid.UUID] | None,
        order_type: OrderType | None = None,
    ) -> Sequence[Order]:
        where, args = [], []
        if status is not None:
            args.append(status.value)
            where.append(f"status = ${len(args)}")
        if order_type is not None:
            args.append(order_type.value)
            where.append(f"order_type = ${len(args)}")
        if before is not None:
            args.extend(before)
            where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        sql = (
            f"SELECT {_COLS} FROM orders{' WHERE ' + ' AND '.join(where) if where else ''}"
            f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}"
        )
        return [order_from_row(r) for r in await self._pool.fetch(sql, *args)]

    async def latest_seqs(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The seq (history length) of each order that exists: one statement for any number of orders."""
        rows = await self._pool.fetch(_SEQS, list(order_ids))
        return {r["id"]: r["seq"] for r in rows}

    async def list_stale(self, *, updated_before: datetime, limit: int) -> Sequence[Order]:
        sql = (
            f"SELECT {_COLS} FROM orders WHERE status = ANY($1::varchar[]) AND updated_at < $2"
            " ORDER BY updated_at LIMIT $3"
        )
        return [order_from_row(r) for r in await self._pool.fetch(sql, _JOB_DRIVEN, updated_before, limit)]

    async def apply(self, change: StatusChange) -> Order:
        """The guarded transition: status, history append, updated_at, attempts (and the change's extra
        columns) in one UPDATE that returns the row, which is what the broadcast sends.

        It matches only while the order is still at the expected (status, seq), so of two
        jobs racing on the same step exactly one wins and the other gets StaleTransition.
        """
        updates = update_values(dict(change.updates))
        row = await self._pool.fetchrow(
            _apply_sql(tuple(updates)),
            change.order_id,
            change.entry.status.value,
            [entry_to_dict(e) for e in change.entries],
            change.entry.timestamp,
            change.attempt,
            change.expected_status.value,
            change.expected_seq,
            *updates.values(),
        )
        if row is None:
            raise StaleTransition(change.order_id, change.expected_status.value, change.expected_seq)
        return order_from_row(row, history=(*change.base.status_history, *change.entries))

    async def apply_many(self, changes: Sequence[StatusChange]) -> list[Order]:
        """Many guarded transitions, one statement and one round trip: the orders whose guard held, in order."""
        return [o for o in await self.apply_each(changes) if isinstance(o, Order)]

    async def apply_each(self, changes: Sequence[StatusChange]) -> list[Order | StaleTransition]:
        """Many guarded transitions in one statement, each exactly as `apply` would make it: per change, in order,
        the order as it left the write, or the StaleTransition `apply` would have raised for it.

        An order may appear once per statement (a second change of it would be guarded against the row as it
        was before the first, and PostgreSQL applies only one source row per target row): a later change of an
        order already in the batch goes in a following statement, after the first has committed.
        """
        outcomes: dict[int, Order | StaleTransition] = {}
        pending = list(enumerate(changes))
        while pending:
            seen: set[uuid.UUID] = set()
            now, later = [], []
            for i, change in pending:
                (later if change.order_id in seen else now).append((i, change))
                seen.add(change.order_id)
            outcomes.update(zip((i for i, _ in now), await self._apply_round([c for _, c in now]), strict=True))
            pending = later
        return [outcomes[i] for i in range(len(changes))]

    async def _apply_round(self, changes: Sequence[StatusChange]) -> list[Order | StaleTransition]:
        """One statement for changes of distinct orders."""
        if not changes:
            return []
        if not all(batchable(c) for c in changes):
            raise ValueError("apply_each takes changes whose extra columns are set, not cleared: use apply")
        updates = [update_values(dict(c.updates)) for c in changes]
        rows = await self._pool.fetch(
            _APPLY_MANY,
            [c.order_id for c in changes],
            [c.entry.status.value for c in changes],
            [_appended(c) for c in changes],
            [c.entry.timestamp for c in changes],
            [c.attempt for c in changes],
            [c.expected_status.value for c in changes],
            [c.expected_seq for c in changes],
            *([u.get(name) for u in updates] for name, _ in _BATCH_EXTRAS),
        )
        by_id = {r["id"]: r for r in rows}
        return [
            order_from_row(row, history=(*c.base.status_history, *c.entries))
            if (row := by_id.get(c.order_id)) is not None
            else StaleTransition(c.order_id, c.expected_status.value, c.expected_seq)
            for c in changes
        ]

    async def get_many(self, order_ids: Sequence[uuid.UUID]) -> list[Order]:
        rows = await self._pool.fetch(f"SELECT {_COLS} FROM orders WHERE id = ANY($1::uuid[])", list(order_ids))
        return [order_from_row(r) for r in rows]

    async def list_resting(self, *, after: uuid.UUID | None, limit: int) -> Sequence[Order]:
        return [order_from_row(r) for r in await self._pool.fetch(_RESTING_PAGE, after, limit)]

    async def resting_since(self, since: datetime) -> list[tuple[uuid.UUID, int]]:
        return [(r["id"], r["arm"]) for r in await self._pool.fetch(_RESTING_SINCE, since)]

    async def resting_book(self, symbols: Sequence[str]) -> list[tuple[str, Decimal, Decimal, int]]:
        """(token in, limit price, total amount in, orders) of resting limit orders between `symbols` (a pair,
        with aliases such as SOL and WSOL), grouped by side and price."""
        rows = await self._pool.fetch(_BOOK, list(symbols))
        return [(r["token_in"], Decimal(r["limit_price"]), Decimal(r["amount"]), r["orders"]) for r in rows]
