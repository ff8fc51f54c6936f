"""Money is Decimal; on the wire and in storage it is a plain decimal string."""

from __future__ import annotations

import re
from decimal import Decimal

from order_engine.domain.errors import InvalidOrder

# What an amount or a price may look like on the wire: ASCII digits with an optional fraction. Not what
# Python's Decimal() reads, which also takes "1_000", "１", " 1 ", "+1", "1e2", ".5", "1." and "NaN".
PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")
PLAIN_DECIMAL_RULE = (
    'must be a decimal number written as digits with an optional fraction, e.g. "1.5" '
    "(no sign, exponent, spaces, separators or non-ASCII digits)"
)


def dec_str(value: Decimal) -> str:
    """`value` as a plain decimal string: "0.000000001", never "1E-9"."""
    return format(value, "f")


def parse_amount(text: str, field: str) -> Decimal:
    """`text` as an exact Decimal if it is a plain decimal string, else InvalidOrder naming `field`.

    The one rule for every amount and price a client sends, in a body or a query parameter.
    """
    if PLAIN_DECIMAL.fullmatch(text) is None:
        raise InvalidOrder(field, PLAIN_DECIMAL_RULE)
    return Decimal(text)
