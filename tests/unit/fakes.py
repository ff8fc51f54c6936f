"""In-memory fakes of the ports in `order_engine.domain.ports`, for unit tests.

Each fake records what was asked of it so tests can assert counts and order, and can be
told to fail. None of them does I/O.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from order_engine.domain import amm
from order_engine.domain.amm import Pool, PoolQuote
from order_engine.domain.errors import OrderNotFound, StaleTransition
from order_engine.domain.events import Event, Listener, StatusChanged
from order_engine.domain.order import Order, StatusChange
from order_engine.domain.ports import SwapRequest, SwapResult
from order_engine.domain.quotes import Quote, amount_out_after_fee
from order_engine.domain.status import JOB_DRIVEN, OrderStatus, OrderType
from order_engine.domain.tokens import market_symbol

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """Tz-aware UTC time that moves forward by `step` on every `now()` and on demand."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(milliseconds=1)) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a tz-aware start")
        self.current = start
        self.step = step
        self.calls = 0

    def now(self) -> datetime:
        at = self.current
        self.current += self.step
        self.calls += 1
        return at

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class InMemoryOrderRepository:
    """Orders in a dict; `apply` enforces the (status, seq) guard via `Order.applied`.

    `fail_on` maps a target status to an exception raised by `apply` *before* a change to
    that status is written, e.g. to simulate a worker crash at that point.
    """

    def __init__(self) -> None:
        self.orders: dict[uuid.UUID, Order] = {}
        self.added: list[uuid.UUID] = []
        self.changes: list[StatusChange] = []  # every change actually written
        self.fail_on: dict[OrderStatus, BaseException] = {}
        self.batches: list[int] = []  # the size of each apply_many

    def put(self, order: Order) -> None:
        """Seed or overwrite an order directly (test setup, not part of the port)."""
        self.orders[order.id] = order

    async def add(self, order: Order) -> Order:
        if order.id in self.orders:
            raise ValueError(f"order {order.id} already exists")
        self.orders[order.id] = order
        self.added.append(order.id)
        return order

    async def add_idempotent(self, order: Order, *, expired_before: datetime) -> tuple[Order, bool]:
        """As the SQL repository: an expired key moves to the new order; a live one returns its holder."""
        key = order.idempotency_key
        if key is None:
            raise ValueError("add_idempotent needs an order with an idempotency key")
        holder = next((o for o in self.orders.values() if o.idempotency_key == key), None)
        if holder is not None and holder.created_at >= expired_before:
            return holder, False
        if holder is not None:
            self.orders[holder.id] = attrs.evolve(holder, idempotency_key=None)
        return await self.add(order), True

    async def get(self, order_id: uuid.UUID) -> Order | None:
        return self.orders.get(order_id)

    async def list(
        self,
        *,
        status: OrderStatus | None = None,
        limit: int = 50,
        before: tuple[datetime, uuid.UUID] | None = None,
        order_type: OrderType | None = None,
    ) -> Sequence[Order]:
        rows = [
            o
            for o in self.orders.values()
            if (status is None or o.status is status) and (order_type is None or o.order_type is order_type)
        ]
        rows.sort(key=lambda o: (o.created_at, o.id), reverse=True)
        if before is not None:
            rows = [o for o in rows if (o.created_at, o.id) < before]
        return rows[:limit]

    async def latest_seqs(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        return {i: self.orders[i].seq for i in order_ids if i in self.orders}

    async def list_stale(self, *, updated_before: datetime, limit: int) -> Sequence[Order]:
        rows = [o for o in self.orders.values() if o.status in JOB_DRIVEN and o.updated_at < updated_before]
        return sorted(rows, key=lambda o: o.updated_at)[:limit]

    async def get_many(self, order_ids: Sequence[uuid.UUID]) -> list[Order]:
        return [self.orders[i] for i in order_ids if i in self.orders]

    async def list_resting(self, *, after: uuid.UUID | None, limit: int) -> list[Order]:
        rows = sorted((o for o in self.orders.values() if o.status is OrderStatus.WAITING), key=lambda o: o.id)
        return [o for o in rows if after is None or o.id > after][:limit]

    async def resting_since(self, since: datetime) -> list[tuple[uuid.UUID, int | None]]:
        return [
            (o.id, o.arm) for o in self.orders.values() if o.status is OrderStatus.WAITING and o.updated_at >= since
        ]

    async def apply_many(self, changes: Sequence[StatusChange]) -> list[Order]:
        self.batches.append(len(changes))
        applied = []
        for change in changes:
            try:
                applied.append(await self.apply(change))
            except StaleTransition:
                pass
        return applied

    async def apply(self, change: StatusChange) -> Order:
        current = self.orders.get(change.order_id)
        if current is None:
            raise OrderNotFound(change.order_id)
        for entry in change.entries:  # a change of two steps (route and build) fails on either's status
            failure = self.fail_on.pop(entry.status, None)
            if failure is not None:
                raise failure
        updated = current.applied(change)  # raises StaleTransition when the guard does not hold
        self.orders[change.order_id] = updated
        self.changes.append(change)
        return updated


class FakeQueue:
    """Records enqueued ids. With `repo`, also records whether the order was already stored."""

    def __init__(self, repo: InMemoryOrderRepository | None = None, error: BaseException | None = None) -> None:
        self.repo = repo
        self.error = error
        self.enqueued: list[uuid.UUID] = []
        self.live: set[Any] = set()  # job keys with an unfinished job (tests discard to "finish" one)
        self.keys: list[Any] = []  # the job key of each enqueue: the id, or (id, arm) for a resting order
        self.stored_at_enqueue: list[bool] = []
        self.lanes: list[Any] = []  # the order type passed with each enqueue (it picks the lane)

    async def enqueue(self, order_id: uuid.UUID, *, arm: int | None = None, order_type: Any = None) -> bool:
        self.lanes.append(order_type)
        if self.error is not None:
            raise self.error
        if self.repo is not None:
            self.stored_at_enqueue.append(await self.repo.get(order_id) is not None)
        key = order_id if arm is None else (order_id, arm)
        live = key in self.live
        self.enqueued.append(order_id)
        self.keys.append(key)
        self.live.add(key)
        return not live


class RecordingListener:
    """Every event the use case emitted, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def publishing_to(notifier: RecordingNotifier) -> Listener:
    """A listener that publishes each committed status change, as the app's broadcaster does."""

    async def publish(event: Event) -> None:
        if isinstance(event, StatusChanged):
            await notifier.publish(*(each.order for each in event.steps))

    return publish


class RecordingNotifier:
    """Records (order_id, seq, status) per successful publish; can be told to raise.

    With `error` and no `fail_on`, every publish raises; with `fail_on`, only publishes of
    those statuses raise.
    """

    def __init__(self, error: BaseException | None = None, fail_on: Iterable[OrderStatus] = ()) -> None:
        self.error = error
        self.fail_on = frozenset(fail_on)
        self.published: list[tuple[uuid.UUID, int, OrderStatus]] = []
        self.attempts = 0

    async def publish(self, *orders: Order) -> None:
        self.attempts += 1
        if self.error is not None and (not self.fail_on or any(o.status in self.fail_on for o in orders)):
            raise self.error
        self.published.extend((o.id, o.seq, o.status) for o in orders)

    def statuses(self) -> list[OrderStatus]:
        return [status for _, _, status in self.published]

    def seqs(self) -> list[int]:
        return [seq for _, seq, _ in self.published]


class ScriptedVenue:
    """A DEX quoting `price` with `fee_rate`; raises `errors[attempt]` or `always` instead when set."""

    def __init__(
        self,
        name: str,
        fee_rate: Decimal | str,
        price: Decimal | str = Decimal("100"),
        *,
        errors: Mapping[int, BaseException] | None = None,
        always: BaseException | None = None,
    ) -> None:
        self.name = name
        self.fee_rate = Decimal(fee_rate)
        self.price = Decimal(price)
        self.errors = dict(errors or {})
        self.always = always
        self.calls: list[int] = []  # the attempt number of each quote() call

    async def quote(
        self, token_in: str, token_out: str, amount_in: Decimal, *, order_id: uuid.UUID, attempt: int
    ) -> Quote:
        self.calls.append(attempt)
        if self.always is not None:
            raise self.always
        if attempt in self.errors:
            raise self.errors[attempt]
        return Quote(
            venue=self.name,
            price=self.price,
            fee_rate=self.fee_rate,
            amount_in=amount_in,
            amount_out=amount_out_after_fee(amount_in, self.price, self.fee_rate),
        )


class FakeChain:
    """The chain as a SwapExecutor: `submit` is idempotent per order id.

    `submit_errors` / `confirm_errors` / `blockhash_errors` are raised one per call, in order, before doing
    anything; `executions` counts swaps actually sent per order. `confirm` settles at
    `executed_price` / `amount_out` (defaults: the quoted price and the swap's minimum),
    with `error` set when given (e.g. "slippage exceeded").
    """

    def __init__(
        self,
        *,
        executed_price: Decimal | None = None,
        amount_out: Decimal | None = None,
        error: str | None = None,
        submit_errors: Sequence[BaseException] = (),
        confirm_errors: Sequence[BaseException] = (),
        blockhash_errors: Sequence[BaseException] = (),
        slot: int = 300_000_000,
    ) -> None:
        self.executed_price = executed_price
        self.amount_out = amount_out
        self.error = error
        self.submit_errors = list(submit_errors)
        self.confirm_errors = list(confirm_errors)
        self.slot = slot
        self.swaps: dict[str, SwapRequest] = {}  # signature -> swap
        self.signatures: dict[uuid.UUID, str] = {}  # order id -> signature
        self.executions: Counter[uuid.UUID] = Counter()
        self.submit_calls = 0
        self.confirm_calls = 0
        self.blockhash_calls = 0
        self.blockhash_errors = list(blockhash_errors)
        self.submit_attempts: list[int] = []
        self.confirm_attempts: list[int] = []

    @staticmethod
    def signature_for(order_id: uuid.UUID) -> str:
        return f"sig{order_id.hex}"

    async def submit(self, swap: SwapRequest, *, attempt: int) -> str:
        self.submit_calls += 1
        self.submit_attempts.append(attempt)
        if self.submit_errors:
            raise self.submit_errors.pop(0)
        existing = self.signatures.get(swap.order_id)
        if existing is not None:
            return existing
        signature = self.signature_for(swap.order_id)
        self.signatures[swap.order_id] = signature
        self.swaps[signature] = swap
        self.executions[swap.order_id] += 1
        return signature

    async def recent_blockhash(self) -> str:
        self.blockhash_calls += 1
        if self.blockhash_errors:
            raise self.blockhash_errors.pop(0)
        return "11111111111111111111111111111111"

    async def find(self, order_id: uuid.UUID) -> str | None:
        return self.signatures.get(order_id)

    async def confirm(self, signature: str, *, attempt: int) -> SwapResult:
        self.confirm_calls += 1
        self.confirm_attempts.append(attempt)
        if self.confirm_errors:
            raise self.confirm_errors.pop(0)
        swap = self.swaps[signature]
        self.slot += 1
        return SwapResult(
            signature=signature,
            executed_price=self.executed_price if self.executed_price is not None else swap.quoted_price,
            amount_out=self.amount_out if self.amount_out is not None else swap.min_amount_out,
            slot=self.slot,
            error=self.error,
            simulated_ms=2500,
        )


class FakeMarket:
    """MarketQuotes over in-memory pools (domain/amm), or failing with `error`."""

    def __init__(self, pools: Sequence[Pool] = (), error: BaseException | None = None) -> None:
        self.pools = list(pools)
        self.error = error

    async def quotes(self, token_in: str, token_out: str, amount_in: Decimal) -> list[PoolQuote]:
        if self.error is not None:
            raise self.error
        tin, tout = market_symbol(token_in), market_symbol(token_out)
        return [amm.quote(p, tin, amount_in) for p in self.pools if {p.base, p.quote} == {tin, tout}]


class FakeWatch:
    """Records the RestingWatch notices: ("rest", id, arm) and ("gone", id)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.notices: list[tuple[Any, ...]] = []

    async def rested(self, order: Order) -> None:
        if self.error is not None:
            raise self.error
        self.notices.append(("rest", order.id, order.arm))

    async def gone(self, order_id: uuid.UUID) -> None:
        if self.error is not None:
            raise self.error
        self.notices.append(("gone", order_id))


class InMemorySwapLine:
    """SwapLine in memory: members by (created_at, id); a waiter polls every millisecond (of the loop's time)."""

    def __init__(self) -> None:
        self.lines: dict[str, dict[uuid.UUID, tuple[datetime, int]]] = {}
        self.left: list[uuid.UUID] = []

    async def join(self, line: str, orders: Sequence[Order]) -> None:
        self.lines.setdefault(line, {}).update({o.id: (o.created_at, o.id.int) for o in orders})

    def _head(self, line: str) -> uuid.UUID | None:
        members = self.lines.get(line) or {}
        return min(members, key=members.__getitem__, default=None)

    async def wait_turn(self, line: str, order_id: uuid.UUID, *, within_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while order_id in self.lines.get(line, {}) and self._head(line) != order_id:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.001)
        return True

    async def leave(self, line: str, order_id: uuid.UUID) -> None:
        if self.lines.get(line, {}).pop(order_id, None) is not None:
            self.left.append(order_id)


def sol_usdc_pool(venue: str = "raydium", *, price: str = "150", sol: int = 10_000, fee_bps: int = 30) -> Pool:
    """A SOL/USDC pool holding `sol` SOL at `price` USDC per SOL."""
    return amm.new_pool(
        venue,
        "SOL",
        "USDC",
        base_amount=Decimal(sol),
        price=Decimal(price),
        base_decimals=9,
        quote_decimals=6,
        fee_bps=fee_bps,
    )
