"""The order state machine: one table of every edge, for every order type.

Each edge is (status, step) → status, and names the order types that may take it: only limit and
sniper orders rest (`waiting`) and are triggered, only limit orders re-arm. A move the table lacks,
or one the order's type may not take, raises `IllegalTransition`. The named status sets below are
the only definitions of "terminal", "job-driven", "resting" and "cancellable" in the code base.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from types import MappingProxyType

import attrs

from order_engine.domain.errors import IllegalTransition


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    WAITING = "waiting"  # resting: a limit or sniper order watching for its condition
    TRIGGERED = "triggered"  # its condition was met; a job will route it
    ROUTING = "routing"
    BUILDING = "building"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    SNIPER = "sniper"


class TimeInForce(enum.StrEnum):
    """How long a limit order may rest: until cancelled (capped by a maximum age), until a date, or not at all."""

    GTC = "GTC"  # good till cancelled
    GTD = "GTD"  # good till `expiresAt`
    IOC = "IOC"  # immediate or cancel: decided against the market at acceptance, never rests


class Step(enum.StrEnum):
    """What moves an order. ("Trigger" is reserved for a limit or launch condition being met.)"""

    REST = "rest"  # accepted as a resting order: it starts watching its condition
    TRIGGER = "trigger"  # the condition is met
    REARM = "rearm"  # the market moved back before the swap was sent: watch again
    ROUTE = "route"  # quotes are in and a venue is chosen
    BUILD = "build"  # the swap transaction is built with its slippage floor
    SUBMIT = "submit"  # the transaction is sent; its signature is known
    CONFIRM = "confirm"  # the chain confirmed it
    RETRY = "retry"  # a transient error: same status, another attempt follows
    FAIL = "fail"  # permanent error or attempts exhausted
    CANCEL = "cancel"  # the client cancelled it
    EXPIRE = "expire"  # its time in force ran out (or an IOC limit was not met at once)


_S, _St, _T = OrderStatus, Step, OrderType

TERMINAL = frozenset({_S.CONFIRMED, _S.FAILED, _S.CANCELLED, _S.EXPIRED})
# What a job drives, so what the recovery sweep may re-schedule. `waiting` never: the watcher owns it.
JOB_DRIVEN = frozenset({_S.PENDING, _S.TRIGGERED, _S.ROUTING, _S.BUILDING, _S.SUBMITTED})
RESTING = frozenset({_S.WAITING})
CANCELLABLE = frozenset({_S.PENDING, _S.WAITING, _S.TRIGGERED})
# The step under way while a job holds an order in each status (for retry entries and failure reasons).
STAGE = MappingProxyType(
    {
        _S.PENDING: "routing",
        _S.TRIGGERED: "routing",
        _S.ROUTING: "building",
        _S.BUILDING: "submitting",
        _S.SUBMITTED: "confirming",
    }
)

ALL_TYPES = frozenset(OrderType)
RESTING_TYPES = frozenset({_T.LIMIT, _T.SNIPER})


@attrs.frozen
class Edge:
    source: OrderStatus
    step: Step
    target: OrderStatus
    types: frozenset[OrderType]


def _edges() -> Iterable[Edge]:
    def edge(source: OrderStatus, step: Step, target: OrderStatus, *types: OrderType) -> Edge:
        return Edge(source, step, target, frozenset(types) or ALL_TYPES)

    limit, sniper, market = _T.LIMIT, _T.SNIPER, _T.MARKET
    # Acceptance: a market order is routed from pending; a resting one starts watching (both in the INSERT).
    yield edge(_S.PENDING, _St.ROUTE, _S.ROUTING, market)
    yield edge(_S.PENDING, _St.REST, _S.WAITING, limit, sniper)
    # An IOC limit is decided at acceptance: met now, or expired without resting.
    yield edge(_S.PENDING, _St.TRIGGER, _S.TRIGGERED, limit)
    yield edge(_S.PENDING, _St.EXPIRE, _S.EXPIRED, limit)
    # Resting.
    yield edge(_S.WAITING, _St.TRIGGER, _S.TRIGGERED, limit, sniper)
    yield edge(_S.WAITING, _St.EXPIRE, _S.EXPIRED, limit, sniper)
    yield edge(_S.TRIGGERED, _St.ROUTE, _S.ROUTING, limit, sniper)
    # Re-arm: the fresh quote at routing (from triggered) or at building (from routing) misses the
    # limit. Never past `submitted`: a shortfall on chain fails the order. Snipers do not re-arm.
    yield edge(_S.TRIGGERED, _St.REARM, _S.WAITING, limit)
    yield edge(_S.ROUTING, _St.REARM, _S.WAITING, limit)
    # The swap, for every type.
    yield edge(_S.ROUTING, _St.BUILD, _S.BUILDING)
    yield edge(_S.BUILDING, _St.SUBMIT, _S.SUBMITTED)
    yield edge(_S.SUBMITTED, _St.CONFIRM, _S.CONFIRMED)
    # Retries and failures wherever a job holds the order.
    yield edge(_S.PENDING, _St.RETRY, _S.PENDING, market)  # a resting type is never stored as pending
    yield edge(_S.TRIGGERED, _St.RETRY, _S.TRIGGERED, limit, sniper)
    for status in (_S.ROUTING, _S.BUILDING, _S.SUBMITTED):
        yield edge(status, _St.RETRY, status)
    for status in (_S.PENDING, _S.TRIGGERED, _S.ROUTING, _S.BUILDING, _S.SUBMITTED):
        yield edge(status, _St.FAIL, _S.FAILED, *(() if status is not _S.TRIGGERED else (limit, sniper)))
    # Cancel: until a job starts routing. A market order pending behind the rate limit included.
    yield edge(_S.PENDING, _St.CANCEL, _S.CANCELLED)
    yield edge(_S.WAITING, _St.CANCEL, _S.CANCELLED, limit, sniper)
    yield edge(_S.TRIGGERED, _St.CANCEL, _S.CANCELLED, limit, sniper)


EDGES: tuple[Edge, ...] = tuple(_edges())
TRANSITIONS: MappingProxyType[tuple[OrderStatus, Step], Edge] = MappingProxyType({(e.source, e.step): e for e in EDGES})
assert len(TRANSITIONS) == len(EDGES), "one edge per (status, step)"
assert all(e.source not in TERMINAL for e in EDGES), "terminal statuses have no edges"
assert {e.source for e in EDGES if e.step is Step.CANCEL} == CANCELLABLE


def next_status(status: OrderStatus, step: Step, order_type: OrderType) -> OrderStatus:
    """The status `step` leads to from `status` for an order of `order_type`, or `IllegalTransition`."""
    edge = TRANSITIONS.get((status, step))
    if edge is None or order_type not in edge.types:
        raise IllegalTransition(status.value, step.value, order_type.value)
    return edge.target
