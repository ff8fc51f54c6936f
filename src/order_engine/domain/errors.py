"""Domain errors. Every one carries a message fit to show a client."""

from __future__ import annotations

from decimal import Decimal


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidOrder(DomainError):
    """An order request breaks a rule; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class IdempotencyConflict(InvalidOrder):
    """An Idempotency-Key already used, within its 24 h, for a different request."""

    def __init__(self, key: str) -> None:
        shown = key if len(key) <= 64 else f"{key[:64]}..."
        super().__init__(
            "idempotencyKey",
            f"key {shown!r} was already used for a different order request; "
            "resend that exact request to get its order, or use a new key for a new order",
        )
        self.key = key


class IllegalTransition(DomainError):
    """The state machine has no edge for this (status, step) pair, or none this order type may take."""

    def __init__(self, status: str, step: str, order_type: str) -> None:
        super().__init__(f"illegal transition: {step!r} from status {status!r} for a {order_type} order")
        self.status = status
        self.step = step
        self.order_type = order_type


class StaleTransition(DomainError):
    """The order moved on since it was read: another job got there first."""

    def __init__(self, order_id: object, expected_status: str, expected_seq: int) -> None:
        super().__init__(f"order {order_id} is no longer in status {expected_status!r} at seq {expected_seq}")
        self.order_id = order_id


class OrderNotFound(DomainError):
    def __init__(self, order_id: object) -> None:
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id


class DexError(DomainError):
    """A venue could not do what was asked."""

    transient: bool = False


class DexUnavailable(DexError):
    """Timeout, overload, dropped connection: worth another attempt."""

    transient = True


class SlippageExceeded(DexError):
    """The swap would have returned less than the order's minimum: never retried."""

    def __init__(self, amount_out: Decimal, min_amount_out: Decimal | None) -> None:
        super().__init__("slippage exceeded")
        self.amount_out = amount_out
        self.min_amount_out = min_amount_out


class UnsupportedPair(DexError):
    """No venue trades this pair: never retried."""


class OrderNotExecutable(DomainError):
    """The order cannot be executed as asked, whatever the market does: it fails at once, never retried."""


class AmountTooSmall(OrderNotExecutable):
    """The order's minimum output is below one unit of the output token, so a fill of nothing would confirm."""

    def __init__(
        self, expected: Decimal, min_amount_out: Decimal, unit: Decimal, symbol: str, slippage_bps: int
    ) -> None:
        super().__init__(
            f"amount too small: the best quote returns {expected:f} {symbol}, and {slippage_bps} bps below it "
            f"is {min_amount_out:f}, less than one unit ({unit:f} {symbol}); send a larger amountIn"
        )
        self.expected = expected
        self.min_amount_out = min_amount_out


class MarketUnavailable(DomainError):
    """The pools could not be read, and the request needs them now (an IOC limit is decided at acceptance)."""

    def __init__(self, cause: object) -> None:
        super().__init__(f"market unavailable, nothing was accepted; try again ({cause})")


class TooLate(DomainError):
    """A cancel came after the order left the cancellable statuses (a job is routing or executing it)."""

    def __init__(self, order_id: object, status: str) -> None:
        super().__init__(f"too late: {status}")
        self.order_id = order_id
        self.status = status


class RetryLater(DomainError):
    """Raised by the execute use case: this attempt failed transiently, run it again after `delay_s`."""

    def __init__(self, delay_s: float, cause: Exception) -> None:
        super().__init__(f"retry in {delay_s:g}s after: {cause}")
        self.delay_s = delay_s
        self.cause = cause


class QueueUnavailable(DomainError):
    """The order could not be queued; it was closed as failed and not accepted."""

    def __init__(self, order_id: object, cause: Exception) -> None:
        super().__init__(f"queue unavailable; order {order_id} was not accepted")
        self.order_id = order_id
        self.cause = cause
