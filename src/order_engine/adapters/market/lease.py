"""A leader lease in Redis: one process at a time holds it, and a dead holder's lease runs out by itself.

redis-py's Lock does the work: `SET key token NX PX ttl` with a random token to take it, a script that resets
the TTL only while the key still holds this token to renew it (`reacquire`), and one that deletes it only
then to release it. A holder that stops renewing (killed, paused, cut off) loses the lease `ttl_s` after
its last renewal, and the next process that asks takes it.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import LockError


class Lease:
    def __init__(self, redis: Redis, key: str, ttl_s: float) -> None:
        self.key = key
        self.ttl_s = ttl_s
        self._lock = redis.lock(key, timeout=ttl_s, blocking=False, thread_local=False)
        self._held = False

    @property
    def held(self) -> bool:
        """Whether the last `hold` succeeded (the lease may have run out since, if it was long ago)."""
        return self._held

    async def hold(self) -> bool:
        """Renew the lease if this process holds it, else try to take it; True while it is this process's."""
        if self._held:
            try:
                await self._lock.reacquire()
                return True
            except LockError:  # ran out (and maybe taken by another): try for a new one below
                self._held = False
        self._held = bool(await self._lock.acquire(blocking=False))
        return self._held

    async def release(self) -> None:
        """Give the lease up now (another process takes over at once instead of after the TTL)."""
        if not self._held:
            return
        self._held = False
        try:
            await self._lock.release()
        except LockError:  # already run out: nothing to give up
            pass
