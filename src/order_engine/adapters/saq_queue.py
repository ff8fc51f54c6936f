"""OrderQueue on SAQ: one job per order, keyed by the order id."""

from __future__ import annotations

import uuid

from saq import Queue

EXECUTE_TASK = "execute_order"
COMPLETED_TTL_S = 3600  # the seed's retention: completed jobs ~1 h ...
FAILED_TTL_S = 24 * 3600  # ... failed jobs ~24 h (set on the job when it fails for good)
HEARTBEAT_S = 4  # a job silent this long (its worker died) is swept and retried ...
KEEPALIVE_S = 1  # ... while a live job touches itself this often (three missed beats before a false alarm)


class SaqOrderQueue:
    def __init__(self, queue: Queue, *, max_attempts: int, timeout_s: int, retry_delay_s: float = 2.0) -> None:
        self._queue = queue
        self._max_attempts = max_attempts
        self._timeout_s = timeout_s
        self._retry_delay_s = retry_delay_s

    async def enqueue(self, order_id: uuid.UUID) -> bool:
        # SAQ ignores an enqueue whose key has an unfinished job: a second enqueue is a no-op.
        job = await self._queue.enqueue(
            EXECUTE_TASK,
            key=str(order_id),
            order_id=str(order_id),
            retries=self._max_attempts,
            timeout=self._timeout_s,
            ttl=COMPLETED_TTL_S,
            # For errors the use case does not classify (e.g. the database dropping mid-attempt);
            # its own transient errors set an exact delay on the job instead.
            retry_delay=self._retry_delay_s,
            retry_backoff=True,
            heartbeat=HEARTBEAT_S,
        )
        return job is not None
