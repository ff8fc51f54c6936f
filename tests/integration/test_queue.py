"""SaqOrderQueue on a real SAQ Redis queue: one job per order, keyed and configured as promised."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from saq import Queue

from order_engine.adapters.saq_enqueue import grouped_enqueue
from order_engine.adapters.saq_queue import COMPLETED_TTL_S, EXECUTE_TASK, SaqOrderQueue

MAX_ATTEMPTS = 4
TIMEOUT_S = 37


@pytest.fixture(params=["saq", "grouped"])
async def saq_queue(request: pytest.FixtureRequest, redis_url: str, key_prefix: str) -> AsyncIterator[Queue]:
    """Every test here on SAQ's own enqueue and on the API's grouped one (adapters/saq_enqueue.py)."""
    queue = Queue.from_url(redis_url, name=f"{key_prefix}-q-{uuid.uuid4().hex[:8]}")
    await queue.connect()
    if request.param == "grouped":
        grouped_enqueue(queue)
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


async def test_sweep_retries_every_job_of_a_dead_worker_at_once(saq_queue, order_queue):
    """Twenty jobs a killed worker held: one sweep retries them all in well under a second, listening to nothing."""
    from saq.job import Status
    from saq.utils import now

    from order_engine.app.worker.tuning import quick_sweeps

    ids = [uuid.uuid4() for _ in range(20)]
    for order_id in ids:
        await order_queue.enqueue(order_id)
    for _ in ids:  # what a worker does when it takes a job; then it dies and the heartbeats stop
        job = await saq_queue.dequeue(timeout=1)
        job.status, job.attempts = Status.ACTIVE, 1
        job.started = job.touched = now() - 10_000  # silent for 10 s: beyond its 4 s heartbeat
        await saq_queue.redis.set(job.id, saq_queue.serialize(job))
    quick_sweeps(saq_queue)

    loop = asyncio.get_running_loop()
    began = loop.time()
    swept = await saq_queue.sweep(lock=1)
    took = loop.time() - began

    assert sorted(swept) == sorted(saq_queue.job_id(str(i)) for i in ids)
    assert took < 1.0, f"sweeping 20 dead jobs took {took:.2f}s"
    jobs = await saq_queue.jobs([str(i) for i in ids])
    assert {j.status for j in jobs} == {Status.QUEUED} and {j.attempts for j in jobs} == {1}
    assert await saq_queue.count("incomplete") == 20  # retried after their backoff, none finished or dropped
    assert saq_queue._pubsub._daemon_task is None  # no job-event listener was started (and torn down) per job


@pytest.mark.parametrize("quiet", [False, True])
async def test_a_worker_queue_publishes_no_job_events_and_still_records_them(saq_queue, order_queue, redis, quiet):
    """With `no_job_events` a job's start and finish publish nothing on its channel (nobody listens), while its
    record (what the sweep and the web UI read) moves as before; without it SAQ publishes both."""
    from saq.job import Status

    from order_engine.app.worker.bookkeeping import no_job_events

    if quiet:
        no_job_events(saq_queue)
    order_id = uuid.uuid4()
    await order_queue.enqueue(order_id)
    job = await saq_queue.dequeue(timeout=1)
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(job.id)
        await pubsub.get_message(timeout=1)  # the subscribe confirmation
        await job.update(status=Status.ACTIVE)
        assert (await saq_queue.job(str(order_id))).status is Status.ACTIVE
        await job.finish(Status.COMPLETE, result="confirmed")
        heard = []
        while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3)) is not None:
            heard.append(message["data"])

    assert heard == ([] if quiet else [b"active", b"complete"])
    done = await saq_queue.job(str(order_id))
    assert (done.status, done.result) == (Status.COMPLETE, "confirmed")
    assert await saq_queue.count("active") == 0 and await saq_queue.count("incomplete") == 0


def _counting(queue: Queue) -> list[str]:
    """The Redis commands (scripts, and each pipeline's commands between MULTI and EXEC) `queue` sends, by name,
    from here on."""
    sent: list[str] = []
    real, real_pipeline = queue.redis.execute_command, queue.redis.pipeline

    async def counted(*args, **kwargs):
        sent.append(str(args[0]))
        return await real(*args, **kwargs)

    def pipeline(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        execute = pipe.execute

        async def counted_execute(*a, **k):
            sent.extend(["MULTI", *(str(c[0][0]) for c in pipe.command_stack), "EXEC"])
            return await execute(*a, **k)

        pipe.execute = counted_execute
        return pipe

    queue.redis.execute_command, queue.redis.pipeline = counted, pipeline
    return sent


async def test_grouped_dequeue_takes_jobs_in_order_into_the_active_list(saq_queue, order_queue):
    """Ten job slots asking at once for six queued jobs: one script takes all six for the first six slots;
    the jobs come out first in, first out, each in the active list (where the sweep looks for a dead worker's
    jobs) with its record; the four slots left without one wait in SAQ's blocking dequeue."""
    from order_engine.app.worker.bookkeeping import grouped_dequeue

    grouped_dequeue(saq_queue)
    ids = [uuid.uuid4() for _ in range(6)]
    for order_id in ids:
        await order_queue.enqueue(order_id)
    sent = _counting(saq_queue)

    taken = await asyncio.gather(*(saq_queue.dequeue(timeout=0.3) for _ in range(10)))

    jobs = [j for j in taken if j is not None]
    assert [j.key for j in jobs] == [str(i) for i in ids]
    assert [j.kwargs for j in jobs] == [{"order_id": str(i)} for i in ids]
    # One script (a first run also loads it: NOSCRIPT, SCRIPT LOAD, run again); the records came with the jobs.
    assert sent.count("EVALSHA") - sent.count("SCRIPT LOAD") == 1 and "GET" not in sent
    assert sent.count("BLMOVE") == 4  # the slots that found nothing left, waiting (and timing out)
    assert await saq_queue.count("queued") == 0 and await saq_queue.count("active") == 6
    late = uuid.uuid4()
    waiting = asyncio.create_task(saq_queue.dequeue(timeout=2))
    await asyncio.sleep(0.2)
    await order_queue.enqueue(late)
    assert (await asyncio.wait_for(waiting, 3)).key == str(late)  # a job queued during the wait is taken


async def test_grouped_records_mark_jobs_active_and_finish_them_together(saq_queue, order_queue):
    from saq.job import Status

    from order_engine.app.worker.bookkeeping import shared_round_trips

    shared_round_trips(saq_queue)
    ids = [uuid.uuid4() for _ in range(8)]
    for order_id in ids:
        await order_queue.enqueue(order_id)
    jobs = [await saq_queue.dequeue(timeout=1) for _ in ids]
    sent = _counting(saq_queue)

    await asyncio.gather(*(j.update(status=Status.ACTIVE) for j in jobs))
    assert {(await saq_queue.job(str(i))).status for i in ids} == {Status.ACTIVE}
    assert sent == ["MSET", *["GET"] * 8]  # marked active together: one MSET (then the eight reads above)

    sent.clear()
    await asyncio.gather(*(j.finish(Status.COMPLETE, result=f"done {j.key}") for j in jobs))

    assert sent.count("MULTI") == 1 and sent.count("EXEC") == 1  # finished together: one transaction
    assert sent.count("LREM") == sent.count("ZREM") == sent.count("SETEX") == 8 and "PUBLISH" not in sent
    done = [await saq_queue.job(str(i)) for i in ids]
    assert [(j.status, j.result) for j in done] == [(Status.COMPLETE, f"done {i}") for i in ids]
    assert await saq_queue.count("active") == 0 and await saq_queue.count("incomplete") == 0
    ttls = [await saq_queue.redis.ttl(saq_queue.job_id(str(i))) for i in ids]
    assert all(0 < t <= COMPLETED_TTL_S for t in ttls)  # kept for the web UI, then expired, as SAQ keeps them


async def test_each_order_type_has_one_lane_and_snipers_their_own(redis_url: str, key_prefix: str) -> None:
    """Snipers go to `{queue}-snipers` (with the attempt's own timeout: no start-rate wait), every other type to
    the main queue, whoever enqueues them."""
    from order_engine.adapters.saq_queue import sniper_lane
    from order_engine.domain.status import OrderType

    name = f"{key_prefix}-lanes-{uuid.uuid4().hex[:6]}"
    main, snipers = Queue.from_url(redis_url, name=name), Queue.from_url(redis_url, name=sniper_lane(name))
    await main.connect()
    await snipers.connect()
    lanes = SaqOrderQueue(main, max_attempts=3, timeout_s=180, snipers=snipers, sniper_timeout_s=60)
    ids = {t: uuid.uuid4() for t in OrderType}
    try:
        for order_type, order_id in ids.items():
            assert await lanes.enqueue(
                order_id, arm=None if order_type is OrderType.MARKET else 1, order_type=order_type
            )
        sniper_job = await snipers.job(f"{ids[OrderType.SNIPER]}:1")
        assert sniper_job is not None and sniper_job.timeout == 60
        assert await main.job(f"{ids[OrderType.SNIPER]}:1") is None
        assert await snipers.job(str(ids[OrderType.MARKET])) is None
        assert (await main.job(str(ids[OrderType.MARKET]))).timeout == 180
        assert await main.job(f"{ids[OrderType.LIMIT]}:1") is not None
    finally:
        await main.disconnect()
        await snipers.disconnect()


async def test_grouped_enqueues_made_together_share_one_call_in_order(redis_url: str, key_prefix: str) -> None:
    """Ten orders' jobs (one of them twice, one of a key already taken) in one script call: queued in the order
    they were made, each once; the repeats answered as SAQ answers them (nothing enqueued)."""
    queue = Queue.from_url(redis_url, name=f"{key_prefix}-grouped-{uuid.uuid4().hex[:6]}")
    await queue.connect()
    plain = SaqOrderQueue(queue, max_attempts=MAX_ATTEMPTS, timeout_s=TIMEOUT_S)
    taken = uuid.uuid4()
    try:
        assert await plain.enqueue(taken)  # SAQ's own enqueue, before the grouping
        calls = []
        sent = queue.redis.register_script

        def counting(script: str):  # type: ignore[no-untyped-def]
            inner = sent(script)

            async def call(**kwargs):  # type: ignore[no-untyped-def]
                calls.append(len(kwargs["keys"]))
                return await inner(**kwargs)

            return call

        queue.redis.register_script = counting  # type: ignore[method-assign]
        grouped_enqueue(queue)
        ids = [uuid.uuid4() for _ in range(10)]
        made = [*ids[:5], ids[2], taken, *ids[5:]]
        results = await asyncio.gather(*(plain.enqueue(i) for i in made))
        assert results == [True] * 5 + [False, False] + [True] * 5
        assert calls == [2 + 2 * len(made)]  # one call: two shared keys, two per job
        queued = [j.decode() for j in await queue.redis.lrange(queue._queued, 0, -1)]  # noqa: SLF001
        assert queued == [queue.job_id(str(i)) for i in [taken, *ids]]
        job = await queue.job(str(ids[7]))
        assert job is not None and job.status.value == "queued" and job.kwargs == {"order_id": str(ids[7])}
        assert (job.retries, job.timeout, job.ttl) == (MAX_ATTEMPTS, TIMEOUT_S, COMPLETED_TTL_S)
    finally:
        await queue.disconnect()
