import hashlib
import uuid
from datetime import timedelta
from decimal import Decimal as D

import pytest
from fakes import T0, FakeClock, FakeQueue, InMemoryOrderRepository

from order_engine.domain.errors import IdempotencyConflict, InvalidOrder, QueueUnavailable
from order_engine.domain.requests import OrderRequest, request_fingerprint
from order_engine.domain.status import OrderStatus
from order_engine.domain.status import Step as T
from order_engine.domain.use_cases import SubmitOrder

ORDER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def make(queue_error: BaseException | None = None):
    repo = InMemoryOrderRepository()
    queue = FakeQueue(repo=repo, error=queue_error)
    ids = iter([ORDER_ID, uuid.UUID("00000000-0000-4000-8000-000000000002")])
    submit = SubmitOrder(repo=repo, queue=queue, clock=FakeClock(), new_id=lambda: next(ids))
    return submit, repo, queue


async def test_valid_request_is_stored_pending_then_enqueued():
    submit, repo, queue = make()
    order = await submit(OrderRequest(token_in="sol", token_out="usdc", amount_in=D("2.5"), slippage_bps=100))

    assert order.id == ORDER_ID
    assert order.status is OrderStatus.PENDING and order.seq == 1
    assert (order.token_in, order.token_out, order.amount_in, order.slippage_bps) == ("SOL", "USDC", D("2.5"), 100)
    assert order.created_at == T0
    assert await repo.get(ORDER_ID) == order
    assert repo.added == [ORDER_ID]
    assert queue.enqueued == [ORDER_ID]
    assert queue.stored_at_enqueue == [True]  # the row existed before the job was queued


async def test_each_submission_gets_its_own_order():
    submit, repo, queue = make()
    first = await submit(OrderRequest("SOL", "USDC", D("1")))
    second = await submit(OrderRequest("SOL", "USDC", D("1")))
    assert first.id != second.id
    assert queue.enqueued == [first.id, second.id]
    assert len(repo.orders) == 2


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (OrderRequest("SOL", "DOGE", D("1")), "tokenOut"),
        (OrderRequest("SOL", "USDC", D("0")), "amountIn"),
        (OrderRequest("SOL", "USDC", D("1"), slippage_bps=9999), "slippageBps"),
        (OrderRequest("SOL", "USDC", D("1"), order_type="limit"), "limitPrice"),
        (OrderRequest("SOL", "USDC", D("1"), order_type="sniper"), "orderType"),
    ],
)
async def test_invalid_request_writes_and_enqueues_nothing(request_, field):
    submit, repo, queue = make()
    with pytest.raises(InvalidOrder) as info:
        await submit(request_)
    assert info.value.field == field
    assert repo.orders == {} and repo.added == []
    assert queue.enqueued == []


async def test_failed_add_enqueues_nothing():
    submit, repo, queue = make()
    submit.new_id = lambda: ORDER_ID
    await submit(OrderRequest("SOL", "USDC", D("1")))
    with pytest.raises(ValueError, match="already exists"):
        await submit(OrderRequest("SOL", "USDC", D("2")))
    assert queue.enqueued == [ORDER_ID]
    assert (await repo.get(ORDER_ID)).amount_in == D("1")


async def test_enqueue_failure_closes_the_stored_order_and_rejects():
    submit, repo, queue = make(queue_error=ConnectionError("redis down"))
    with pytest.raises(QueueUnavailable) as raised:
        await submit(OrderRequest("SOL", "USDC", D("1")))
    assert isinstance(raised.value.cause, ConnectionError) and raised.value.order_id == ORDER_ID
    order = await repo.get(ORDER_ID)
    assert order.status is OrderStatus.FAILED and order.seq == 2
    assert order.failure_reason == "not accepted: queue unavailable"
    assert order.status_history[-1].payload.stage == "queueing"
    assert queue.enqueued == []


# --- Idempotency-Key ---------------------------------------------------------------------------------

KEY = "client-key-1"


def keyed(amount: str = "1.5", key: str | None = KEY, **kw) -> OrderRequest:
    return OrderRequest("SOL", "USDC", D(amount), idempotency_key=key, **kw)


def make_many(queue_error: BaseException | None = None):
    repo = InMemoryOrderRepository()
    queue = FakeQueue(repo=repo, error=queue_error)
    clock = FakeClock()
    submit = SubmitOrder(repo=repo, queue=queue, clock=clock)
    return submit, repo, queue, clock


async def test_replay_returns_the_same_order_without_a_second_add_or_enqueue():
    submit, repo, queue, _ = make_many()
    first = await submit.accept(keyed("1.5"))
    # the same validated request, spelled differently: lower-case symbols, trailing zero, explicit defaults
    again = OrderRequest("sol", "usdc", D("1.50"), order_type="market", slippage_bps=50, idempotency_key=KEY)
    replay = await submit.accept(again)

    assert first.created is True and replay.created is False
    assert replay.order == first.order
    assert first.order.idempotency_key == KEY and first.order.request_fingerprint
    assert repo.added == [first.order.id] and len(repo.orders) == 1
    assert queue.enqueued == [first.order.id]


