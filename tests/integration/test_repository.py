"""SqlOrderRepository against a real PostgreSQL: round trips, guarded transitions, races, paging, schema."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import asyncpg
import attrs
import pytest
from sqlalchemy import text

import order_engine.adapters.sql
from order_engine.adapters.sql.database import migrate
from order_engine.domain.errors import StaleTransition
from order_engine.domain.order import Order, StatusEntry
from order_engine.domain.payloads import Built, Confirmed, Retry, Routed, Submitted
from order_engine.domain.quotes import Quote
from order_engine.domain.requests import OrderRequest, new_order
from order_engine.domain.status import OrderStatus as S
from order_engine.domain.status import OrderType
from order_engine.domain.status import Step as T

MAX_UUID = uuid.UUID(int=2**128 - 1)


ROUTED = Routed(
    quotes=(Quote("raydium", D("150.1"), D("0.003"), D("0.000000001"), D("0.000000149")),),
    unavailable={"meteora": "meteora: quote request timed out"},
    chosen="raydium",
    reason="raydium was the only venue that quoted (ünï)",
    quote_ms=3,
    attempt_started_at=datetime(2025, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
)
BUILT = Built("raydium", D("150.1"), D("0.000000149"), D("0.000000148"), 50, True, False, "4vJ9", 2)


def pending(amount: str = "1.5", *, at: datetime | None = None, key: str | None = None) -> Order:
    request = OrderRequest("SOL", "USDC", D(amount), idempotency_key=key)
    return new_order(request, uuid.uuid4(), at or datetime.now(UTC))


def past_window() -> datetime:
    """A random instant in 2001-2020: far from `now()`, so only this test's orders live near it."""
    start = datetime(2001, 1, 1, tzinfo=UTC)
    return start + timedelta(seconds=random.randrange(20 * 365 * 86400), microseconds=random.randrange(10**6))


# --- round trip ------------------------------------------------------------------------------------


async def test_add_then_get_round_trips_every_field_exactly(repo):
    t0 = datetime.now(UTC)
    order = Order(
        id=uuid.uuid4(),
        order_type=pending().order_type,
        token_in="SOL",
        token_out="USDC",
        amount_in=D("0.000000001"),
        slippage_bps=137,
        status=S.SUBMITTED,
        status_history=(
            StatusEntry(S.PENDING, t0),
            StatusEntry(S.ROUTING, t0 + timedelta(microseconds=1), ROUTED),
            StatusEntry(S.BUILDING, t0 + timedelta(milliseconds=5), BUILT),
            StatusEntry(S.SUBMITTED, t0 + timedelta(seconds=1), Submitted("5abc", found_on_chain=True)),
        ),
        created_at=t0,
        updated_at=t0 + timedelta(seconds=1),
        attempts=2,
        dex_used="meteora",
        executed_price=D("123456789.123456"),
        amount_out=D("0.000001"),
        tx_hash="5abc",
        failure_reason=None,
        idempotency_key=f"rt-{uuid.uuid4()}",
    )

    added = await repo.add(order)
    fetched = await repo.get(order.id)

    assert added == order
    assert fetched == order
    assert str(fetched.amount_in) == str(D("0.000000001")) and fetched.amount_in.as_tuple() == (0, (1,), -9)
    assert fetched.executed_price.as_tuple() == D("123456789.123456").as_tuple()
    assert [e.timestamp for e in fetched.status_history] == [e.timestamp for e in order.status_history]
    assert fetched.status_history[1].payload == ROUTED and fetched.status_history[2].payload == BUILT
    assert fetched.status_history[2].payload.min_amount_out.as_tuple() == D("0.000000148").as_tuple()
    assert fetched.status_history[3].payload == Submitted("5abc", found_on_chain=True)
    assert fetched.seq == 4


async def test_get_unknown_order_is_none(repo):
    assert await repo.get(uuid.uuid4()) is None


