"""Ports: what the domain needs from the outside world, as structural protocols."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import attrs

from order_engine.domain.amm import Pool
from order_engine.domain.order import Order, StatusChange
from order_engine.domain.quotes import Quote
from order_engine.domain.status import OrderStatus


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

    async def list(
        self, *, status: OrderStatus | None, limit: int, before: tuple[datetime, uuid.UUID] | None
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


class OrderQueue(Protocol):
    async def enqueue(self, order_id: uuid.UUID) -> bool:
        """Schedule execution; True if a job was created, False if the order already has a live one."""


class StatusNotifier(Protocol):
    async def publish(self, order: Order) -> None:
        """Broadcast the order's latest status entry to every subscriber, in any process."""


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
