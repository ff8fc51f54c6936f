"""Limit orders' arithmetic: the floor a fill must reach, and whether a quote meets it.

`limitPrice` is the worst acceptable effective price: tokenOut per one tokenIn after fee and price impact.
A fill meets it when amountOut ≥ amountIn × limitPrice, and amountOut comes in whole base units of tokenOut,
so the floor is amountIn × limitPrice rounded **up** to tokenOut's quantum: a limit never fills below its
limit, not even by the rounding of a unit.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, localcontext

from order_engine.domain.tokens import Token

PRICE_DIGITS = 34  # as the pools' prices (domain/amm.PRICE_CONTEXT)


def limit_floor(amount_in: Decimal, limit_price: Decimal, token_out: Token) -> Decimal:
    """The least amount out that meets the limit, in whole base units of `token_out` (rounded up)."""
    with localcontext() as ctx:
        ctx.prec = 200  # amounts ≤ 1e15 with ≤ 18 decimals, prices ≤ 1e15: the product is exact
        exact = amount_in * limit_price
    return exact.quantize(token_out.quantum, rounding=ROUND_CEILING)


def effective_price(amount_out: Decimal, amount_in: Decimal) -> Decimal:
    """amountOut / amountIn, to 34 significant digits (tokenOut per one tokenIn)."""
    with localcontext() as ctx:
        ctx.prec = PRICE_DIGITS
        return amount_out / amount_in