# --- guarded transitions ---------------------------------------------------------------------------


async def test_apply_walks_all_five_statuses_and_stores_results(repo):
    order = await repo.add(pending("2.5"))
    t = order.created_at
    confirmed = Confirmed("sig-1", D("150.123456789"), D("374.182912"), slot=7, execution_ms=2100)
    steps = [
        (T.ROUTE, 1, ROUTED, {"dex_used": "raydium"}),
        (T.BUILD, 1, BUILT, {}),
        (T.SUBMIT, 2, Submitted("sig-1"), {"tx_hash": "sig-1"}),
        (T.CONFIRM, 2, confirmed, {"executed_price": D("150.123456789"), "amount_out": D("374.182912")}),
    ]
    current, expected = order, order
    for i, (trigger, attempt, payload, updates) in enumerate(steps, start=1):
        change = current.change(trigger, t + timedelta(seconds=i), attempt=attempt, payload=payload, **updates)
        expected = expected.applied(change)
        current = await repo.apply(change)
        assert current == expected
        assert current.seq == i + 1

    assert [e.status for e in current.status_history] == [S.PENDING, S.ROUTING, S.BUILDING, S.SUBMITTED, S.CONFIRMED]
    assert (current.dex_used, current.tx_hash) == ("raydium", "sig-1")
    assert current.executed_price == D("150.123456789") and current.amount_out == D("374.182912")
    assert current.attempts == 2
    assert current.updated_at == t + timedelta(seconds=4)
    assert current.status_history[3].payload == Submitted("sig-1") and current.status_history[4].payload == confirmed
    assert await repo.get(order.id) == current


async def test_apply_of_a_two_step_change_appends_both_entries_in_one_write(repo):
    order = await repo.add(pending())
    t = order.created_at
    change = order.change(T.ROUTE, t + timedelta(seconds=1), attempt=1, payload=ROUTED, dex_used="raydium").then(
        T.BUILD, t + timedelta(seconds=2), payload=BUILT
    )
    built = await repo.apply(change)
    assert built == order.applied(change)
    assert await repo.get(order.id) == built
    assert [e.status for e in built.status_history] == [S.PENDING, S.ROUTING, S.BUILDING]
    assert (built.seq, built.dex_used, built.updated_at) == (3, "raydium", t + timedelta(seconds=2))
    with pytest.raises(StaleTransition):  # again: the order is no longer pending at seq 1
        await repo.apply(change)


async def test_stale_change_raises_and_leaves_row_untouched(repo):
    order = await repo.add(pending())
    routed = await repo.apply(order.change(T.ROUTE, datetime.now(UTC), attempt=1, dex_used="raydium"))
    before = await repo.get(order.id)

    stale = order.change(T.FAIL, datetime.now(UTC), attempt=1, failure_reason="late")  # built from seq 1
    with pytest.raises(StaleTransition):
        await repo.apply(stale)
    wrong_status = attrs.evolve(routed.change(T.BUILD, datetime.now(UTC), attempt=1), expected_status=S.BUILDING)
    with pytest.raises(StaleTransition):
        await repo.apply(wrong_status)

    after = await repo.get(order.id)
    assert after == before == routed
    assert after.failure_reason is None and after.seq == 2


async def test_twenty_concurrent_identical_changes_exactly_one_wins(repo):
    order = await repo.add(pending())
    change = order.change(T.ROUTE, datetime.now(UTC), attempt=1, dex_used="meteora")

    results = await asyncio.gather(*(repo.apply(change) for _ in range(20)), return_exceptions=True)

    wins = [r for r in results if isinstance(r, Order)]
    stale = [r for r in results if isinstance(r, StaleTransition)]
    assert (len(wins), len(stale)) == (1, 19), results
    final = await repo.get(order.id)
    assert final == wins[0]
    assert len(final.status_history) == len(order.status_history) + 1
    assert final.status is S.ROUTING and final.dex_used == "meteora"


