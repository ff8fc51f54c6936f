"""The order state machine as an explicit transition table.

Every move is a (status, trigger) pair looked up in `TRANSITIONS`; a pair that is
not there raises `IllegalTransition`. Order types may add rows of their own (a limit
order would add an `ARM`/`TRIGGER` pair before `ROUTE`) without touching these.
"""

from __future__ import annotations

import enum
from types import MappingProxyType

from order_engine.domain.errors import IllegalTransition


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    ROUTING = "routing"
    BUILDING = "building"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    SNIPER = "sniper"


class Trigger(enum.StrEnum):
    ROUTE = "route"  # quotes are in and a venue is chosen
    BUILD = "build"  # the swap transaction is built with its slippage floor
    SUBMIT = "submit"  # the transaction is sent; its signature is known
    CONFIRM = "confirm"  # the chain confirmed it
    RETRY = "retry"  # a transient error: same status, another attempt follows
    FAIL = "fail"  # permanent error or attempts exhausted


TERMINAL = frozenset({OrderStatus.CONFIRMED, OrderStatus.FAILED})

_S, _T = OrderStatus, Trigger
_NON_TERMINAL = (_S.PENDING, _S.ROUTING, _S.BUILDING, _S.SUBMITTED)

TRANSITIONS: MappingProxyType[tuple[OrderStatus, Trigger], OrderStatus] = MappingProxyType(
    {
        (_S.PENDING, _T.ROUTE): _S.ROUTING,
        (_S.ROUTING, _T.BUILD): _S.BUILDING,
        (_S.BUILDING, _T.SUBMIT): _S.SUBMITTED,
        (_S.SUBMITTED, _T.CONFIRM): _S.CONFIRMED,
        **{(s, _T.RETRY): s for s in _NON_TERMINAL},
        **{(s, _T.FAIL): _S.FAILED for s in _NON_TERMINAL},
    }
)


def next_status(status: OrderStatus, trigger: Trigger) -> OrderStatus:
    """The status `trigger` leads to from `status`, or `IllegalTransition`."""
    try:
        return TRANSITIONS[(status, trigger)]
    except KeyError:
        raise IllegalTransition(status.value, trigger.value) from None
