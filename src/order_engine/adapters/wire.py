"""The JSON shapes clients see: camelCase keys, amounts as decimal strings."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from order_engine.domain.errors import InvalidOrder
from order_engine.domain.money import PLAIN_DECIMAL_RULE, dec_str, parse_amount
from order_engine.domain.order import Order, StatusEntry
from order_engine.domain.payloads import (
    Built,
    Cancelled,
    Confirmed,
    Created,
    Expired,
    Failed,
    FailureClass,
    Payload,
    Rested,
    Retry,
    Routed,
    Submitted,
    Triggered,
)
from order_engine.domain.quotes import Quote
from order_engine.domain.sniper_terms import Safety, SniperTrigger
from order_engine.domain.status import OrderStatus


def _s(value: Decimal | None) -> str | None:
    return None if value is None else dec_str(value)


def _ts(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _failure_class(raw: dict[str, Any]) -> FailureClass:
    """The entry's own, or (written before entries had one) what its other fields say."""
    try:
        return FailureClass(raw["failureClass"])
    except (KeyError, ValueError):
        pass
    if raw.get("stage") == "queueing":
        return FailureClass.NOT_QUEUED
    if raw.get("reason") == "slippage exceeded":
        return FailureClass.SLIPPAGE
    if "expectedAmountOut" in raw:
        return FailureClass.AMOUNT_TOO_SMALL
    return FailureClass.ERROR


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


# --- status entries: the one place that knows their JSON shape (history column, API, live streams) ----------


def quote_to_dict(q: Quote) -> dict[str, Any]:
    return {
        "venue": q.venue,
        "price": dec_str(q.price),
        "feeRate": dec_str(q.fee_rate),
        "amountIn": dec_str(q.amount_in),
        "amountOut": dec_str(q.amount_out),
        "estimatedFeeLamports": q.estimated_fee_lamports,
    }


def quote_from_dict(raw: dict[str, Any]) -> Quote:
    return Quote(
        venue=raw["venue"],
        price=Decimal(raw["price"]),
        fee_rate=Decimal(raw["feeRate"]),
        amount_in=Decimal(raw["amountIn"]),
        amount_out=Decimal(raw["amountOut"]),
        estimated_fee_lamports=raw.get("estimatedFeeLamports", 5000),
    )


def _failed_to_dict(p: Failed) -> dict[str, Any]:
    out: dict[str, Any] = {
        "reason": p.reason,
        "failureClass": p.failure_class.value,
        "attempts": p.attempts,
        "stage": p.stage,
    }
    for key, value in (
        ("amountOut", p.amount_out),
        ("expectedAmountOut", p.expected_amount_out),
        ("minAmountOut", p.min_amount_out),
    ):
        if value is not None:
            out[key] = dec_str(value)
    return out


