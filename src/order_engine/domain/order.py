"""The order entity, its status history and the change a transition produces."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from order_engine.domain.payloads import Created, Payload
from order_engine.domain.sniper_terms import Safety, SniperTrigger
from order_engine.domain.status import OrderStatus, OrderType, Step, TimeInForce, next_status


@attrs.frozen
class StatusEntry:
    status: OrderStatus
    timestamp: datetime
    payload: Payload = attrs.field(factory=Created)


@attrs.frozen
class StatusChange:
    """One guarded step: applies only if the order is still at (`expected_status`, `expected_seq`)."""

    order_id: uuid.UUID
    expected_status: OrderStatus
    expected_seq: int
    entry: StatusEntry
    attempt: int
    step: Step
    base: Order = attrs.field(
        eq=False, repr=False
    )  # the order it was computed from: its history + entry is the new one
    updates: Mapping[str, Any] = attrs.field(factory=dict)
    # Steps this change takes on the way, in the same write (`then`): the order as each left it, and the step.
    passed: tuple[tuple[Order, Step], ...] = ()

    @property
    def entries(self) -> tuple[StatusEntry, ...]:
        """The entries the write appends, in order: those of the steps passed, then `entry`."""
        return (*(order.status_history[-1] for order, _ in self.passed), self.entry)

    @property
    def seq(self) -> int:
        return self.expected_seq + len(self.passed) + 1

    def then(self, step: Step, at: datetime, *, payload: Payload | None = None, **updates: Any) -> StatusChange:
        """This change and `step` after it, as one guarded write: both entries are appended, or neither.

        For steps with nothing between them that could fail or be seen (a market order's route and build), so the
        order never rests in the status between them, and one statement and one commit are saved.
        """
        via = self.base.applied(self)
        following = via.change(step, at, attempt=self.attempt, payload=payload, **updates)
        return attrs.evolve(
            following,
            expected_status=self.expected_status,
            expected_seq=self.expected_seq,
            base=self.base,
            updates={**self.updates, **following.updates},
            passed=(*self.passed, (via, self.step)),
        )


# Fields a transition may set on the order besides status/history/attempts.
# `idempotency_key` only ever to None: an order closed as not accepted releases its key for a retry.
UPDATABLE_FIELDS = frozenset(
    {"dex_used", "executed_price", "amount_out", "tx_hash", "failure_reason", "idempotency_key", "arm"}
)


@attrs.frozen
class Order:
    id: uuid.UUID
    order_type: OrderType
    token_in: str
    token_out: str
    amount_in: Decimal
    slippage_bps: int | None  # None on limit orders: the limit price is their protection
    status: OrderStatus
    status_history: tuple[StatusEntry, ...]
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    dex_used: str | None = None
    executed_price: Decimal | None = None
    amount_out: Decimal | None = None
    tx_hash: str | None = None
    failure_reason: str | None = None
    idempotency_key: str | None = None
    # sha256 of the validated request (requests.request_fingerprint): a replayed key must match it.
    request_fingerprint: str | None = None
    # Limit orders: the worst acceptable effective price (tokenOut per one tokenIn, after fee and impact).
    limit_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    expires_at: datetime | None = None  # a resting order still waiting then is expired
    arm: int | None = None  # resting orders: 1 when accepted, + 1 at each re-arm (the job key includes it)
    # Sniper orders: what fires them and what their token must pass.
    trigger: SniperTrigger | None = None
    safety: Safety | None = None

    @property
    def seq(self) -> int:
        """Position of the latest status entry (1 = pending)."""
        return len(self.status_history)

    def last_entry(self, status: OrderStatus) -> StatusEntry | None:
        """The entry that last moved the order *into* `status` (retry entries repeat a status; they are skipped)."""
        history = self.status_history
        for i in range(len(history) - 1, -1, -1):
            if history[i].status is status and (i == 0 or history[i - 1].status is not status):
                return history[i]
        return None

    def change(
        self,
        step: Step,
        at: datetime,
        *,
        attempt: int,
        payload: Payload | None = None,
        **updates: Any,
    ) -> StatusChange:
        """The guarded change `step` makes; raises IllegalTransition for a move the table lacks for this type."""
        unknown = set(updates) - UPDATABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)} in a transition")
        new_status = next_status(self.status, step, self.order_type)
        return StatusChange(
            order_id=self.id,
            expected_status=self.status,
            expected_seq=self.seq,
            entry=StatusEntry(new_status, at, payload if payload is not None else Created()),
            attempt=attempt,
            step=step,
            base=self,
            updates=updates,
        )

    def applied(self, change: StatusChange) -> Order:
        """This order with `change` applied (what the repository's guarded UPDATE returns)."""
        if (change.expected_status, change.expected_seq) != (self.status, self.seq):
            from order_engine.domain.errors import StaleTransition

            raise StaleTransition(self.id, change.expected_status.value, change.expected_seq)
        return attrs.evolve(
            self,
            status=change.entry.status,
            status_history=(*self.status_history, *change.entries),
            updated_at=change.entry.timestamp,
            attempts=max(self.attempts, change.attempt),
            **change.updates,
        )
