"""Validation of a client's order request into a new pending order."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import attrs

from order_engine.domain.errors import InvalidOrder
from order_engine.domain.money import dec_str
from order_engine.domain.order import Order, StatusEntry
from order_engine.domain.status import OrderStatus, OrderType
from order_engine.domain.tokens import TOKENS, token

MAX_SLIPPAGE_BPS = 5000
DEFAULT_SLIPPAGE_BPS = 50
MAX_AMOUNT_IN = Decimal("1e15")
SUPPORTED_TYPES = frozenset({OrderType.MARKET})
MAX_IDEMPOTENCY_KEY_LENGTH = 255
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)  # a key whose order is older may be used for a new order


@attrs.frozen
class OrderRequest:
    token_in: str
    token_out: str
    amount_in: Decimal
    order_type: str = OrderType.MARKET.value
    slippage_bps: int = DEFAULT_SLIPPAGE_BPS
    idempotency_key: str | None = None


def validate(request: OrderRequest) -> OrderRequest:
    """The request with symbols normalised, or InvalidOrder naming the first bad field."""
    try:
        order_type = OrderType(request.order_type)
    except ValueError:
        allowed = ", ".join(t.value for t in OrderType)
        raise InvalidOrder("orderType", f"must be one of {allowed}") from None
    if order_type not in SUPPORTED_TYPES:
        raise InvalidOrder("orderType", f"{order_type.value!r} orders are not supported yet; use 'market'")

    known = ", ".join(sorted(TOKENS))
    tin, tout = token(request.token_in), token(request.token_out)
    if tin is None:
        raise InvalidOrder("tokenIn", f"unknown token {request.token_in!r}; supported: {known}")
    if tout is None:
        raise InvalidOrder("tokenOut", f"unknown token {request.token_out!r}; supported: {known}")
    if tin.mint == tout.mint:
        raise InvalidOrder("tokenOut", "must differ from tokenIn")

    amount = request.amount_in
    if not amount.is_finite():
        raise InvalidOrder("amountIn", "must be a finite decimal number")
    if amount <= 0:
        raise InvalidOrder("amountIn", "must be greater than 0")
    if amount > MAX_AMOUNT_IN:
        raise InvalidOrder("amountIn", f"must be at most {MAX_AMOUNT_IN:f}")
    if amount != tin.round_down(amount):
        raise InvalidOrder("amountIn", f"{tin.symbol} has {tin.decimals} decimal places at most")

    if isinstance(request.slippage_bps, bool) or not 0 <= request.slippage_bps <= MAX_SLIPPAGE_BPS:
        raise InvalidOrder("slippageBps", f"must be an integer from 0 to {MAX_SLIPPAGE_BPS}")
    key = request.idempotency_key
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidOrder("idempotencyKey", f"must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    if key is not None and "\x00" in key:  # PostgreSQL text cannot hold NUL
        raise InvalidOrder("idempotencyKey", "must not contain NUL characters")
    return attrs.evolve(
        request,
        token_in=request.token_in.upper(),
        token_out=request.token_out.upper(),
        order_type=order_type.value,
    )


def request_fingerprint(token_in: str, token_out: str, amount_in: Decimal, order_type: str, slippage_bps: int) -> str:
    """sha256 of the canonical JSON of a validated request: equal for requests that mean the same order.

    Symbols are upper-cased and the amount normalised ("1.50" and 1.5 match), so only a
    difference in meaning makes a different fingerprint.
    """
    canonical = {
        "amountIn": dec_str(amount_in.normalize()),
        "orderType": order_type,
        "slippageBps": slippage_bps,
        "tokenIn": token_in.upper(),
        "tokenOut": token_out.upper(),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def fingerprint_of(order: Order) -> str:
    """The fingerprint of the request that made `order` (for rows stored without one)."""
    return order.request_fingerprint or request_fingerprint(
        order.token_in, order.token_out, order.amount_in, order.order_type.value, order.slippage_bps
    )


def new_order(request: OrderRequest, order_id: uuid.UUID, now: datetime) -> Order:
    """A pending order for a request that passed `validate`."""
    return Order(
        id=order_id,
        order_type=OrderType(request.order_type),
        token_in=request.token_in,
        token_out=request.token_out,
        amount_in=request.amount_in,
        slippage_bps=request.slippage_bps,
        status=OrderStatus.PENDING,
        status_history=(StatusEntry(OrderStatus.PENDING, now),),
        created_at=now,
        updated_at=now,
        idempotency_key=request.idempotency_key,
        request_fingerprint=request_fingerprint(
            request.token_in, request.token_out, request.amount_in, request.order_type, request.slippage_bps
        ),
    )
