import uuid
from datetime import timedelta
from decimal import Decimal as D

import pytest
from fakes import T0

from order_engine.adapters.wire import entry_to_dict
from order_engine.domain.errors import IllegalTransition, StaleTransition
from order_engine.domain.order import StatusEntry
from order_engine.domain.payloads import Created, Routed, Submitted
from order_engine.domain.requests import OrderRequest, new_order
from order_engine.domain.status import OrderStatus as S
from order_engine.domain.status import Step as T

T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)


@pytest.fixture
def pending():
    return new_order(OrderRequest("SOL", "USDC", D("1")), uuid.uuid4(), T0)


ROUTED = Routed(quotes=(), unavailable={}, chosen="raydium", reason="only venue", quote_ms=1, attempt_started_at=T0)


def test_change_is_guarded_on_current_status_and_seq(pending):
    change = pending.change(T.ROUTE, T1, attempt=1, payload=ROUTED, dex_used="raydium")
    assert change.order_id == pending.id
    assert (change.expected_status, change.expected_seq, change.seq, change.step) == (S.PENDING, 1, 2, T.ROUTE)
    assert change.entry == StatusEntry(S.ROUTING, T1, ROUTED)
    assert dict(change.updates) == {"dex_used": "raydium"}
    assert pending.status is S.PENDING  # change() does not mutate


def test_applied_moves_status_appends_history_and_sets_updates(pending):
    routed = pending.applied(pending.change(T.ROUTE, T1, attempt=1, payload=ROUTED, dex_used="meteora"))
    assert routed.status is S.ROUTING
    assert routed.seq == 2
    assert [e.status for e in routed.status_history] == [S.PENDING, S.ROUTING]
    assert routed.status_history[0] == pending.status_history[0]
    assert routed.status_history[1].payload == ROUTED
    assert routed.dex_used == "meteora"
    assert routed.updated_at == T1
    assert routed.created_at == T0
    assert routed.attempts == 1


def test_seq_increments_on_retry_self_transition(pending):
    retried = pending.applied(pending.change(T.RETRY, T1, attempt=1))
    assert retried.status is S.PENDING
    assert retried.seq == 2
    again = retried.applied(retried.change(T.RETRY, T2, attempt=2))
    assert again.seq == 3
    assert [e.status for e in again.status_history] == [S.PENDING] * 3
    assert [e.timestamp for e in again.status_history] == [T0, T1, T2]


def test_last_entry_finds_the_entry_for_a_status(pending):
    routed = pending.applied(pending.change(T.ROUTE, T1, attempt=1, payload=ROUTED))
    assert routed.last_entry(S.ROUTING).payload == ROUTED
    assert routed.last_entry(S.PENDING) == pending.status_history[0]
    assert routed.last_entry(S.BUILDING) is None


def test_attempts_is_the_max_seen(pending):
    third = pending.applied(pending.change(T.RETRY, T1, attempt=3))
    assert third.attempts == 3
    back = third.applied(third.change(T.ROUTE, T2, attempt=2))
    assert back.attempts == 3


def test_an_entry_without_a_payload_records_nothing(pending):
    assert pending.change(T.RETRY, T1, attempt=1).entry.payload == Created()
    assert pending.status_history[0].payload == Created()


@pytest.mark.parametrize("field", ["status", "amount_in", "seq", "id", "attempts"])
def test_unknown_update_field_is_rejected(pending, field):
    with pytest.raises(ValueError, match=field):
        pending.change(T.ROUTE, T1, attempt=1, **{field: "x"})


def test_all_updatable_fields_are_accepted(pending):
    order = pending.applied(
        pending.change(
            T.FAIL,
            T1,
            attempt=1,
            dex_used="raydium",
            executed_price=D("2"),
            amount_out=D("3"),
            tx_hash="sig",
            failure_reason="boom",
        )
    )
    assert (
        order.status,
        order.dex_used,
        order.executed_price,
        order.amount_out,
        order.tx_hash,
        order.failure_reason,
    ) == (
        S.FAILED,
        "raydium",
        D("2"),
        D("3"),
        "sig",
        "boom",
    )


def test_change_with_illegal_trigger_raises(pending):
    with pytest.raises(IllegalTransition):
        pending.change(T.CONFIRM, T1, attempt=1)


def test_applied_with_stale_seq_raises(pending):
    first = pending.change(T.RETRY, T1, attempt=1)
    moved = pending.applied(first)
    with pytest.raises(StaleTransition) as info:
        moved.applied(first)  # same status (pending) but seq moved from 1 to 2
    assert info.value.order_id == pending.id
    assert "seq 1" in str(info.value)


def test_applied_with_stale_status_raises(pending):
    route = pending.change(T.ROUTE, T1, attempt=1)
    routed = pending.applied(route)
    fail = pending.change(T.FAIL, T2, attempt=1)  # computed from the old pending snapshot
    with pytest.raises(StaleTransition, match="'pending'"):
        routed.applied(fail)


def test_two_changes_from_one_snapshot_only_the_first_applies(pending):
    # Two changes computed from the same snapshot: only the first can win.
    a = pending.change(T.ROUTE, T1, attempt=1, dex_used="a")
    b = pending.change(T.FAIL, T1, attempt=1, failure_reason="b")
    winner = pending.applied(a)
    with pytest.raises(StaleTransition):
        winner.applied(b)
    assert winner.dex_used == "a" and winner.failure_reason is None


def test_then_takes_two_steps_in_one_change_guarded_on_the_first(pending):
    change = pending.change(T.ROUTE, T1, attempt=1, payload=ROUTED, dex_used="raydium").then(T.BUILD, T2)
    assert (change.expected_status, change.expected_seq, change.seq, change.step) == (S.PENDING, 1, 3, T.BUILD)
    assert change.entries == (StatusEntry(S.ROUTING, T1, ROUTED), StatusEntry(S.BUILDING, T2, Created()))
    assert dict(change.updates) == {"dex_used": "raydium"}
    ((via, step),) = change.passed
    assert (via.status, via.seq, via.dex_used, via.updated_at, step) == (S.ROUTING, 2, "raydium", T1, T.ROUTE)

    built = pending.applied(change)
    assert [e.status for e in built.status_history] == [S.PENDING, S.ROUTING, S.BUILDING]
    assert (built.status, built.seq, built.dex_used, built.updated_at) == (S.BUILDING, 3, "raydium", T2)
    assert built.status_history[:2] == via.status_history

    retried = pending.applied(pending.change(T.RETRY, T1, attempt=1))
    with pytest.raises(StaleTransition):  # guarded on where the first step started, like any change
        retried.applied(change)


def test_then_refuses_a_second_step_the_table_lacks(pending):
    with pytest.raises(IllegalTransition):
        pending.change(T.ROUTE, T1, attempt=1).then(T.CONFIRM, T2)


def test_entry_to_dict_uses_z_suffix():
    entry = StatusEntry(S.SUBMITTED, T0, Submitted("5Sig"))
    assert entry_to_dict(entry) == {
        "status": "submitted",
        "timestamp": "2025-01-01T12:00:00Z",
        "metadata": {"txHash": "5Sig"},
    }
