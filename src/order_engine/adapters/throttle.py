"""A start-rate limit shared by every worker process, kept in Redis by the `limits` library."""

from __future__ import annotations

import asyncio
import time

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

IDENTIFIER = "order-starts"


class RedisStartThrottle:
    """At most `limit` order attempts start in any `window_s`-second window, across all workers.

    A moving window: no burst of 2×limit across a fixed-window boundary.
    """

    def __init__(self, redis_url: str, *, limit: int, window_s: int, prefix: str) -> None:
        storage = RedisStorage(f"async+{redis_url}", implementation="redispy", key_prefix=f"{prefix}:throttle")
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerSecond(limit, window_s)

    async def admit(self) -> float:
        """0.0 if this start is admitted (and counted), else the seconds until a slot frees up."""
        if await self._limiter.hit(self._item, IDENTIFIER):
            return 0.0
        stats = await self._limiter.get_window_stats(self._item, IDENTIFIER)
        return max(0.01, stats.reset_time - time.time())

    async def wait_turn(self, poll_max_s: float = 1.0) -> float:
        """Wait until admitted; returns how long it waited (0.0: admitted at once)."""
        started = time.monotonic()
        waited = False
        while wait := await self.admit():
            waited = True
            await asyncio.sleep(min(wait, poll_max_s))
        return time.monotonic() - started if waited else 0.0
