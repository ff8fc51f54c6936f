"""SwapLine on Redis: one sorted set per launch pool, `{prefix}:swap-line:{BASE/QUOTE}`, scored by submission
order (created_at in microseconds; equal scores fall back to the member, the order id, whose text sorts as
its integer does), so snipers executing in several jobs and processes at once still swap one after the other.

`wait_turn` asks one short script whether the order is at the head (or not in the line at all); while it is
not, it blocks on a wake-up list of its own (BLPOP), which `leave` pushes to for whoever is at the head once it
is gone: no polling, and a waiter in any process wakes as soon as the one ahead of it leaves. A wake-up pushed
before its waiter blocks stays in the list (nothing is lost between the check and the BLPOP); one nobody takes
expires with its list.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from redis.asyncio import Redis

from order_engine.domain.order import Order

LINE_TTL_S = 24 * 3600  # a line outlives its launch's snipers (their jobs retry within minutes) by far
WAKE_TTL_S = 60  # an untaken wake-up (its waiter gave up, or was never there) goes after this

# 1: `ARGV[1]` may swap (at the head, or not in the line); 0: someone is ahead of it.
_TURN = """
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if not head or head == ARGV[1] then return 1 end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
return 0
"""
# Leave, and wake whoever is now at the head (KEYS[1] .. ':wake:' .. its id).
_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
if not head then return false end
local wake = KEYS[1] .. ':wake:' .. head
redis.call('LPUSH', wake, '1')
redis.call('EXPIRE', wake, ARGV[2])
return head
"""


def _score(order: Order) -> int:
    return int(order.created_at.timestamp() * 1_000_000)


class RedisSwapLine:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._turn = redis.register_script(_TURN)
        self._leave = redis.register_script(_LEAVE)

    def key(self, line: str) -> str:
        return f"{self._prefix}:swap-line:{line}"

    async def join(self, line: str, orders: Sequence[Order]) -> None:
        if not orders:
            return
        key = self.key(line)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {str(o.id): _score(o) for o in orders})
            pipe.expire(key, LINE_TTL_S)
            await pipe.execute()

    async def wait_turn(self, line: str, order_id: uuid.UUID, *, within_s: float) -> bool:
        key, member = self.key(line), str(order_id)
        deadline = time.monotonic() + within_s
        if int(await self._turn(keys=[key], args=[member])) == 1:
            return True
        while (remaining := deadline - time.monotonic()) > 0:
            # A wake-up is pushed to this order's list only once it is at the head: it is its turn (the line is in
            # submission order and an order leaves it only by itself, so nobody gets ahead of it again).
            if await self._redis.blpop([f"{key}:wake:{member}"], timeout=max(0.01, remaining)) is not None:
                return True
            if int(await self._turn(keys=[key], args=[member])) == 1:  # a wake-up lost with its list's expiry
                return True
        return False

    async def leave(self, line: str, order_id: uuid.UUID) -> None:
        await self._leave(keys=[self.key(line)], args=[str(order_id), WAKE_TTL_S])
