"""A lease in Redis: one holder at a time, lost by a holder that stops renewing it (a crash included).

SET NX PX takes it; renewing and releasing check the holder's token first (a script), so a process that lost
the lease while paused can never extend or drop the lease its successor now holds.
"""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLease:
    def __init__(self, redis: Redis, key: str, *, ttl_s: float) -> None:
        self._redis = redis
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.token = secrets.token_hex(8)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it (or renew it if this holder does)."""
        if await self._redis.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lease; False if this holder no longer has it."""
        return bool(await self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.token])

    async def holder(self) -> str | None:
        raw = await self._redis.get(self.key)
        return None if raw is None else raw.decode()