async def test_replay_of_an_order_that_moved_on_returns_it_as_it_is_now():
    submit, repo, queue, clock = make_many()
    first = await submit(keyed())
    routed = await repo.apply(first.change(T.ROUTE, clock.now(), attempt=1))
    replay = await submit.accept(keyed())
    assert replay.created is False and replay.order == routed
    assert replay.order.status_history[0].status is OrderStatus.PENDING  # what the HTTP answer reports
    assert queue.enqueued == [first.id]


@pytest.mark.parametrize(
    "other",
    [
        keyed("2"),
        keyed(slippage_bps=51),
        OrderRequest("SOL", "USDT", D("1.5"), idempotency_key=KEY),
        OrderRequest("USDC", "SOL", D("1.5"), idempotency_key=KEY),
        OrderRequest("WSOL", "USDC", D("1.5"), idempotency_key=KEY),
    ],
    ids=["amount", "slippage", "tokenOut", "swapped sides", "WSOL for SOL"],
)
async def test_same_key_with_a_different_request_conflicts_and_writes_nothing(other):
    submit, repo, queue, _ = make_many()
    first = await submit(keyed())
    with pytest.raises(IdempotencyConflict) as info:
        await submit(other)
    assert isinstance(info.value, InvalidOrder) and info.value.field == "idempotencyKey"
    assert info.value.key == KEY and KEY in str(info.value)
    assert list(repo.orders) == [first.id] and queue.enqueued == [first.id]
    assert (await repo.get(first.id)) == first


async def test_identical_requests_without_a_key_are_two_orders():
    submit, repo, queue, _ = make_many()
    a = await submit.accept(keyed(key=None))
    b = await submit.accept(keyed(key=None))
    assert a.created and b.created and a.order.id != b.order.id
    assert queue.enqueued == [a.order.id, b.order.id] and len(repo.orders) == 2


async def test_different_keys_are_different_orders():
    submit, repo, queue, _ = make_many()
    a = await submit(keyed(key="a"))
    b = await submit(keyed(key="b"))
    assert a.id != b.id and queue.enqueued == [a.id, b.id]


async def test_a_key_expires_after_24_hours_and_can_then_make_a_new_order():
    submit, repo, queue, clock = make_many()
    first = await submit(keyed("1"))
    clock.current = first.created_at + timedelta(hours=24) - timedelta(milliseconds=1)
    assert (await submit.accept(keyed("1"))).created is False  # still live: a replay ...
    with pytest.raises(IdempotencyConflict):  # ... or a conflict
        await submit(keyed("2"))

    clock.current = first.created_at + timedelta(hours=24, milliseconds=1)
    second = await submit.accept(keyed("2"))  # expired: any request may use it, once
    assert second.created is True and second.order.id != first.id
    assert second.order.idempotency_key == KEY
    assert (await repo.get(first.id)).idempotency_key is None  # the old order gave the key up
    assert queue.enqueued == [first.id, second.order.id]
    assert (await submit.accept(keyed("2"))).order.id == second.order.id


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_key_outside_1_to_255_characters_is_invalid(key):
    submit, repo, queue, _ = make_many()
    with pytest.raises(InvalidOrder) as info:
        await submit(keyed(key=key))
    assert info.value.field == "idempotencyKey"
    assert repo.orders == {} and queue.enqueued == []


async def test_key_of_255_characters_is_fine():
    submit, _, queue, _ = make_many()
    order = await submit(keyed(key="k" * 255))
    assert order.idempotency_key == "k" * 255 and queue.enqueued == [order.id]


async def test_unqueued_order_releases_its_key_so_the_retry_makes_a_new_order():
    submit, repo, queue, _ = make_many(queue_error=ConnectionError("redis down"))
    with pytest.raises(QueueUnavailable) as raised:
        await submit(keyed())
    closed = await repo.get(raised.value.order_id)
    assert closed.status is OrderStatus.FAILED and closed.idempotency_key is None

    queue.error = None  # Redis is back; the client retries with the same key
    retry = await submit.accept(keyed())
    assert retry.created is True and retry.order.id != closed.id
    assert retry.order.idempotency_key == KEY and queue.enqueued == [retry.order.id]


def test_fingerprint_is_the_meaning_of_the_request_not_its_spelling():
    base = request_fingerprint("SOL", "USDC", D("1.5"), "market", 50)
    assert base == request_fingerprint("sol", "usdc", D("1.500"), "market", 50)
    assert (
        base
        == hashlib.sha256(
            b'{"amountIn":"1.5","orderType":"market","slippageBps":50,"tokenIn":"SOL","tokenOut":"USDC"}'
        ).hexdigest()
    )
    assert request_fingerprint("SOL", "USDC", D("100"), "market", 50) == request_fingerprint(
        "SOL", "USDC", D("1E+2"), "market", 50
    )
    others = {
        request_fingerprint("SOL", "USDC", D("1.5000001"), "market", 50),
        request_fingerprint("SOL", "USDT", D("1.5"), "market", 50),
        request_fingerprint("USDC", "SOL", D("1.5"), "market", 50),
        request_fingerprint("SOL", "USDC", D("1.5"), "limit", 50),
        request_fingerprint("SOL", "USDC", D("1.5"), "market", 49),
    }
    assert base not in others and len(others) == 5
