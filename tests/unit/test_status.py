import itertools

import pytest

from order_engine.domain.errors import IllegalTransition
from order_engine.domain.status import TERMINAL, TRANSITIONS, OrderStatus, Trigger, next_status

S, T = OrderStatus, Trigger

ILLEGAL = sorted(
    (pair for pair in itertools.product(OrderStatus, Trigger) if pair not in TRANSITIONS),
    key=lambda p: (p[0].value, p[1].value),
)


def _id(pair: tuple[OrderStatus, Trigger]) -> str:
    return f"{pair[0].value}-{pair[1].value}"


@pytest.mark.parametrize("pair", list(TRANSITIONS), ids=_id)
def test_every_legal_transition_leads_where_the_table_says(pair):
    status, trigger = pair
    assert next_status(status, trigger) is TRANSITIONS[pair]


@pytest.mark.parametrize("pair", ILLEGAL, ids=_id)
def test_every_pair_missing_from_the_table_is_illegal(pair):
    status, trigger = pair
    with pytest.raises(IllegalTransition) as info:
        next_status(status, trigger)
    assert info.value.status == status.value
    assert info.value.trigger == trigger.value
    assert status.value in str(info.value) and trigger.value in str(info.value)


def test_table_has_exactly_the_expected_edges():
    non_terminal = [S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED]
    expected = {
        (S.PENDING, T.ROUTE): S.ROUTING,
        (S.ROUTING, T.BUILD): S.BUILDING,
        (S.BUILDING, T.SUBMIT): S.SUBMITTED,
        (S.SUBMITTED, T.CONFIRM): S.CONFIRMED,
        **{(s, T.RETRY): s for s in non_terminal},
        **{(s, T.FAIL): S.FAILED for s in non_terminal},
    }
    assert dict(TRANSITIONS) == expected
    assert len(ILLEGAL) == len(OrderStatus) * len(Trigger) - len(expected)


@pytest.mark.parametrize("status", sorted(TERMINAL, key=lambda s: s.value))
def test_terminal_statuses_have_no_outgoing_edge(status):
    assert status.is_terminal
    assert not [pair for pair in TRANSITIONS if pair[0] is status]
    for trigger in Trigger:
        with pytest.raises(IllegalTransition):
            next_status(status, trigger)


def test_only_confirmed_and_failed_are_terminal():
    assert {s for s in OrderStatus if s.is_terminal} == {S.CONFIRMED, S.FAILED}


def test_happy_path_sequence():
    status = S.PENDING
    seen = [status]
    for trigger in (T.ROUTE, T.BUILD, T.SUBMIT, T.CONFIRM):
        status = next_status(status, trigger)
        seen.append(status)
    assert seen == [S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED]


def test_triggers_cannot_skip_a_step():
    with pytest.raises(IllegalTransition):
        next_status(S.PENDING, T.SUBMIT)
    with pytest.raises(IllegalTransition):
        next_status(S.ROUTING, T.CONFIRM)
