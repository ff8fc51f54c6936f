"""SAQ enqueues made together in one script call, on an API's queues.

SAQ enqueues a job with one script call of its own (its record SET, the job added to the incomplete set and, due
now, pushed on the queued list, unless a job of that key is unfinished or being aborted): a round trip per
accepted order, and the largest part of what a POST costs the API after the HTTP layer (BENCHMARKS.md). Here the
enqueues made while one is in flight go together, through `adapters/batching.py`'s KeyedBatcher as the status
writes do: one script call does, job after job in the order they were made, exactly what SAQ's script does for
each, and answers each whether its job went in (a job whose key is taken is not enqueued, as with SAQ: the second
of two for one key in a call finds the first). Each caller returns once the call that carried its job has
returned, so an order's job is queued before its POST is answered, as before.

Only the Redis write is replaced: the job is built, stamped and passed through SAQ's `before_enqueue` hooks by
`Queue.enqueue` itself, and is logged as SAQ logs it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from order_engine.adapters.batching import KeyedBatcher

_SAQ_LOG = logging.getLogger("saq")

# KEYS: the incomplete set, the queued list, then each job's record key and abort key; ARGV: each job's record and
# due time. Per job, SAQ's own enqueue script; 1 for each job enqueued, 0 for each whose key was taken.
_ENQUEUE_MANY = """
local done = {}
for i = 1, #ARGV / 2 do
  local id, abort = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local scheduled = ARGV[2 * i]
  if not redis.call('ZSCORE', KEYS[1], id) and redis.call('EXISTS', abort) == 0 then
    redis.call('SET', id, ARGV[2 * i - 1])
    redis.call('ZADD', KEYS[1], scheduled, id)
    if scheduled == '0' then redis.call('RPUSH', KEYS[2], id) end
    done[i] = 1
  else
    done[i] = 0
  end
end
return done
"""


def grouped_enqueue(queue: Any) -> KeyedBatcher[Any, bool]:
    """On one SAQ RedisQueue: its enqueues grouped as above (returns the batcher, for the tests' counts)."""
    script = queue.redis.register_script(_ENQUEUE_MANY)

    async def send(_name: str, jobs: Sequence[Any]) -> list[bool]:
        keys = [queue._incomplete, queue._queued]  # noqa: SLF001 - SAQ's own key names
        args: list[Any] = []
        for job in jobs:
            keys += [job.id, job.abort_id]
            args += [queue.serialize(job), job.scheduled]
        async with queue._op_sem:  # noqa: SLF001 - SAQ's bound on concurrent Redis operations
            done = await script(keys=keys, args=args, client=queue.redis)
        return [bool(d) for d in done]

    batcher: KeyedBatcher[Any, bool] = KeyedBatcher(send)

    async def enqueue(job: Any) -> Any:
        if not await batcher.submit(queue.name, job):
            return None
        if _SAQ_LOG.isEnabledFor(logging.INFO):
            _SAQ_LOG.info("Enqueuing %s", job.info(_SAQ_LOG.isEnabledFor(logging.DEBUG)))
        return job

    queue._enqueue = enqueue  # noqa: SLF001 - the one step replaced (see the docstring)
    return batcher
