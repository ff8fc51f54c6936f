"""Sniper orders: buy a token as soon as its pool is created (and open), if the pool is deep enough and the
token is safe.

A sniper names what it wants (`tokenOut`, which may not exist yet), the venue it accepts (`any`, `raydium`,
`meteora`), the least liquidity the new pool must hold on its tokenIn side, and the safety checks the token
must pass (mint and freeze authorities revoked: a token whose mint authority lives can be inflated away, one
whose freeze authority lives can have the buyer's account frozen). `evaluate` judges one sniper against the
pools and the token's launch record as they are at `now`: pure, so the watcher's decisions are unit-tested.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import attrs

from order_engine.domain import amm
from order_engine.domain.amm import Pool, PoolQuote
from order_engine.domain.launches import Launch
from order_engine.domain.money import dec_str
from order_engine.domain.order import Order
from order_engine.domain.payloads import Triggered
from order_engine.domain.sniper_terms import Safety
from order_engine.domain.status import OrderStatus, OrderType
from order_engine.domain.tokens import market_symbol


def safety_failures(safety: Safety, launch: Launch | None) -> list[str]:
    """What about the token fails the sniper's checks ([] = safe). A token the launch registry does not know
    has unknown authorities: every required check fails."""
    failures = []
    if safety.require_mint_authority_revoked and (launch is None or not launch.mint_authority_revoked):
        failures.append("mint authority not revoked")
    if safety.require_freeze_authority_revoked and (launch is None or not launch.freeze_authority_revoked):
        failures.append("freeze authority not revoked")
    return failures


def liquidity_of(pool: Pool, symbol: str) -> Decimal:
    """The pool's reserve of `symbol`, in whole tokens (normalised: 50, not 50.000000000)."""
    units, decimals = (
        (pool.base_reserve, pool.base_decimals) if symbol == pool.base else (pool.quote_reserve, pool.quote_decimals)
    )
    return Decimal(units).scaleb(-decimals).normalize()


@attrs.frozen
class Verdict:
    """`hit` when the sniper fires now (with what it saw), else `reason` says why not (None: no pool yet)."""

    hit: Triggered | None = None
    quote: PoolQuote | None = None
    reason: str | None = None


def evaluate(order: Order, pools: Iterable[Pool], launch: Launch | None, now: datetime) -> Verdict:
    """Whether a waiting sniper fires at `now`: a pool of its pair on an accepted venue, open, holding at least
    `minLiquidity` of tokenIn, and a token that passes its safety checks. Of the pools that qualify, the one that
    gives it the most (at that moment's fee) is the trigger's venue."""
    assert order.order_type is OrderType.SNIPER
    assert order.trigger is not None and order.safety is not None
    tin, tout = market_symbol(order.token_in), market_symbol(order.token_out)
    trigger = order.trigger
    mine = [p for p in pools if {p.base, p.quote} == {tin, tout}]
    if not mine:
        return Verdict()
    reasons: list[str] = []
    candidates: list[tuple[PoolQuote, Pool]] = []
    for pool in mine:
        if trigger.venue != "any" and pool.venue != trigger.venue:
            reasons.append(f"{pool.venue}: not the venue asked for ({trigger.venue})")
            continue
        if not amm.is_open(pool, now):
            reasons.append(f"{pool.venue}: not open yet")
            continue
        depth = liquidity_of(pool, tin)
        if depth < trigger.min_liquidity:
            reasons.append(
                f"{pool.venue}: {dec_str(depth)} {tin} of liquidity, below the {dec_str(trigger.min_liquidity)} asked"
            )
            continue
        quote = amm.quote(amm.at(pool, now), tin, order.amount_in)
        if quote.amount_out_units <= 0:
            reasons.append(f"{pool.venue}: the pool gives nothing for {dec_str(order.amount_in)} {tin}")
            continue
        candidates.append((quote, pool))
    if not candidates:
        return Verdict(reason="; ".join(reasons))
    failures = safety_failures(order.safety, launch)
    if failures:
        return Verdict(reason="unsafe token: " + ", ".join(failures))
    quote, pool = min(candidates, key=lambda c: (-c[0].amount_out, c[0].fee_rate, c[0].venue))
    triggered = Triggered(
        venue=pool.venue,
        effective_price=quote.effective_price,
        market_at=now,
        pool=f"{pool.base}/{pool.quote}",
        liquidity=liquidity_of(pool, tin),
    )
    return Verdict(hit=triggered, quote=quote)


def submission_order(orders: Iterable[Order]) -> list[Order]:
    """Snipers in the order they were submitted (created_at, then id): the order they execute in."""
    return sorted(orders, key=lambda o: (o.created_at, o.id))


def swap_line(order: Order) -> str | None:
    """The line a triggered sniper swaps in (one per launch pool: BASE/QUOTE), None for any other order."""
    if order.order_type is not OrderType.SNIPER:
        return None
    fired = order.last_entry(OrderStatus.TRIGGERED)
    if fired is None or not isinstance(fired.payload, Triggered) or fired.payload.pool is None:
        return None
    return fired.payload.pool