async def test_retry_self_transition_is_guarded_by_seq(repo):
    order = await repo.add(pending())
    routed = await repo.apply(order.change(T.ROUTE, datetime.now(UTC), attempt=1))
    now = datetime.now(UTC)
    a = routed.change(T.RETRY, now, attempt=2, payload=Retry(2, 3, "by a", "building", 1.0))
    b = routed.change(T.RETRY, now, attempt=2, payload=Retry(2, 3, "by b", "building", 1.0))
    assert (a.expected_status, a.expected_seq) == (b.expected_status, b.expected_seq) == (S.ROUTING, 2)

    results = await asyncio.gather(repo.apply(a), repo.apply(b), return_exceptions=True)

    wins = [r for r in results if isinstance(r, Order)]
    assert len(wins) == 1 and sum(isinstance(r, StaleTransition) for r in results) == 1, results
    final = await repo.get(order.id)
    assert [e.status for e in final.status_history] == [S.PENDING, S.ROUTING, S.ROUTING]
    assert final.status_history[-1].payload.error in ("by a", "by b")
    assert final.attempts == 2

    with pytest.raises(StaleTransition):  # replaying a retry from the old snapshot
        await repo.apply(routed.change(T.RETRY, now, attempt=3))
    again = await repo.apply(final.change(T.RETRY, now, attempt=3))
    assert again.seq == 4 and again.attempts == 3


# --- listing -----------------------------------------------------------------------------------------


def _key(o: Order) -> tuple[datetime, uuid.UUID]:
    return (o.created_at, o.id)


async def test_list_is_newest_first_and_filters_by_status(repo):
    base = past_window()
    mine = []
    for i, status in enumerate([S.PENDING, S.FAILED, S.CONFIRMED, S.FAILED, S.PENDING, S.FAILED]):
        order = attrs.evolve(pending(at=base + timedelta(seconds=i)), status=status)
        mine.append(await repo.add(order))
    cursor = (base + timedelta(seconds=len(mine)), MAX_UUID)

    page = await repo.list(status=None, limit=len(mine), before=cursor)
    assert [o.id for o in page] == [o.id for o in reversed(mine)]

    failed = await repo.list(status=S.FAILED, limit=3, before=cursor)
    assert [o.id for o in failed] == [mine[5].id, mine[3].id, mine[1].id]
    assert all(o.status is S.FAILED for o in failed)

    everything = await repo.list(status=None, limit=10_000, before=None)
    assert [_key(o) for o in everything] == sorted((_key(o) for o in everything), reverse=True)
    assert {o.id for o in mine} <= {o.id for o in everything}


