"""SAQ's per-job Redis bookkeeping in fewer round trips, on a worker's queues.

SAQ spends, per job, a BLMOVE and a GET to take it, a SET (and a PUBLISH) to mark it active, and a MULTI/EXEC
(and a PUBLISH) to finish it: six round trips, about half of a worker's Redis traffic per order. Here:

- the PUBLISHes are skipped: SAQ sends them for callers listening to a job's channel (`Queue.apply`,
  `Job.refresh(until_complete=…)`), and nothing in order-engine does (clients follow orders on their own
  channels; the sweep does not wait, `tuning.quick_sweeps`; the web UI reads the job records);
- taking, marking active and finishing go through `adapters/batching.py`'s KeyedBatcher, as the status writes
  do: one made while none of its kind is in flight goes when the loop comes round; those made meanwhile by the
  worker's other job slots go together. Taking is one script (LMOVE from queued to active and the record, for as many jobs as
  slots ask; a slot that finds nothing waits in SAQ's own blocking dequeue), marking active one MSET, and
  finishing one MULTI/EXEC for all the jobs ready (each job's LREM, ZREM and SETEX as SAQ sends them, all applied
  together or not at all).

What the records say, and when, is SAQ's: a job is in the active list from the moment it is taken (the sweep
finds it there if the worker dies), its record says active before it runs, and finished only once it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from order_engine.adapters.batching import KeyedBatcher

# Take up to ARGV[1] jobs: each moved from the queued list to the active list, and its record ('' if it has none).
_TAKE = """
local records = {}
for i = 1, tonumber(ARGV[1]) do
  local job_id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not job_id then break end
  records[#records + 1] = redis.call('GET', job_id) or ''
end
return records
"""


def shared_round_trips(queue: Any) -> None:
    """All of the above, on one SAQ RedisQueue (a worker's; the API's enqueues are untouched)."""
    no_job_events(queue)
    grouped_dequeue(queue)
    grouped_records(queue)


def no_job_events(queue: Any) -> None:
    async def notify(_job: Any) -> None:
        return None

    queue.notify = notify


def grouped_dequeue(queue: Any) -> None:
    take = queue.redis.register_script(_TAKE)
    blocking = queue.dequeue

    async def send(_key: str, asks: Sequence[None]) -> list[bytes | None]:
        records = list(await take(keys=[queue._queued, queue._active], args=[len(asks)]))
        return records + [None] * (len(asks) - len(records))  # None: nothing left for this slot

    takes: KeyedBatcher[None, bytes | None] = KeyedBatcher(send, most=256)

    async def dequeue(timeout: float = 0.0, poll_interval: float = 0.0) -> Any:
        record = await takes.submit("", None)
        if record is None:
            return await blocking(timeout=timeout, poll_interval=poll_interval)
        return queue.deserialize(record or None)  # '' : taken, but its record is gone (SAQ's sweep drops it)

    queue.dequeue = dequeue


def grouped_records(queue: Any) -> None:
    plain_update = queue._update

    async def send_records(_key: str, records: Sequence[tuple[str, bytes]]) -> list[None]:
        if len(records) == 1:
            await queue.redis.set(*records[0])
        else:
            await queue.redis.mset(dict(records))  # a job named twice: its later record, as two SETs would leave it
        return [None] * len(records)

    async def send_finishes(_key: str, jobs: Sequence[tuple[str, int, bytes]]) -> list[None]:
        async with queue.redis.pipeline(transaction=True) as pipe:
            for job_id, ttl, record in jobs:
                pipe.lrem(queue._active, 1, job_id).zrem(queue._incomplete, job_id)
                if ttl > 0:
                    pipe.setex(job_id, ttl, record)
                elif ttl == 0:
                    pipe.set(job_id, record)
                else:
                    pipe.delete(job_id)
            await pipe.execute()
        return [None] * len(jobs)

    records: KeyedBatcher[tuple[str, bytes], None] = KeyedBatcher(send_records, most=256)
    finishes: KeyedBatcher[tuple[str, int, bytes], None] = KeyedBatcher(send_finishes, most=256)

    async def update(job: Any, status: Any = None, **kwargs: Any) -> None:
        if not status:  # a heartbeat: SAQ reads the stored status first, as it always has
            await plain_update(job, status, **kwargs)
            return
        job.status = status
        await records.submit("", (job.id, queue.serialize(job)))

    async def finish(job: Any, status: Any, *, result: Any = None, error: Any = None, **_: Any) -> None:
        await finishes.submit("", (job.id, job.ttl, queue.serialize(job)))

    queue._update = update
    queue._finish = finish
