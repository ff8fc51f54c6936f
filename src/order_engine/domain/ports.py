"""Ports: what the domain needs from the outside world, as structural protocols."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import attrs

from order_engine.domain.amm import Pool, PoolQuote
from order_engine.domain.launches import Launch
from order_engine.domain.order import Order, StatusChange
from order_engine.domain.quotes import Quote
from order_engine.domain.status import OrderStatus, OrderType


class Clock(Protocol):
    def now(self) -> datetime: ...


class OrderRepository(Protocol):
    async def add(self, order: Order) -> Order:
        """Persist a new order (committed when this returns)."""

    async def add_idempotent(self, order: Order, *, expired_before: datetime) -> tuple[Order, bool]:
        """Persist `order` unless an order already holds its `idempotency_key`: (stored order, created).

        Atomic and race-free: of any number of concurrent calls with one key exactly one creates
        (True) and every other gets that committed order back (False). A key held by an order
        created before `expired_before` has expired: in the same transaction it is taken from
        that order (whose key becomes None) and `order` is created with it.
        """

    async def get(self, order_id: uuid.UUID) -> Order | None: ...

    async def get_many(self, order_ids: Sequence[uuid.UUID]) -> Sequence[Order]:
        """Those of `order_ids` that exist, in any order (one round trip)."""

    async def list(
        self,
        *,
        status: OrderStatus | None,
        limit: int,
        before: tuple[datetime, uuid.UUID] | None,
        order_type: OrderType | None = None,
    ) -> Sequence[Order]:
        """Newest first; `before` is the (created_at, id) of the last order of the previous page."""

    async def latest_seqs(self, order_ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, int]:
        """The latest seq of each of `order_ids` that exists (what live streams compare against)."""

    async def list_stale(self, *, updated_before: datetime, limit: int) -> Sequence[Order]:
        """Job-driven orders (`status.JOB_DRIVEN`; never a resting one) last changed before `updated_before`,
        oldest first."""

    async def apply(self, change: StatusChange) -> Order:
        """Apply one guarded change atomically and return the updated order.

        Raises StaleTransition when the order is no longer at the change's expected status and seq.
        """

    async def apply_many(self, changes: Sequence[StatusChange]) -> Sequence[Order]:
        """Apply many guarded changes (extra columns set, never cleared) in one statement; returns the orders whose
        guard held, in the order of `changes`. A stale one is left out, alone: the others still apply."""

    async def list_resting(self, *, after: uuid.UUID | None, limit: int) -> Sequence[Order]:
        """Resting (`waiting`) orders by id, the page after `after` (what a watcher rebuilds from)."""

    async def resting_since(self, since: datetime) -> Sequence[tuple[uuid.UUID, int]]:
        """(id, arm) of every resting order last changed at or after `since` (a watcher's reconciliation)."""


class OrderQueue(Protocol):
    async def enqueue(
        self, order_id: uuid.UUID, *, arm: int | None = None, order_type: OrderType = OrderType.MARKET
    ) -> bool:
        """Schedule execution; True if a job was created, False if the order already has a live one.

        A resting order's jobs are keyed by its `arm` too, so a re-triggered order gets a new job even while
        the job of its previous arm is still held. The order's type picks its lane (snipers have their own), so
        an order's jobs are always on one lane.
        """


class LaunchRegistry(Protocol):
    """The shared registry of launched tokens, durable and visible to every process."""

    async def add(self, launch: Launch) -> bool:
        """Register `launch`; False (nothing written) when its symbol is already registered."""


class PoolSeeder(Protocol):
    async def seed(self, pools: Iterable[Pool]) -> int:
        """Create each pool not there yet (announcing it on the market's events); how many were created."""


class TokenDirectory(Protocol):
    """The shared registry of launched tokens: `refresh` makes every token launched so far known to this process
    (domain/tokens.register), restoring the registry from its durable copy when it was lost."""

    async def refresh(self) -> None: ...


class RestingWatch(Protocol):
    """Tells the watcher (in whichever process it runs) that an order now rests, or no longer does."""

    async def rested(self, order: Order) -> None: ...

    async def gone(self, order_id: uuid.UUID) -> None: ...


class SwapLine(Protocol):
    """The snipers of one launch swap in submission order while several execute at once (any process).

    The watcher `join`s each triggered sniper to its pool's line (scored by submission order); a sniper's
    execution waits its turn right before it sends its swap and `leave`s right after (or whenever it ends
    without one), so the next in line goes. A sniper not in the line (it joined none, or left) never waits.
    """

    async def join(self, line: str, orders: Sequence[Order]) -> None: ...

    async def wait_turn(self, line: str, order_id: uuid.UUID, *, within_s: float) -> bool:
        """True once every sniper ahead of it in `line` has left; False if `within_s` ran out first."""

    async def leave(self, line: str, order_id: uuid.UUID) -> None: ...


class MarketQuotes(Protocol):
    """Every venue's pool quote for an amount, as the pools stand now (no DEX latency: the shared market)."""

    async def quotes(self, token_in: str, token_out: str, amount_in: Decimal) -> Sequence[PoolQuote]:
        """Empty when no pool has the pair; raises OSError-like errors when the market cannot be read."""


class StatusNotifier(Protocol):
    async def publish(self, *orders: Order) -> None:
        """Broadcast each order's latest status entry to every subscriber, in any process, in the order given
        (one order's successive states included: a change that took two steps publishes both). May return before
        the messages are sent, never before they are queued in order; a broadcast is best effort."""


@attrs.frozen
class SwapRequest:
    order_id: uuid.UUID
    venue: str
    token_in: str
    token_out: str
    amount_in: Decimal
    quoted_price: Decimal
    min_amount_out: Decimal


@attrs.frozen
class SwapResult:
    """A swap the chain has settled (or rejected, with `error`)."""

    signature: str
    executed_price: Decimal
    amount_out: Decimal
    slot: int
    error: str | None = None
    simulated_ms: int = 0


class DexVenue(Protocol):
    """One DEX (Raydium, Meteora, ...)."""

    name: str

    async def quote(
        self, token_in: str, token_out: str, amount_in: Decimal, *, order_id: uuid.UUID, attempt: int
    ) -> Quote:
        """Raises DexUnavailable (transient) or UnsupportedPair (permanent)."""


class SwapExecutor(Protocol):
    """The chain: sends swaps and reports what became of them, keyed by order id."""

    async def recent_blockhash(self) -> str:
        """A recent blockhash to build the swap transaction against (an RPC round trip)."""

    async def submit(self, swap: SwapRequest, *, attempt: int) -> str:
        """Send the swap; returns its signature. Idempotent per order id: re-sending returns the same signature."""

    async def find(self, order_id: uuid.UUID) -> str | None:
        """The signature of this order's swap if one was ever sent, else None."""

    async def confirm(self, signature: str, *, attempt: int) -> SwapResult:
        """Wait until the swap settles. Raises DexUnavailable if the chain cannot say yet."""


class MarketView(Protocol):
    """The venues' pools as they are now (read-only)."""

    async def get(self, venue: str, base: str, quote: str) -> Pool | None: ...

    async def all(self) -> list[Pool]: ...
