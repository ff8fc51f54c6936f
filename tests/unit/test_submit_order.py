import uuid
from decimal import Decimal as D

import pytest
from fakes import T0, FakeClock, FakeQueue, InMemoryOrderRepository

from order_engine.domain.errors import InvalidOrder, QueueUnavailable
from order_engine.domain.requests import OrderRequest
from order_engine.domain.status import OrderStatus
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
        (OrderRequest("SOL", "USDC", D("1"), order_type="limit"), "orderType"),
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
    assert order.status_history[-1].metadata["stage"] == "queueing"
    assert queue.enqueued == []
