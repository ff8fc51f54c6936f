"""The one transition table: every edge for every order type, and every other move refused."""

import itertools

import pytest

from order_engine.domain.errors import IllegalTransition
from order_engine.domain.status import (
    CANCELLABLE,
    JOB_DRIVEN,
    RESTING,
    STAGE,
    TERMINAL,
    TRANSITIONS,
    OrderStatus,
    OrderType,
    Step,
    next_status,
)

S, St, T = OrderStatus, Step, OrderType
M, L, SN = T.MARKET, T.LIMIT, T.SNIPER

# Written out by hand, per order type: what each type may do, and nothing else.
EXPECTED: dict[OrderType, dict[tuple[OrderStatus, Step], OrderStatus]] = {
    M: {
        (S.PENDING, St.ROUTE): S.ROUTING,
        (S.ROUTING, St.BUILD): S.BUILDING,
        (S.BUILDING, St.SUBMIT): S.SUBMITTED,
        (S.SUBMITTED, St.CONFIRM): S.CONFIRMED,
        **{(s, St.RETRY): s for s in (S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED)},
        **{(s, St.FAIL): S.FAILED for s in (S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED)},
        (S.PENDING, St.CANCEL): S.CANCELLED,
    },
    L: {
        (S.PENDING, St.REST): S.WAITING,
        (S.PENDING, St.TRIGGER): S.TRIGGERED,  # IOC met at acceptance
        (S.PENDING, St.EXPIRE): S.EXPIRED,  # IOC not met at acceptance
        (S.WAITING, St.TRIGGER): S.TRIGGERED,
        (S.WAITING, St.EXPIRE): S.EXPIRED,
        (S.TRIGGERED, St.ROUTE): S.ROUTING,
        (S.TRIGGERED, St.REARM): S.WAITING,
        (S.ROUTING, St.REARM): S.WAITING,
        (S.ROUTING, St.BUILD): S.BUILDING,
        (S.BUILDING, St.SUBMIT): S.SUBMITTED,
        (S.SUBMITTED, St.CONFIRM): S.CONFIRMED,
        **{(s, St.RETRY): s for s in (S.TRIGGERED, S.ROUTING, S.BUILDING, S.SUBMITTED)},
        **{(s, St.FAIL): S.FAILED for s in (S.PENDING, S.TRIGGERED, S.ROUTING, S.BUILDING, S.SUBMITTED)},
        **{(s, St.CANCEL): S.CANCELLED for s in (S.PENDING, S.WAITING, S.TRIGGERED)},
    },
    SN: {
        (S.PENDING, St.REST): S.WAITING,
        (S.WAITING, St.TRIGGER): S.TRIGGERED,
        (S.WAITING, St.EXPIRE): S.EXPIRED,
        (S.TRIGGERED, St.ROUTE): S.ROUTING,
        (S.ROUTING, St.BUILD): S.BUILDING,
        (S.BUILDING, St.SUBMIT): S.SUBMITTED,
        (S.SUBMITTED, St.CONFIRM): S.CONFIRMED,
        **{(s, St.RETRY): s for s in (S.TRIGGERED, S.ROUTING, S.BUILDING, S.SUBMITTED)},
        **{(s, St.FAIL): S.FAILED for s in (S.PENDING, S.TRIGGERED, S.ROUTING, S.BUILDING, S.SUBMITTED)},
        **{(s, St.CANCEL): S.CANCELLED for s in (S.PENDING, S.WAITING, S.TRIGGERED)},
    },
}
LEGAL = [(t, s, st) for t, edges in EXPECTED.items() for (s, st) in edges]
ILLEGAL = [(t, s, st) for t, s, st in itertools.product(OrderType, OrderStatus, Step) if (s, st) not in EXPECTED[t]]


def _id(case: tuple[OrderType, OrderStatus, Step]) -> str:
    return "-".join(x.value for x in case)


@pytest.mark.parametrize("case", LEGAL, ids=_id)
def test_every_edge_of_every_type_leads_where_expected(case):
    order_type, status, step = case
    assert next_status(status, step, order_type) is EXPECTED[order_type][(status, step)]