def _present(**fields: Any) -> dict[str, Any]:
    """camelCase fields that have a value: Decimals as strings, datetimes as timestamps."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        out[key] = (
            dec_str(value) if isinstance(value, Decimal) else _ts(value) if isinstance(value, datetime) else value
        )
    return out


_TO_DICT: dict[type, Callable[[Any], dict[str, Any]]] = {
    Created: lambda p: {},
    Rested: lambda p: {
        "arm": p.arm,
        **_present(limitPrice=p.limit_price, bestEffectivePrice=p.best_effective_price, reason=p.reason),
    },
    Triggered: lambda p: _present(
        venue=p.venue,
        effectivePrice=p.effective_price,
        marketAt=p.market_at,
        limitPrice=p.limit_price,
        pool=p.pool,
        liquidity=p.liquidity,
    ),
    Expired: lambda p: _present(
        reason=p.reason, limitPrice=p.limit_price, bestEffectivePrice=p.best_effective_price, expiresAt=p.expires_at
    ),
    Cancelled: lambda p: {"fromStatus": p.from_status, "reason": p.reason},
    Retry: lambda p: {
        "attempt": p.attempt,
        "maxAttempts": p.max_attempts,
        "error": p.error,
        "stage": p.stage,
        "retryInS": p.retry_in_s,
    },
    Routed: lambda p: {
        "quotes": [quote_to_dict(q) for q in p.quotes],
        "unavailable": dict(p.unavailable),
        "chosen": p.chosen,
        "reason": p.reason,
        "quoteMs": p.quote_ms,
        "attemptStartedAt": _ts(p.attempt_started_at),
    },
    Built: lambda p: {
        "dexUsed": p.dex_used,
        "quotedPrice": dec_str(p.quoted_price),
        "expectedAmountOut": dec_str(p.expected_amount_out),
        "minAmountOut": dec_str(p.min_amount_out),
        "slippageBps": p.slippage_bps,
        "wrapSol": p.wrap_sol,
        "unwrapSol": p.unwrap_sol,
        "recentBlockhash": p.recent_blockhash,
        "blockhashMs": p.blockhash_ms,
    },
    Submitted: lambda p: {"txHash": p.tx_hash, **({"foundOnChain": True} if p.found_on_chain else {})},
    Confirmed: lambda p: {
        "txHash": p.tx_hash,
        "executedPrice": dec_str(p.executed_price),
        "amountOut": dec_str(p.amount_out),
        "slot": p.slot,
        "executionMs": p.execution_ms,
    },
    Failed: _failed_to_dict,
}


def payload_to_dict(payload: Payload) -> dict[str, Any]:
    return _TO_DICT[type(payload)](payload)


def payload_from_dict(status: OrderStatus, raw: dict[str, Any]) -> Payload:
    """The payload an entry of `status` holds, from its JSON (a repeated status with attempt/error is a retry)."""
    if not raw:
        return Created()
    if "attempt" in raw and "error" in raw:
        return Retry(raw["attempt"], raw["maxAttempts"], raw["error"], raw["stage"], raw["retryInS"])
    match status:
        case OrderStatus.WAITING:
            return Rested(
                arm=raw["arm"],
                limit_price=_d(raw.get("limitPrice")),
                best_effective_price=_d(raw.get("bestEffectivePrice")),
                reason=raw.get("reason"),
            )
        case OrderStatus.TRIGGERED:
            return Triggered(
                venue=raw["venue"],
                effective_price=Decimal(raw["effectivePrice"]),
                market_at=_time(raw["marketAt"]),
                limit_price=_d(raw.get("limitPrice")),
                pool=raw.get("pool"),
                liquidity=_d(raw.get("liquidity")),
            )
        case OrderStatus.EXPIRED:
            return Expired(
                reason=raw["reason"],
                limit_price=_d(raw.get("limitPrice")),
                best_effective_price=_d(raw.get("bestEffectivePrice")),
                expires_at=_time(raw["expiresAt"]) if raw.get("expiresAt") else None,
            )
        case OrderStatus.CANCELLED:
            return Cancelled(from_status=raw["fromStatus"], reason=raw.get("reason", "cancelled by client"))
        case OrderStatus.ROUTING:
            return Routed(
                quotes=tuple(quote_from_dict(q) for q in raw["quotes"]),
                unavailable=raw.get("unavailable", {}),
                chosen=raw["chosen"],
                reason=raw["reason"],
                quote_ms=raw.get("quoteMs", 0),
                attempt_started_at=_time(raw["attemptStartedAt"]),
            )
        case OrderStatus.BUILDING:
            return Built(
                dex_used=raw["dexUsed"],
                quoted_price=Decimal(raw["quotedPrice"]),
                expected_amount_out=Decimal(raw["expectedAmountOut"]),
                min_amount_out=Decimal(raw["minAmountOut"]),
                slippage_bps=raw.get("slippageBps"),
                wrap_sol=raw["wrapSol"],
                unwrap_sol=raw["unwrapSol"],
                recent_blockhash=raw["recentBlockhash"],
                blockhash_ms=raw.get("blockhashMs", 0),
            )
        case OrderStatus.SUBMITTED:
            return Submitted(raw["txHash"], bool(raw.get("foundOnChain", False)))
        case OrderStatus.CONFIRMED:
            return Confirmed(
                tx_hash=raw["txHash"],
                executed_price=Decimal(raw["executedPrice"]),
                amount_out=Decimal(raw["amountOut"]),
                slot=raw["slot"],
                execution_ms=raw.get("executionMs", 0),
            )
        case OrderStatus.FAILED:
            return Failed(
                reason=raw["reason"],
                attempts=raw.get("attempts", 0),
                stage=raw.get("stage", ""),
                failure_class=_failure_class(raw),
                amount_out=_d(raw.get("amountOut")),
                min_amount_out=_d(raw.get("minAmountOut")),
                expected_amount_out=_d(raw.get("expectedAmountOut")),
            )
    return Created()


def trigger_to_dict(trigger: SniperTrigger | None) -> dict[str, Any] | None:
    if trigger is None:
        return None
    return {"event": trigger.event, "venue": trigger.venue, "minLiquidity": dec_str(trigger.min_liquidity)}


def safety_to_dict(safety: Safety | None) -> dict[str, Any] | None:
    if safety is None:
        return None
    return {
        "requireMintAuthorityRevoked": safety.require_mint_authority_revoked,
        "requireFreezeAuthorityRevoked": safety.require_freeze_authority_revoked,
    }


def sniper_terms_from_dict(
    trigger: dict[str, Any] | None, safety: dict[str, Any] | None
) -> tuple[SniperTrigger | None, Safety | None]:
    """A sniper's trigger and safety from their stored (or API) JSON."""
    return (
        None
        if trigger is None
        else SniperTrigger(trigger["event"], trigger["venue"], Decimal(trigger["minLiquidity"])),
        None
        if safety is None
        else Safety(safety["requireMintAuthorityRevoked"], safety["requireFreezeAuthorityRevoked"]),
    )


