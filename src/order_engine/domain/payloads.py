"""What each kind of status entry records, as typed values (amounts are Decimal, times are datetime).

The use cases build and read these; `adapters/wire.py` alone knows their JSON shape (camelCase keys,
decimal strings) in the history column, the API and the live streams.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from order_engine.domain.quotes import Quote


@attrs.frozen
class Created:
    """`pending` as the order is written: nothing to say yet."""


@attrs.frozen
class Rested:
    """`waiting`: the order watches its condition. `arm` counts the times it has (1 at acceptance, + 1 per re-arm)."""

    arm: int
    limit_price: Decimal | None = None  # limit orders
    best_effective_price: Decimal | None = None  # the best venue's, for this order's size, when it (re-)armed
    reason: str | None = None  # a re-arm: why the order watches again


@attrs.frozen
class Triggered:
    """`triggered`: the condition was met, on `venue` at `effective_price` (tokenOut per tokenIn), at `market_at`."""

    venue: str
    effective_price: Decimal
    market_at: datetime
    limit_price: Decimal | None = None
    pool: str | None = None  # snipers: the pool that fired it (BASE/QUOTE on `venue`) ...
    liquidity: Decimal | None = None  # ... and its tokenIn-side reserve then, in whole tokens


@attrs.frozen
class Expired:
    """`expired`: its time in force ran out (or an IOC limit was not met at acceptance)."""

    reason: str
    limit_price: Decimal | None = None
    best_effective_price: Decimal | None = None  # at expiry, for this order's size (None: no venue quoted)
    expires_at: datetime | None = None


@attrs.frozen
class Cancelled:
    """`cancelled` by the client, from `from_status`."""

    from_status: str
    reason: str = "cancelled by client"


@attrs.frozen
class Retry:
    """A repeated status: this attempt failed transiently and another follows after `retry_in_s`."""

    attempt: int
    max_attempts: int
    error: str
    stage: str
    retry_in_s: float


@attrs.frozen
class Routed:
    """`routing`: every quote, the venues that could not quote, the choice and why."""

    quotes: tuple[Quote, ...]
    unavailable: Mapping[str, str]
    chosen: str
    reason: str
    quote_ms: int
    attempt_started_at: datetime

    def quote_of(self, venue: str) -> Quote:
        return next(q for q in self.quotes if q.venue == venue)


@attrs.frozen
class Built:
    """`building`: the swap as built, with its slippage floor."""

    dex_used: str
    quoted_price: Decimal
    expected_amount_out: Decimal
    min_amount_out: Decimal
    slippage_bps: int | None  # None for a limit order: its floor is amountIn × limitPrice
    wrap_sol: bool
    unwrap_sol: bool
    recent_blockhash: str
    blockhash_ms: int


@attrs.frozen
class Submitted:
    tx_hash: str
    found_on_chain: bool = False  # a resumed attempt found the swap an earlier one had sent


@attrs.frozen
class Confirmed:
    tx_hash: str
    executed_price: Decimal
    amount_out: Decimal
    slot: int
    execution_ms: int


class FailureClass(enum.StrEnum):
    """Why an order failed, as a closed set (the reason is free text; this is what clients branch on and metrics
    count)."""

    SLIPPAGE = "slippage"  # the swap would have returned less than its floor
    AMOUNT_TOO_SMALL = "amount_too_small"  # its floor is below one unit of the output token
    UNSUPPORTED_PAIR = "unsupported_pair"  # no venue trades the pair (any more)
    VENUE_UNAVAILABLE = "venue_unavailable"  # transient venue or chain errors until the attempts ran out
    NOT_QUEUED = "not_queued"  # the queue was down at acceptance: the order was closed, never accepted
    ERROR = "error"  # anything else


@attrs.frozen
class Failed:
    reason: str
    attempts: int
    stage: str
    failure_class: FailureClass = FailureClass.ERROR
    amount_out: Decimal | None = None  # slippage exceeded: what the swap returned
    min_amount_out: Decimal | None = None  # slippage exceeded / amount too small: the floor
    expected_amount_out: Decimal | None = None  # amount too small: what the best quote returns


Payload = Created | Rested | Triggered | Expired | Cancelled | Retry | Routed | Built | Submitted | Confirmed | Failed
