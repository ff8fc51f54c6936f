"""SaqOrderQueue on a real SAQ Redis queue: one job per order, keyed and configured as promised."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from saq import Queue

from order_engine.adapters.saq_queue import COMPLETED_TTL_S, EXECUTE_TASK, SaqOrderQueue

MAX_ATTEMPTS = 4
TIMEOUT_S = 37


@pytest.fixture
async def saq_queue(redis_url: str, key_prefix: str) -> AsyncIterator[Queue]:
    queue = Queue.from_url(redis_url, name=f"{key_prefix}-q-{uuid.uuid4().hex[:8]}")
    await queue.connect()
    yield queue
    await queue.disconnect()


@pytest.fixture
def order_queue(saq_queue: Queue) -> SaqOrderQueue:
    return SaqOrderQueue(saq_queue, max_attempts=MAX_ATTEMPTS, timeout_s=TIMEOUT_S)


async def test_enqueue_creates_one_job_keyed_by_order_id(saq_queue, order_queue, redis):
    order_id = uuid.uuid4()
    assert await saq_queue.count("queued") == 0

    await order_queue.enqueue(order_id)

    assert await saq_queue.count("queued") == 1
    job = await saq_queue.job(str(order_id))
    assert job is not None
    assert job.key == str(order_id)
    assert job.function == EXECUTE_TASK
    assert job.kwargs == {"order_id": str(order_id)}
    assert (job.retries, job.timeout, job.ttl) == (MAX_ATTEMPTS, TIMEOUT_S, COMPLETED_TTL_S)
    assert job.status.value == "queued"
    assert await redis.exists(saq_queue.job_id(str(order_id))) == 1


async def test_enqueue_twice_is_a_no_op(saq_queue, order_queue):
    order_id = uuid.uuid4()
    await order_queue.enqueue(order_id)
    first = await saq_queue.job(str(order_id))

    await order_queue.enqueue(order_id)
    await asyncio.gather(*(order_queue.enqueue(order_id) for _ in range(5)))

    assert await saq_queue.count("queued") == 1
    again = await saq_queue.job(str(order_id))
    assert again.queued == first.queued  # the original job, not a replacement
    assert await saq_queue.dequeue(timeout=1) is not None
    assert await saq_queue.dequeue(timeout=0.2) is None  # nothing else was queued


async def test_distinct_orders_get_distinct_jobs(saq_queue, order_queue):
    ids = [uuid.uuid4() for _ in range(3)]
    for order_id in ids:
        await order_queue.enqueue(order_id)

    assert await saq_queue.count("queued") == 3
    jobs = await saq_queue.jobs([str(i) for i in ids])
    assert [j.key for j in jobs] == [str(i) for i in ids]
