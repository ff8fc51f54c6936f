"""Row <-> entity conversion for the orders table."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.dialects import postgresql

from order_engine.adapters.sql.models import OrderRow
from order_engine.adapters.wire import (
    entry_from_dict,
    entry_to_dict,
    safety_to_dict,
    sniper_terms_from_dict,
    trigger_to_dict,
)
from order_engine.domain.money import dec_str
from order_engine.domain.order import Order, StatusEntry
from order_engine.domain.status import OrderStatus, OrderType, TimeInForce

# The orders table's columns, in the order the SQLAlchemy model (and so the migrations) declares them.
COLUMNS: tuple[str, ...] = tuple(c.name for c in OrderRow.__table__.columns)
# ... their PostgreSQL types (`VARCHAR(20)`, `JSONB`, …), for statements that pass a column as an array.
COLUMN_TYPES: tuple[str, ...] = tuple(c.type.compile(dialect=postgresql.dialect()) for c in OrderRow.__table__.columns)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def order_from_row(row: Mapping[str, Any], history: tuple[StatusEntry, ...] | None = None) -> Order:
    """`row` is a record of the `COLUMNS` (asyncpg's Record, or any mapping); `history`, when given, stands
    for its `status_history` (which the row then need not hold)."""
    trigger, safety = sniper_terms_from_dict(row["trigger"], row["safety"])
    return Order(
        id=row["id"],
        order_type=OrderType(row["order_type"]),
        token_in=row["token_in"],
        token_out=row["token_out"],
        amount_in=Decimal(row["amount_in"]),
        slippage_bps=row["slippage_bps"],
        status=OrderStatus(row["status"]),
        status_history=history if history is not None else tuple(entry_from_dict(e) for e in row["status_history"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        attempts=row["attempts"],
        dex_used=row["dex_used"],
        executed_price=_dec(row["executed_price"]),
        amount_out=_dec(row["amount_out"]),
        tx_hash=row["tx_hash"],
        failure_reason=row["failure_reason"],
        idempotency_key=row["idempotency_key"],
        request_fingerprint=row["request_fingerprint"],
        limit_price=_dec(row["limit_price"]),
        time_in_force=None if row["time_in_force"] is None else TimeInForce(row["time_in_force"]),
        expires_at=row["expires_at"],
        arm=row["arm"],
        trigger=trigger,
        safety=safety,
    )


def row_args(order: Order) -> tuple[Any, ...]:
    """`row_values` as positional arguments in `COLUMNS` order."""
    values = row_values(order)
    return tuple(values[c] for c in COLUMNS)


def row_values(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "order_type": order.order_type.value,
        "token_in": order.token_in,
        "token_out": order.token_out,
        "amount_in": dec_str(order.amount_in),
        "slippage_bps": order.slippage_bps,
        "status": order.status.value,
        "status_history": [entry_to_dict(e) for e in order.status_history],
        "dex_used": order.dex_used,
        "executed_price": None if order.executed_price is None else dec_str(order.executed_price),
        "amount_out": None if order.amount_out is None else dec_str(order.amount_out),
        "tx_hash": order.tx_hash,
        "failure_reason": order.failure_reason,
        "attempts": order.attempts,
        "idempotency_key": order.idempotency_key,
        "request_fingerprint": order.request_fingerprint,
        "limit_price": None if order.limit_price is None else dec_str(order.limit_price),
        "time_in_force": None if order.time_in_force is None else order.time_in_force.value,
        "expires_at": order.expires_at,
        "trigger": trigger_to_dict(order.trigger),
        "safety": safety_to_dict(order.safety),
        "arm": order.arm,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def update_values(updates: dict[str, Any]) -> dict[str, Any]:
    return {k: (dec_str(v) if isinstance(v, Decimal) else v) for k, v in updates.items()}