# Entry → its JSON dict, built once per entry object. Entries are immutable and every later version of an order
# holds the same entry objects, so without this each broadcast of an order (its whole history rides along) and
# each guarded write would serialise the history again: ~18 entries per market order instead of 5. Keyed by id,
# dropped when the entry is (a weak reference's callback, which runs before its id can be reused).
_ENTRY_DICTS: dict[int, tuple[weakref.ref[StatusEntry], dict[str, Any]]] = {}


def entry_to_dict(entry: StatusEntry) -> dict[str, Any]:
    """The entry's JSON shape. Shared between callers (it is cached): encode it, never change it."""
    key = id(entry)
    cached = _ENTRY_DICTS.get(key)
    if cached is not None and cached[0]() is entry:
        return cached[1]
    built = {
        "status": entry.status.value,
        "timestamp": _ts(entry.timestamp),
        "metadata": payload_to_dict(entry.payload),
    }
    _ENTRY_DICTS[key] = (weakref.ref(entry, lambda _, key=key: _ENTRY_DICTS.pop(key, None)), built)
    return built


def entry_from_dict(raw: dict[str, Any]) -> StatusEntry:
    status = OrderStatus(raw["status"])
    return StatusEntry(status, _time(raw["timestamp"]), payload_from_dict(status, raw.get("metadata") or {}))


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


def timestamp_from_json(text: str, field: str) -> datetime:
    """An RFC 3339 time with its offset (`Z` or ±hh:mm), in UTC; InvalidOrder naming `field` otherwise."""
    try:
        value = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or "T" not in text.upper():
        raise InvalidOrder(field, 'must be an RFC 3339 time with its offset, e.g. "2026-01-31T12:00:00Z"')
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidOrder(field, "is out of range") from None


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
        "limitPrice": _s(order.limit_price),
        "timeInForce": None if order.time_in_force is None else order.time_in_force.value,
        "expiresAt": None if order.expires_at is None else _ts(order.expires_at),
        "trigger": trigger_to_dict(order.trigger),
        "safety": safety_to_dict(order.safety),
        "arm": order.arm,
        "statusHistory": [entry_to_dict(e) for e in order.status_history],
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
        "metadata": entry_to_dict(entry)["metadata"],
        "order": snapshot if snapshot is not None else order_to_dict(order),
    }


def latest_status_message(order: Order, kind: str = "status") -> dict[str, Any]:
    return status_message(kind, order, order.seq, order.status_history[-1])


encode = msgspec.json.Encoder().encode
decode = msgspec.json.decode
