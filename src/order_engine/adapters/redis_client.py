"""Redis clients that get over a Redis restart without failing a request.

`Redis.from_url` builds its connection pool without the client's default retry policy, so after a
restart every connection idle in the pool fails its next command once ("Connection closed by server")
— an API enqueue then closes its order as not accepted and answers 503 although Redis is back, and a
worker loses an attempt. A couple of quick retries reconnect instead. They are short so that during a
real outage the error still surfaces within a fraction of a second. Every command the engine retries
is safe to repeat: SAQ's enqueue and the chain's submit are keyed scripts that do nothing the second time.

They speak RESP2. redis-py 8 made RESP3 its default, and on RESP3 a reconnecting pub/sub connection runs a
handshake of its own (`CLIENT MAINT_NOTIFICATIONS`, RESP3 only) that once read the connection while its
reader was still waiting on it: "read() called while another coroutine is already waiting for incoming
data", on every read from then on, and a live stream that never recovered (1 run in about 10 of
tests/faults/test_pubsub_outage.py). Nothing here needs RESP3.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

RETRIES = 2


def reconnecting() -> dict[str, Any]:
    """Connection options for `Redis.from_url` (or SAQ's broker options): retry a dropped connection."""
    return {"retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), RETRIES), "protocol": 2}


def redis_from_url(url: str, **options: Any) -> Redis:
    return Redis.from_url(url, **reconnecting(), **options)