async def test_cursor_paging_covers_every_order_exactly_once(repo):
    base = past_window()
    mine = set()
    for i in range(23):  # groups of 3 share a created_at: the id breaks the tie
        order = await repo.add(pending(at=base + timedelta(milliseconds=i // 3)))
        mine.add(order.id)

    seen: list[Order] = []
    cursor = None
    pages = 0
    while True:
        page = await repo.list(status=None, limit=4, before=cursor)
        assert len(page) <= 4
        if not page:
            break
        seen.extend(page)
        cursor = _key(page[-1])
        pages += 1
        assert pages < 10_000

    ids = [o.id for o in seen]
    assert len(ids) == len(set(ids)), "an order appeared on two pages"
    assert mine <= set(ids)
    assert [_key(o) for o in seen] == sorted((_key(o) for o in seen), reverse=True)
    everything = await repo.list(status=None, limit=100_000, before=None)
    assert set(ids) == {o.id for o in everything}


# --- schema ------------------------------------------------------------------------------------------

MIGRATIONS = Path(order_engine.adapters.sql.__file__).parent / "migrations" / "versions"
# The newest revision (revisions are numbered, each revising the one before).
HEAD_REVISION = max(p.stem for p in MIGRATIONS.glob("[0-9]*.py"))


async def test_migration_is_idempotent_and_keeps_data(migrated_url, engine, repo):
    order = await repo.add(pending())
    await asyncio.to_thread(migrate, migrated_url)  # a worker thread: Alembic's env.py calls asyncio.run
    await asyncio.to_thread(migrate, migrated_url)

    async with engine.connect() as conn:
        versions = (await conn.execute(text("select version_num from alembic_version"))).scalars().all()
        indexes = (
            (await conn.execute(text("select indexdef from pg_indexes where tablename = 'orders'"))).scalars().all()
        )
    assert versions == [HEAD_REVISION]
    assert any("UNIQUE" in d and "(idempotency_key)" in d for d in indexes), indexes
    assert any("(token_in, token_out) WHERE" in d and "'waiting'" in d for d in indexes), indexes
    assert any("(created_at, id)" in d for d in indexes), indexes
    assert await repo.get(order.id) == order


async def test_duplicate_idempotency_key_is_rejected(repo):
    key = f"idem-{uuid.uuid4()}"
    first = await repo.add(pending(key=key))
    with pytest.raises(asyncpg.UniqueViolationError):
        await repo.add(pending(key=key))
    assert await repo.get(first.id) == first
    # NULL keys never collide
    a, b = await repo.add(pending()), await repo.add(pending())
    assert a.idempotency_key is None and b.idempotency_key is None


async def test_latest_seqs_reads_many_orders_in_one_statement(repo):
    a, b = await repo.add(pending()), await repo.add(pending())
    routed = await repo.apply(b.change(T.ROUTE, datetime.now(UTC), attempt=1, dex_used="raydium"))
    missing = uuid.uuid4()
    assert await repo.latest_seqs([a.id, b.id, missing]) == {a.id: 1, b.id: 2}
    assert routed.seq == 2
    assert await repo.latest_seqs([]) == {}


async def test_list_stale_offers_only_what_a_job_drives(repo):
    """The recovery sweep's query: old job-driven orders, oldest first; never a resting or terminal one."""
    old = datetime.now(UTC) - timedelta(days=1)
    market = await repo.add(pending(at=old))
    limit = await repo.add(attrs.evolve(pending(at=old), order_type=OrderType.LIMIT))
    waiting = await repo.apply(limit.change(T.REST, old, attempt=0))
    limit2 = await repo.add(attrs.evolve(pending(at=old), order_type=OrderType.LIMIT))
    triggered = await repo.apply(
        (await repo.apply(limit2.change(T.REST, old, attempt=0))).change(T.TRIGGER, old, attempt=0)
    )
    cancelled = await repo.apply((await repo.add(pending(at=old))).change(T.CANCEL, old, attempt=0))

    stale = {o.id for o in await repo.list_stale(updated_before=datetime.now(UTC) - timedelta(hours=1), limit=10_000)}

    assert {market.id, triggered.id} <= stale
    assert not {waiting.id, cancelled.id} & stale
    assert (waiting.status, triggered.status, cancelled.status) == (S.WAITING, S.TRIGGERED, S.CANCELLED)


async def test_warm_up_opens_the_connections_before_load(migrated_url):
    from order_engine.adapters.sql.pool import create_pool, warm_up

    pool = await create_pool(migrated_url, max_size=4)
    try:
        assert pool.get_size() == 0  # lazy: a process starts while PostgreSQL is down
        assert await warm_up(pool, 4) == 4
        assert pool.get_size() == 4 and pool.get_idle_size() == 4
    finally:
        await pool.close()


async def test_warm_up_against_a_dead_server_opens_nothing_and_does_not_raise():
    from order_engine.adapters.sql.pool import create_pool, warm_up

    pool = await create_pool("postgresql://nobody@127.0.0.1:1/none", max_size=2)
    try:
        assert await warm_up(pool, 2) == 0
    finally:
        await pool.close()
