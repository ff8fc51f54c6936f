"""OrderQueue on SAQ: one job per order, keyed by the order id."""

from __future__ import annotations

import uuid

from saq import Queue

EXECUTE_TASK = "execute_order"
COMPLETED_TTL_S = 3600  # the seed's retention: completed jobs ~1 h ...
FAILED_TTL_S = 24 * 3600  # ... failed jobs ~24 h (set on the job when it fails for good)
HEARTBEAT_S = 4  # a job silent this long (its worker died) is swept and retried ...
KEEPALIVE_S = 1  # ... while a live job touches itself this often (three missed beats before a false alarm)


def job_key(order_id: uuid.UUID, arm: int | None = None) -> str:
    """A market order's job key is its id; a resting order's is id:arm."""
    return str(order_id) if arm is None else f"{order_id}:{arm}"


class SaqOrderQueue:
    def __init__(self, queue: Queue, *, max_attempts: int, timeout_s: int, retry_delay_s: float = 2.0) -> None:
        self._queue = queue
        self._max_attempts = max_attempts
        self._timeout_s = timeout_s
        self._retry_delay_s = retry_delay_s

    async def enqueue(self, order_id: uuid.UUID, *, arm: int | None = None) -> bool:
        # SAQ ignores an enqueue whose key has an unfinished job: a second enqueue is a no-op. A resting order's
        # key names its arm, so a re-trigger is never swallowed by the previous arm's job still being held.
        job = await self._queue.enqueue(
            EXECUTE_TASK,
            key=job_key(order_id, arm),
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
