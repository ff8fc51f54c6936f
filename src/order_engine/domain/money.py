"""Money is Decimal; on the wire and in storage it is a plain decimal string."""

from __future__ import annotations

from decimal import Decimal


def dec_str(value: Decimal) -> str:
    """`value` as a plain decimal string: "0.000000001", never "1E-9"."""
    return format(value, "f")
