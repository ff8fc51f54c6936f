"""Group commit against a real PostgreSQL: many guarded transitions per statement, each exactly as `apply` makes it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import asyncpg
import attrs
import pytest
from test_repository import BUILT, ROUTED, pending

from order_engine.adapters.sql.group_commit import GroupCommitRepository
from order_engine.domain.errors import StaleTransition
from order_engine.domain.order import Order
from order_engine.domain.payloads import Confirmed, Rested, Retry, Submitted
from order_engine.domain.sniper_terms import Safety, SniperTrigger
from order_engine.domain.status import OrderStatus as S
from order_engine.domain.status import OrderType, TimeInForce
from order_engine.domain.status import Step as T


def _walk(order: Order, at: datetime, i: int) -> list[tuple[T, int, object, dict]]:
    confirmed = Confirmed(f"sig-{i}", D("150.25"), D(f"{i}.5"), slot=i, execution_ms=3)
    return [
        (T.ROUTE, 1, ROUTED, {"dex_used": "raydium" if i % 2 else "meteora"}),
        (T.BUILD, 1, BUILT, {}),
        (T.SUBMIT, 2, Submitted(f"sig-{i}"), {"tx_hash": f"sig-{i}"}),
        (T.CONFIRM, 2, confirmed, {"executed_price": D("150.25"), "amount_out": D(f"{i}.5")}),
    ]


async def test_apply_each_moves_ten_orders_per_statement_exactly_as_apply_would(repo):
    orders = [await repo.add(pending(f"{i + 1}.25")) for i in range(10)]
    at = datetime.now(UTC)
    expected = list(orders)
    for step in range(4):
        changes = []
        for i, current in enumerate(orders):
            trigger, attempt, payload, updates = _walk(current, at, i)[step]
            changes.append(
                current.change(trigger, at + timedelta(seconds=step + 1), attempt=attempt, payload=payload, **updates)
            )
        expected = [e.applied(c) for e, c in zip(expected, changes, strict=True)]
        orders = await repo.apply_each(changes)
        assert orders == expected

    for i, final in enumerate(orders):
        assert await repo.get(final.id) == final  # the row as read back, not only as returned
        assert [e.status for e in final.status_history] == [S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED]
        assert final.dex_used == ("raydium" if i % 2 else "meteora")  # set at routing, kept by the later steps
        assert (final.tx_hash, final.amount_out, final.attempts) == (f"sig-{i}", D(f"{i}.5"), 2)


async def test_two_step_changes_share_a_statement_with_one_step_ones(repo):
    """A market order's route and build are one change of two entries (`StatusChange.then`); in a batch with
    single-step changes each row gets exactly its own entries, and a stale two-step change loses alone."""
    a, b, c = [await repo.add(pending()) for _ in range(3)]
    now = datetime.now(UTC)
    routed_c = await repo.apply(c.change(T.RETRY, now, attempt=1))  # c moved on: a change from its seq 1 is stale
    two = a.change(T.ROUTE, now, attempt=1, payload=ROUTED, dex_used="meteora").then(T.BUILD, now, payload=BUILT)
    one = b.change(T.ROUTE, now, attempt=1, payload=ROUTED, dex_used="raydium")
    stale = c.change(T.ROUTE, now, attempt=1, dex_used="raydium").then(T.BUILD, now)

    outcomes = await repo.apply_each([two, one, stale])

    assert outcomes[:2] == [a.applied(two), b.applied(one)]
    assert isinstance(outcomes[2], StaleTransition)
    stored_a = await repo.get(a.id)
    assert [e.status for e in stored_a.status_history] == [S.PENDING, S.ROUTING, S.BUILDING]
    assert (stored_a.status, stored_a.seq, stored_a.dex_used) == (S.BUILDING, 3, "meteora")
    assert stored_a.status_history[1].payload == ROUTED and stored_a.status_history[2].payload == BUILT
    assert [e.status for e in (await repo.get(b.id)).status_history] == [S.PENDING, S.ROUTING]
    assert await repo.get(c.id) == routed_c  # untouched by the stale change


async def test_a_stale_change_in_a_batch_loses_alone(repo):
    a, b, c = [await repo.add(pending()) for _ in range(3)]
    now = datetime.now(UTC)
    routed_b = await repo.apply(b.change(T.ROUTE, now, attempt=1, dex_used="raydium"))
    stale = b.change(T.FAIL, now, attempt=1, failure_reason="late")  # built from b's seq 1: b is at 2

    outcomes = await repo.apply_each(
        [a.change(T.ROUTE, now, attempt=1, dex_used="meteora"), stale, c.change(T.ROUTE, now, attempt=1)]
    )

    assert isinstance(outcomes[1], StaleTransition) and outcomes[1].order_id == b.id
    assert [o.status for o in (outcomes[0], outcomes[2])] == [S.ROUTING, S.ROUTING]
    assert outcomes[0].dex_used == "meteora" and outcomes[2].dex_used is None
    assert await repo.get(b.id) == routed_b  # untouched: no failure reason, still at seq 2
    assert await repo.apply_many([stale]) == []


async def test_two_changes_of_one_order_in_a_batch_first_wins_second_is_stale(repo):
    order = await repo.add(pending())
    routed = await repo.apply(order.change(T.ROUTE, datetime.now(UTC), attempt=1))
    now = datetime.now(UTC)
    first = routed.change(T.RETRY, now, attempt=2, payload=Retry(2, 3, "by first", "building", 1.0))
    second = routed.change(T.RETRY, now, attempt=2, payload=Retry(2, 3, "by second", "building", 1.0))

    outcomes = await repo.apply_each([first, second])

    assert isinstance(outcomes[0], Order) and isinstance(outcomes[1], StaleTransition)
    final = await repo.get(order.id)
    assert final == outcomes[0] and final.seq == 3
    assert final.status_history[-1].payload.error == "by first"


async def test_concurrent_changes_share_statements_and_each_applies_once(pool, repo):
    group = GroupCommitRepository(repo)
    orders = [await repo.add(pending()) for _ in range(30)]
    now = datetime.now(UTC)

    routed = await asyncio.gather(*(group.apply(o.change(T.ROUTE, now, attempt=1, dex_used="raydium")) for o in orders))

    assert [o.id for o in routed] == [o.id for o in orders]  # each caller gets its own order back
    assert all(o.status is S.ROUTING and o.seq == 2 and o.dex_used == "raydium" for o in routed)
    assert group.changes == 30 and group.statements < 30  # grouped: the first alone, the rest together
    assert group.statements <= 3, group.statements
    for o in routed:
        assert await repo.get(o.id) == o


async def test_grouped_racing_duplicates_of_one_change_exactly_one_wins(repo):
    group = GroupCommitRepository(repo)
    order = await repo.add(pending())
    change = order.change(T.ROUTE, datetime.now(UTC), attempt=1, dex_used="meteora")

    results = await asyncio.gather(*(group.apply(change) for _ in range(20)), return_exceptions=True)

    wins = [r for r in results if isinstance(r, Order)]
    assert (len(wins), sum(isinstance(r, StaleTransition) for r in results)) == (1, 19), results
    final = await repo.get(order.id)
    assert final == wins[0] and final.seq == 2


async def test_a_change_that_clears_a_column_goes_alone(repo):
    group = GroupCommitRepository(repo)
    order = await repo.add(pending(key=f"k-{datetime.now(UTC).timestamp()}"))
    change = order.change(T.FAIL, datetime.now(UTC), attempt=0, failure_reason="not queued", idempotency_key=None)

    failed = await group.apply(change)

    assert failed.status is S.FAILED and failed.idempotency_key is None
    assert (await repo.get(order.id)).idempotency_key is None
    assert group.statements == 0  # through the wrapped repository's own apply


async def test_a_deadlocked_batch_is_applied_change_by_change(pool, repo):
    """Another transaction holds b and then wants a, which the batch locked first: PostgreSQL rolls the batch
    back whole; each of its changes then goes alone, and all apply once the other transaction commits."""
    group = GroupCommitRepository(repo)
    first, a, b = [await repo.add(pending()) for _ in range(3)]
    now = datetime.now(UTC)
    async with pool.acquire() as other:
        tx = other.transaction()
        await tx.start()
        await other.execute("SELECT 1 FROM orders WHERE id = $1 FOR UPDATE", b.id)
        applying = asyncio.gather(*(group.apply(o.change(T.ROUTE, now, attempt=1)) for o in (first, a, b)))
        await asyncio.sleep(0.3)  # `first` alone, then [a, b]: a locked, b waited for
        await other.execute("UPDATE orders SET updated_at = updated_at WHERE id = $1", a.id)  # closes the cycle
        await tx.commit()
        outcomes = await asyncio.wait_for(applying, 10)

    assert [o.status for o in outcomes] == [S.ROUTING] * 3
    assert group.fallbacks == 1
    assert [(await repo.get(o.id)).seq for o in (first, a, b)] == [2, 2, 2]


@pytest.mark.parametrize("column", ["dex_used", "tx_hash"])
async def test_apply_each_refuses_a_change_clearing_a_column(repo, column):
    order = await repo.add(pending())
    with pytest.raises(ValueError, match="cleared"):
        await repo.apply_each([order.change(T.ROUTE, datetime.now(UTC), attempt=1, **{column: None})])


async def test_concurrent_reads_share_statements_and_see_every_earlier_commit(repo):
    group = GroupCommitRepository(repo)
    orders = [await repo.add(pending()) for _ in range(20)]
    routed = await group.apply(orders[5].change(T.ROUTE, datetime.now(UTC), attempt=1, dex_used="raydium"))
    missing = pending()  # never added

    read = await asyncio.gather(*(group.get(o.id) for o in [*orders, missing, orders[3]]))

    assert read[:20] == [routed if o.id == routed.id else o for o in orders]
    assert read[20] is None and read[21] == orders[3]  # unknown: None; asked twice: both callers answered
    assert group.reads <= 3, group.reads  # the first alone, the rest together


def _kinds(i: int) -> Order:
    """A market, a limit (two entries, its terms) or a sniper order (trigger and safety in their JSONB columns)."""
    now = datetime.now(UTC)
    base = pending(f"{i + 1}.5")
    if i % 3 == 1:
        rested = Rested(arm=1, limit_price=D("150.5"), best_effective_price=D("149.9"))
        limit = attrs.evolve(base, order_type=OrderType.LIMIT, limit_price=D("150.5"), time_in_force=TimeInForce.GTC)
        return limit.applied(limit.change(T.REST, now, attempt=0, payload=rested, arm=1))
    if i % 3 == 2:
        trigger = SniperTrigger(venue="raydium", min_liquidity=D("10.25"))
        return attrs.evolve(
            base, order_type=OrderType.SNIPER, trigger=trigger, safety=Safety(True, False), expires_at=now
        )
    return base


async def test_orders_added_together_share_one_insert_and_read_back_exactly(repo):
    grouped = GroupCommitRepository(repo)
    orders = [_kinds(i) for i in range(9)]
    added = await asyncio.gather(*(grouped.add(o) for o in orders))
    assert added == orders
    assert grouped.inserts == 1  # all made in one turn of the loop: one INSERT of nine rows
    for order in orders:
        assert await repo.get(order.id) == order  # every column, the JSONB history, trigger and safety included


async def test_a_row_the_table_refuses_fails_alone_in_its_batch(repo):
    grouped = GroupCommitRepository(repo)
    taken = await repo.add(pending())
    clash = attrs.evolve(pending(), id=taken.id)  # the same primary key
    fine = [pending() for _ in range(3)]
    first, *rest = await asyncio.gather(
        grouped.add(pending()), *(grouped.add(o) for o in [fine[0], clash, *fine[1:]]), return_exceptions=True
    )
    assert isinstance(first, Order)
    assert isinstance(rest[1], asyncpg.UniqueViolationError)
    assert [rest[0], *rest[2:]] == fine
    for order in fine:
        assert await repo.get(order.id) == order
    assert (await repo.get(taken.id)) == taken  # untouched
