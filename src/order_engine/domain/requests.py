"""Validation of a client's order request, and the new order it makes.

A market order is accepted `pending` (a job routes it). A limit order is accepted with its first two entries
in the one INSERT: `pending` then `waiting` (it rests; the watcher triggers it), or, for IOC, `pending` then
`triggered` or `expired`, decided against the market at acceptance.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from order_engine.domain.errors import InvalidOrder
from order_engine.domain.limits import limit_floor
from order_engine.domain.money import dec_str
from order_engine.domain.order import Order, StatusEntry
from order_engine.domain.payloads import Expired, Payload, Rested, Triggered
from order_engine.domain.status import OrderStatus, OrderType, TimeInForce
from order_engine.domain.tokens import TOKENS, token

MAX_SLIPPAGE_BPS = 5000
DEFAULT_SLIPPAGE_BPS = 50
MAX_AMOUNT_IN = Decimal("1e15")
MAX_LIMIT_PRICE = Decimal("1e15")
SUPPORTED_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT})
MAX_IDEMPOTENCY_KEY_LENGTH = 255
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)  # a key whose order is older may be used for a new order


@attrs.frozen
class OrderRequest:
    token_in: str
    token_out: str
    amount_in: Decimal
    order_type: str = OrderType.MARKET.value
    slippage_bps: int | None = None  # None: DEFAULT_SLIPPAGE_BPS for a market order; refused on a limit order
    idempotency_key: str | None = None
    limit_price: Decimal | None = None
    time_in_force: str | None = None  # None: GTC for a limit order
    expires_at: datetime | None = None  # tz-aware


@attrs.frozen
class Policy:
    """How long resting orders may rest."""

    limit_max_age: timedelta = timedelta(days=30)


DEFAULT_POLICY = Policy()


def validate(request: OrderRequest, *, now: datetime | None = None, policy: Policy = DEFAULT_POLICY) -> OrderRequest:
    """The request with symbols normalised and defaults filled, or InvalidOrder naming the first bad field.

    `now` is needed to judge a limit order's `expiresAt`.
    """
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

    slippage = request.slippage_bps
    if order_type is OrderType.LIMIT:
        if slippage is not None:
            raise InvalidOrder("slippageBps", "is not used by limit orders: the limit price is their protection")
        tif = _limit_terms(request, tout.decimals, now, policy)
    else:
        for name, value in (
            ("limitPrice", request.limit_price),
            ("timeInForce", request.time_in_force),
            ("expiresAt", request.expires_at),
        ):
            if value is not None:
                raise InvalidOrder(name, f"applies to limit orders only, not to {order_type.value} orders")
        slippage = DEFAULT_SLIPPAGE_BPS if slippage is None else slippage
        if isinstance(slippage, bool) or not 0 <= slippage <= MAX_SLIPPAGE_BPS:
            raise InvalidOrder("slippageBps", f"must be an integer from 0 to {MAX_SLIPPAGE_BPS}")
        tif = None
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
        slippage_bps=slippage,
        time_in_force=tif,
    )


def _limit_terms(request: OrderRequest, out_decimals: int, now: datetime | None, policy: Policy) -> str:
    """Checks a limit order's price and time in force; returns the time in force (GTC by default)."""
    price = request.limit_price
    if price is None:
        raise InvalidOrder("limitPrice", "is required for limit orders (tokenOut per one tokenIn, after fees)")
    if not price.is_finite() or price <= 0:
        raise InvalidOrder("limitPrice", "must be greater than 0")
    if price > MAX_LIMIT_PRICE:
        raise InvalidOrder("limitPrice", f"must be at most {MAX_LIMIT_PRICE:f}")
    tout = token(request.token_out)
    assert tout is not None
    if request.amount_in * price < tout.quantum:
        raise InvalidOrder(
            "limitPrice",
            f"amountIn × limitPrice = {dec_str(request.amount_in * price)} {tout.symbol}, less than one unit "
            f"({dec_str(tout.quantum)} {tout.symbol}): the order could fill for nothing",
        )
    try:
        tif = TimeInForce(request.time_in_force or TimeInForce.GTC)
    except ValueError:
        raise InvalidOrder("timeInForce", "must be one of GTC, GTD, IOC") from None
    expires = request.expires_at
    if tif is TimeInForce.GTD:
        if expires is None:
            raise InvalidOrder("expiresAt", "is required for GTD orders (an RFC 3339 time in UTC)")
        if now is None:
            raise ValueError("validating a GTD order needs the current time")
        if expires <= now:
            raise InvalidOrder("expiresAt", "must be in the future")
        if expires > now + policy.limit_max_age:
            raise InvalidOrder("expiresAt", f"must be within {_days(policy.limit_max_age)} of now (the maximum age)")
    elif expires is not None:
        what = "expire after the maximum age" if tif is TimeInForce.GTC else "never rest"
        raise InvalidOrder("expiresAt", f"applies to GTD orders only ({tif.value} orders {what})")
    return tif.value