@pytest.mark.parametrize("case", ILLEGAL, ids=_id)
def test_every_other_move_is_illegal_for_that_type(case):
    order_type, status, step = case
    with pytest.raises(IllegalTransition) as info:
        next_status(status, step, order_type)
    assert (info.value.status, info.value.step, info.value.order_type) == (status.value, step.value, order_type.value)
    assert status.value in str(info.value) and step.value in str(info.value) and order_type.value in str(info.value)


def test_the_table_holds_exactly_the_union_of_the_expected_edges():
    union = {(s, st) for edges in EXPECTED.values() for (s, st) in edges}
    assert set(TRANSITIONS) == union
    for (status, step), edge in TRANSITIONS.items():
        assert edge.types == {t for t in OrderType if (status, step) in EXPECTED[t]}, (status, step)


def test_only_resting_types_rest_trigger_or_expire_and_only_limits_rearm():
    for edge in TRANSITIONS.values():
        if edge.step in (St.REST, St.TRIGGER, St.EXPIRE):
            assert M not in edge.types
        if edge.step is St.REARM:
            assert edge.types == {L}


def test_the_named_status_sets():
    assert TERMINAL == {S.CONFIRMED, S.FAILED, S.CANCELLED, S.EXPIRED}
    assert JOB_DRIVEN == {S.PENDING, S.TRIGGERED, S.ROUTING, S.BUILDING, S.SUBMITTED}
    assert RESTING == {S.WAITING}
    assert CANCELLABLE == {S.PENDING, S.WAITING, S.TRIGGERED}
    assert {s for s in OrderStatus if s.is_terminal} == TERMINAL
    assert TERMINAL | JOB_DRIVEN | RESTING == set(OrderStatus) and not TERMINAL & JOB_DRIVEN
    assert set(STAGE) == JOB_DRIVEN


@pytest.mark.parametrize("status", sorted(TERMINAL), ids=str)
def test_terminal_statuses_have_no_outgoing_edge(status):
    assert not [pair for pair in TRANSITIONS if pair[0] is status]


@pytest.mark.parametrize("status", sorted(CANCELLABLE), ids=str)
def test_cancellable_statuses_are_exactly_those_with_a_cancel_edge(status):
    assert TRANSITIONS[(status, St.CANCEL)].target is S.CANCELLED
    assert {s for (s, st) in TRANSITIONS if st is St.CANCEL} == CANCELLABLE


@pytest.mark.parametrize(
    ("order_type", "steps", "path"),
    [
        (M, [St.ROUTE, St.BUILD, St.SUBMIT, St.CONFIRM], [S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED]),
        (
            L,
            [St.REST, St.TRIGGER, St.ROUTE, St.REARM, St.TRIGGER, St.ROUTE, St.BUILD, St.SUBMIT, St.CONFIRM],
            [
                S.WAITING,
                S.TRIGGERED,
                S.ROUTING,
                S.WAITING,
                S.TRIGGERED,
                S.ROUTING,
                S.BUILDING,
                S.SUBMITTED,
                S.CONFIRMED,
            ],
        ),
        (
            SN,
            [St.REST, St.TRIGGER, St.ROUTE, St.BUILD, St.SUBMIT, St.CONFIRM],
            [S.WAITING, S.TRIGGERED, S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED],
        ),
    ],
    ids=["market", "limit-with-a-rearm", "sniper"],
)
def test_each_type_s_path(order_type, steps, path):
    status, seen = S.PENDING, []
    for step in steps:
        status = next_status(status, step, order_type)
        seen.append(status)
    assert seen == path


def test_steps_cannot_skip_ahead_nor_go_back_past_submitted():
    for order_type in OrderType:
        for status, step in [(S.PENDING, St.SUBMIT), (S.ROUTING, St.CONFIRM), (S.WAITING, St.ROUTE)]:
            with pytest.raises(IllegalTransition):
                next_status(status, step, order_type)
        for status in (S.BUILDING, S.SUBMITTED):
            with pytest.raises(IllegalTransition):
                next_status(status, St.REARM, order_type)
