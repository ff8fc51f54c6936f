"""Reference USD prices the mock market starts from, and the seeded randomness it draws on."""

from __future__ import annotations

import random
from decimal import Decimal, localcontext

USD_PRICES: dict[str, Decimal] = {
    "SOL": Decimal("150.00"),
    "WSOL": Decimal("150.00"),
    "USDC": Decimal("1.000"),
    "USDT": Decimal("0.9998"),
    "BONK": Decimal("0.0000215"),
    "JUP": Decimal("0.92"),
    "RAY": Decimal("2.15"),
}

SIGNIFICANT_DIGITS = 18


def unit(rng: random.Random) -> Decimal:
    """A uniform draw in [0, 1) as an exact Decimal with 9 places."""
    return Decimal(rng.randrange(1_000_000_000)).scaleb(-9)


def rounded(value: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = SIGNIFICANT_DIGITS
        return +value


def rng_for(seed: str | None, *parts: object) -> random.Random:
    """Deterministic per (seed, order, attempt, purpose) when seeded, so interleaving never matters."""
    if seed is None:
        return random.Random()
    return random.Random(":".join([seed, *map(str, parts)]))
