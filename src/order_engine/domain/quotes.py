"""Quotes, best-quote selection and slippage arithmetic. All money is Decimal."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal

import attrs

from order_engine.domain.money import dec_str

BPS = Decimal(10_000)


@attrs.frozen
class Quote:
    """What one venue offers for `amount_in` of the input token."""

    venue: str
    price: Decimal  # output tokens per input token, before fees
    fee_rate: Decimal  # e.g. 0.003 for 0.3 %
    amount_in: Decimal
    amount_out: Decimal  # after fees, in output-token units
    estimated_fee_lamports: int = 5000


def amount_out_after_fee(amount_in: Decimal, price: Decimal, fee_rate: Decimal) -> Decimal:
    return amount_in * price * (Decimal(1) - fee_rate)


def select_best(quotes: Iterable[Quote]) -> Quote:
    """The quote with the highest amount out; ties go to the lower fee, then the venue name.

    The tie-break makes the choice deterministic whatever order quotes arrived in.
    """
    ranked = sorted(quotes, key=lambda q: (-q.amount_out, q.fee_rate, q.venue))
    if not ranked:
        raise ValueError("no quotes to choose from")
    return ranked[0]


def routing_reason(best: Quote, others: Iterable[Quote]) -> str:
    rest = [q for q in others if q.venue != best.venue]
    if not rest:
        return f"{best.venue} was the only venue that quoted"
    runner = select_best(rest)
    if runner.amount_out == best.amount_out:
        return f"{best.venue} tied with {runner.venue} on amountOut; lower fee or name breaks the tie"
    if not runner.amount_out:
        return f"{best.venue} returns {dec_str(best.amount_out)}; {runner.venue} returns nothing"
    edge_bps = (best.amount_out - runner.amount_out) / runner.amount_out * BPS
    return (
        f"{best.venue} returns {dec_str(best.amount_out)} vs {runner.venue} {dec_str(runner.amount_out)} "
        f"(+{edge_bps.quantize(Decimal('0.01'))} bps)"
    )


def min_amount_out(expected: Decimal, slippage_bps: int, quantum: Decimal | None = None) -> Decimal:
    """expected × (1 − slippageBps / 10 000), rounded down to the token's smallest unit."""
    floor = expected * (BPS - Decimal(slippage_bps)) / BPS
    return floor.quantize(quantum, rounding=ROUND_DOWN) if quantum is not None else floor
