"""Listeners on the domain's events: structured logs and live broadcasts (metrics will be one more)."""

from __future__ import annotations

import logging
from typing import Any

import structlog

from order_engine.domain.events import (
    AttemptFailed,
    CloseFailed,
    EnqueueFailed,
    Event,
    EventBus,
    IdempotentReplay,
    JobSkipped,
    JobSuperseded,
    Listener,
    OrderAccepted,
    OrderRescheduled,
    OutOfTurn,
    RecoverySwept,
    RoutingDecided,
    StatusChanged,
    SwapFoundOnChain,
    SwapLineFailed,
    TriggeredNotQueued,
    WatchNotifyFailed,
)
from order_engine.domain.money import dec_str
from order_engine.domain.payloads import Failed
from order_engine.domain.ports import StatusNotifier

log = structlog.get_logger("order_engine.events")


# Events logged at INFO only (a failed order's StatusChanged is an error; see below): at a higher level they are
# dropped before any of their fields are built, which at ~7 events per order is most of the listener's cost.
_INFO_ONLY = (OrderAccepted, IdempotentReplay, RoutingDecided, JobSuperseded, RecoverySwept)


_LEVEL = logging.getLogger("order_engine.events")  # the stdlib logger behind `log`: its level check is cached


def _below_level(event: Event) -> bool:
    if _LEVEL.isEnabledFor(logging.INFO):
        return False
    if isinstance(event, StatusChanged):
        return not isinstance(event.order.status_history[-1].payload, Failed)
    return isinstance(event, _INFO_ONLY) or (isinstance(event, JobSkipped) and event.status is not None)


async def log_event(event: Event) -> None:
    """One structured line per event (per step, for a change of several), naming the order it is about."""
    if _below_level(event):
        return
    match event:
        case StatusChanged():
            for each in event.steps:
                _log_status(each)
        case OrderAccepted(order=order):
            log.info(
                "order created",
                order_id=str(order.id),
                order_type=order.order_type.value,
                status=order.status.value,
                pair=f"{order.token_in}/{order.token_out}",
                amount_in=dec_str(order.amount_in),
                slippage_bps=order.slippage_bps,
                **(
                    {"limit_price": dec_str(order.limit_price), "time_in_force": str(order.time_in_force)}
                    if order.limit_price is not None
                    else {}
                ),
                **(
                    {
                        "wants": order.token_out,
                        "trigger_venue": order.trigger.venue,
                        "min_liquidity": dec_str(order.trigger.min_liquidity),
                        "expires_at": None if order.expires_at is None else order.expires_at.isoformat(),
                    }
                    if order.trigger is not None
                    else {}
                ),
            )
        case IdempotentReplay(order=order):
            log.info("idempotent replay", order_id=str(order.id), status=order.status.value)
        case EnqueueFailed(order_id=order_id, error=error):
            log.error("enqueue failed; order closed", order_id=str(order_id), error=error)
        case CloseFailed(order_id=order_id, error=error):
            log.error("could not close unqueued order", order_id=str(order_id), error=error)
        case WatchNotifyFailed(order_id=order_id, error=error):
            log.warning(
                "watcher not told of a resting order; it will find it when it reconciles",
                order_id=str(order_id),
                error=error,
            )
        case TriggeredNotQueued(order_id=order_id, error=error):
            log.error(
                "triggered order not queued; the recovery sweep will re-schedule it",
                order_id=str(order_id),
                error=error,
            )
        case SwapLineFailed(line=line, order_ids=order_ids, error=error):
            log.warning(
                "swap line unavailable; these snipers swap without waiting their turn",
                line=line,
                order_ids=[str(i) for i in order_ids],
                error=error,
            )
        case OutOfTurn(order_id=order_id, line=line, waited_s=waited_s):
            log.warning(
                "sniper swaps out of turn: one ahead of it in its line did not leave in time",
                order_id=str(order_id),
                line=line,
                waited_s=round(waited_s, 3),
            )
        case JobSkipped(order_id=order_id, attempt=attempt, status=None):
            log.warning("job for unknown order dropped", order_id=str(order_id), attempt=attempt)
        case JobSkipped(order_id=order_id, attempt=attempt, status=status):
            log.info(
                "order is not for a job to drive; job ignored", order_id=str(order_id), attempt=attempt, status=status
            )
        case JobSuperseded(order_id=order_id, attempt=attempt):
            log.info("order moved on under another job; this one stops", order_id=str(order_id), attempt=attempt)
        case RoutingDecided():
            log.info(
                "routing decision",
                order_id=str(event.order_id),
                attempt=event.attempt,
                quotes=dict(event.amounts_out),
                unavailable=dict(event.unavailable),
                chosen=event.chosen,
                reason=event.reason,
            )
        case SwapFoundOnChain(order_id=order_id, attempt=attempt, tx_hash=tx_hash):
            log.warning(
                "swap already sent by an earlier attempt; settling it, not re-sending",
                order_id=str(order_id),
                attempt=attempt,
                tx_hash=tx_hash,
            )
        case AttemptFailed():
            log.warning(
                "attempt failed; will retry",
                order_id=str(event.order_id),
                attempt=event.attempt,
                stage=event.stage,
                error=event.error,
                retry_in_s=event.retry_in_s,
            )
        case OrderRescheduled(order_id=order_id, status=status, idle_s=idle_s):
            log.warning("stranded order re-scheduled", order_id=str(order_id), status=status.value, idle_s=idle_s)
        case RecoverySwept(stale=stale, scheduled=scheduled):
            log.info("recovery sweep", stale=stale, scheduled=scheduled)


def _log_status(event: StatusChanged) -> None:
    order, step, attempt = event.order, event.step, event.attempt
    entry = order.status_history[-1]
    fields: dict[str, Any] = {"status": order.status.value, "seq": order.seq, "step": step.value}
    if isinstance(entry.payload, Failed):
        log.error(
            "order failed",
            order_id=str(order.id),
            attempt=attempt,
            reason=entry.payload.reason,
            stage=entry.payload.stage,
            **fields,
        )
    else:
        log.info("order status changed", order_id=str(order.id), attempt=attempt, **fields)


def broadcaster(notifier: StatusNotifier) -> Listener:
    """Publishes every committed status change to the order's live streams (in any API process)."""

    async def broadcast(event: Event) -> None:
        if isinstance(event, StatusChanged):
            try:
                await notifier.publish(*(each.order for each in event.steps))
            except Exception as exc:  # a lost broadcast must not fail the order; the row is the truth
                log.warning(
                    "status broadcast failed", order_id=str(event.order.id), seq=event.order.seq, error=repr(exc)
                )

    return broadcast


def _listener_failed(listener: Listener, event: Event, exc: Exception) -> None:
    log.error(
        "event listener failed",
        listener=getattr(listener, "__name__", repr(listener)),
        event=type(event).__name__,
        error=repr(exc),
    )


def event_bus(*listeners: Listener) -> EventBus:
    """The bus every process uses: logging first, then whatever the process adds (broadcast, metrics)."""
    return EventBus([log_event, *listeners], on_error=_listener_failed)
