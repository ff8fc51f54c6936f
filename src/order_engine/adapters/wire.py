"""The JSON shapes clients see: camelCase keys, amounts as decimal strings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from order_engine.domain.errors import InvalidOrder
from order_engine.domain.money import PLAIN_DECIMAL_RULE, dec_str, parse_amount
from order_engine.domain.order import Order, StatusEntry


def _s(value: Decimal | None) -> str | None:
    return None if value is None else dec_str(value)


def _ts(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def decimal_from_json(token: msgspec.Raw | bytes, field: str) -> Decimal:
    """An amount from its raw JSON token: a string holding a plain decimal, or a number written as one.

    A number is checked as written, not as decoded: `1.5e0` and `15e-1` decode to the same Decimal as `1.5`,
    and only the raw token tells them apart.
    """
    raw = bytes(token)
    if raw[:1] == b'"':
        try:
            text = msgspec.json.decode(raw, type=str)
        except (msgspec.DecodeError, UnicodeDecodeError):
            raise InvalidOrder(field, PLAIN_DECIMAL_RULE) from None
        return parse_amount(text, field)
    return parse_amount(raw.decode("ascii", "replace"), field)  # a non-ASCII byte can never match


def order_to_dict(order: Order) -> dict[str, Any]:
    return {
        "orderId": str(order.id),
        "orderType": order.order_type.value,
        "tokenIn": order.token_in,
        "tokenOut": order.token_out,
        "amountIn": dec_str(order.amount_in),
        "slippageBps": order.slippage_bps,
        "status": order.status.value,
        "dexUsed": order.dex_used,
        "executedPrice": _s(order.executed_price),
        "amountOut": _s(order.amount_out),
        "txHash": order.tx_hash,
        "failureReason": order.failure_reason,
        "attempts": order.attempts,
        "statusHistory": [e.to_dict() for e in order.status_history],
        "createdAt": _ts(order.created_at),
        "updatedAt": _ts(order.updated_at),
    }


def status_message(
    kind: str, order: Order, seq: int, entry: StatusEntry, snapshot: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A WebSocket message: `snapshot` (state on connect) or `status` (one change)."""
    return {
        "type": kind,
        "orderId": str(order.id),
        "seq": seq,
        "status": entry.status.value,
        "timestamp": _ts(entry.timestamp),
        "metadata": dict(entry.metadata),
        "order": snapshot if snapshot is not None else order_to_dict(order),
    }


def latest_status_message(order: Order, kind: str = "status") -> dict[str, Any]:
    return status_message(kind, order, order.seq, order.status_history[-1])


encode = msgspec.json.Encoder().encode
decode = msgspec.json.decode