def _days(age: timedelta) -> str:
    return f"{age.days} days" if age.days and not age.seconds else f"{age.total_seconds():g} s"


def request_fingerprint(
    token_in: str,
    token_out: str,
    amount_in: Decimal,
    order_type: str,
    slippage_bps: int | None,
    *,
    limit_price: Decimal | None = None,
    time_in_force: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """sha256 of the canonical JSON of a validated request: equal for requests that mean the same order.

    Symbols are upper-cased, amounts normalised ("1.50" and 1.5 match) and times taken in UTC, so only a
    difference in meaning makes a different fingerprint. Market orders hash as they always have.
    """
    canonical: dict[str, object] = {
        "amountIn": dec_str(amount_in.normalize()),
        "orderType": order_type,
        "slippageBps": slippage_bps,
        "tokenIn": token_in.upper(),
        "tokenOut": token_out.upper(),
    }
    if order_type != OrderType.MARKET.value:
        canonical["limitPrice"] = None if limit_price is None else dec_str(limit_price.normalize())
        canonical["timeInForce"] = time_in_force
        canonical["expiresAt"] = None if expires_at is None else expires_at.astimezone(UTC).isoformat()
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def fingerprint_of(order: Order) -> str:
    """The fingerprint of the request that made `order` (for rows stored without one: market orders)."""
    return order.request_fingerprint or request_fingerprint(
        order.token_in, order.token_out, order.amount_in, order.order_type.value, order.slippage_bps
    )


def new_order(
    request: OrderRequest,
    order_id: uuid.UUID,
    now: datetime,
    *,
    policy: Policy = DEFAULT_POLICY,
    acceptance: Payload | None = None,
) -> Order:
    """The order a request that passed `validate` makes, with the entries it is accepted with.

    A limit order needs `acceptance`: the payload of its second entry (Rested → `waiting`; for IOC, Triggered
    or Expired), which the caller works out against the market.
    """
    order_type = OrderType(request.order_type)
    history = [StatusEntry(OrderStatus.PENDING, now)]
    tif = None if request.time_in_force is None else TimeInForce(request.time_in_force)
    expires_at = request.expires_at
    arm = None
    if order_type is OrderType.LIMIT:
        status = {Rested: OrderStatus.WAITING, Triggered: OrderStatus.TRIGGERED, Expired: OrderStatus.EXPIRED}
        if acceptance is None or type(acceptance) not in status:
            raise ValueError(f"a limit order is accepted with a Rested, Triggered or Expired entry, not {acceptance}")
        history.append(StatusEntry(status[type(acceptance)], now, acceptance))
        expires_at = now + policy.limit_max_age if tif is TimeInForce.GTC else expires_at
        arm = 1
    return Order(
        id=order_id,
        order_type=order_type,
        token_in=request.token_in,
        token_out=request.token_out,
        amount_in=request.amount_in,
        slippage_bps=request.slippage_bps,
        status=history[-1].status,
        status_history=tuple(history),
        created_at=now,
        updated_at=now,
        idempotency_key=request.idempotency_key,
        request_fingerprint=request_fingerprint(
            request.token_in,
            request.token_out,
            request.amount_in,
            request.order_type,
            request.slippage_bps,
            limit_price=request.limit_price,
            time_in_force=request.time_in_force,
            expires_at=request.expires_at,
        ),
        limit_price=request.limit_price,
        time_in_force=tif,
        expires_at=expires_at,
        arm=arm,
    )


def accepted_status(order: Order) -> OrderStatus:
    """The status an order had once accepted (what the 201 says, the same on an idempotent replay)."""
    return order.status_history[0 if order.order_type is OrderType.MARKET else 1].status


def floor_of(order: Order) -> Decimal:
    """A limit order's floor: the least amount out that meets its limit (domain/limits.limit_floor)."""
    out = token(order.token_out)
    assert out is not None and order.limit_price is not None
    return limit_floor(order.amount_in, order.limit_price, out)
