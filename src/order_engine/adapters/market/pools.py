"""Pools in Redis, exact: every process trades against one market.

Each pool is a hash of decimal strings. A SOL/USDC pool's k is ~1e29, far past the 2^53 a double (Lua's number,
and so Redis scripts' arithmetic) holds exactly, so the swap math never runs in Redis: a change reads the pool,
computes the new pool in Python ints with domain/amm.py, and writes it with a compare-and-set on the version it
read (`_CAS`). If another process committed in between, the write is refused and the change runs again on the
fresh pool. A committed change is therefore exactly one amm step from the version before it: versions order the
trades, and replaying them in that order reproduces the reserves to the unit.

Layout (prefix = the caller's):
    {prefix}:pool:{venue}:{base}/{quote}  hash: venue base quote base_decimals quote_decimals fee_bps
                                          base_reserve quote_reserve version opens_at_ms launch_fee_bps
                                          fee_decay_ms  (ints as decimal strings; the last three are absent
                                          from pools written before launches, and read as 0)
    {prefix}:pools                        sorted set (score 0, ordered by name) of every pool key
    {prefix}:market:events                stream: one entry per pool created or changed, written by the same
                                          script as the change (fields: key, version, base_reserve,
                                          quote_reserve; capped near EVENTS_MAXLEN). The watcher follows it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TypeVar

import attrs
from redis.asyncio import Redis

from order_engine.adapters.market.coalesced import CoalescedReads
from order_engine.domain import amm
from order_engine.domain.amm import Pool
from order_engine.domain.errors import SlippageExceeded

T = TypeVar("T")

MAX_TRIES = 50
EVENTS_MAXLEN = 10_000  # the pool-change stream is a doorbell, not a history: followers re-read pools on a gap
_INTS = (
    "base_decimals",
    "quote_decimals",
    "fee_bps",
    "base_reserve",
    "quote_reserve",
    "version",
    "opens_at_ms",
    "launch_fee_bps",
    "fee_decay_ms",
)


# KEYS: pool hash, index, events. ARGV: maxlen, field, value, ... Creates the pool only if absent: a restart
# never resets prices.
_SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('ZADD', KEYS[2], 0, KEYS[1])
local pool = redis.call('HMGET', KEYS[1], 'version', 'base_reserve', 'quote_reserve')
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'key', KEYS[1], 'version', pool[1],
  'base_reserve', pool[2], 'quote_reserve', pool[3])
return 1
"""

# KEYS: pool hash, events. ARGV: version read, new version, new base reserve, new quote reserve, maxlen.
# Versions are compared as the decimal strings they are stored as; no number is ever parsed in Lua.
_CAS = """
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return -1 end
if version ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'base_reserve', ARGV[3], 'quote_reserve', ARGV[4], 'version', ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'key', KEYS[1], 'version', ARGV[2],
  'base_reserve', ARGV[3], 'quote_reserve', ARGV[4])
return 1
"""


class PoolNotFound(LookupError):
    def __init__(self, venue: str, base: str, quote: str) -> None:
        super().__init__(f"no {base}/{quote} pool on {venue}")


class PoolContention(RuntimeError):
    """The pool changed under every one of MAX_TRIES attempts; nothing was written."""


class InsufficientOutput(SlippageExceeded):
    """The pool, as it stood when the swap would have committed, pays less than `min_out_units`; unchanged."""

    def __init__(self, pool: Pool, token_out: str, out_units: int, min_out_units: int) -> None:
        decimals = pool.base_decimals if token_out == pool.base else pool.quote_decimals
        super().__init__(Decimal(out_units).scaleb(-decimals), Decimal(min_out_units).scaleb(-decimals))
        self.out_units = out_units
        self.min_out_units = min_out_units
        self.args = (
            f"slippage exceeded: {pool.venue} {pool.base}/{pool.quote} pays {out_units} units of {token_out}, "
            f"below the minimum {min_out_units}",
        )


@attrs.frozen
class Fill:
    """A committed swap: `version` is the pool version it created, its place in the pool's history."""

    venue: str
    token_in: str
    token_out: str
    amount_in_units: int
    amount_out_units: int
    version: int


def _encode(pool: Pool) -> dict[str, str]:
    return {field.name: str(getattr(pool, field.name)) for field in attrs.fields(Pool)}


def _decode(raw: dict[bytes, bytes]) -> Pool:
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    return Pool(**{k: int(v) if k in _INTS else v for k, v in fields.items()})  # type: ignore[arg-type]


class RedisPoolStore:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._index = f"{prefix}:pools"
        self.events_key = f"{prefix}:market:events"
        self._seed = redis.register_script(_SEED)
        self._cas = redis.register_script(_CAS)
        self._reads = CoalescedReads(redis)
        self._decoded: dict[str, tuple[dict[bytes, bytes], Pool]] = {}  # key -> the last hash read, decoded

    def key(self, venue: str, base: str, quote: str) -> str:
        return f"{self._prefix}:pool:{venue}:{base}/{quote}"

    async def seed(self, pools: Iterable[Pool]) -> int:
        """Create every pool not there yet (each atomically, one round trip for all); how many were created."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for pool in pools:
                fields = [item for pair in _encode(pool).items() for item in pair]
                await self._seed(
                    keys=[self.key(pool.venue, pool.base, pool.quote), self._index, self.events_key],
                    args=[EVENTS_MAXLEN, *fields],
                    client=pipe,
                )
            return sum(int(created) for created in await pipe.execute())

    async def get(self, venue: str, base: str, quote: str) -> Pool | None:
        """The pool as it is now; concurrent reads share one round trip (adapters/market/coalesced.py)."""
        key = self.key(venue, base, quote)
        raw = await self._reads.hgetall(key)
        if not raw:
            return None
        # The same hash as last time (most reads: a pool changes when traded), so the same (immutable) Pool.
        last = self._decoded.get(key)
        if last is not None and last[0] == raw:
            return last[1]
        pool = _decode(raw)
        self._decoded[key] = (raw, pool)
        return pool

    async def all(self) -> list[Pool]:
        """Every pool, ordered by key: the index, then one pipelined read of every hash (two round trips)."""
        keys = await self._redis.zrange(self._index, 0, -1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            return [_decode(raw) for raw in await pipe.execute() if raw]

    async def update(self, venue: str, base: str, quote: str, change: Callable[[Pool], tuple[Pool, T]]) -> T:
        """Apply `change` (pure: the pool read → the next pool, version + 1, and a result) with compare-and-set.

        `change` may run several times, each time on a fresher pool; only its last run is committed. It may
        raise to abandon the update (nothing is written) or return the pool unchanged (nothing is written).
        """
        key = self.key(venue, base, quote)
        for attempt in range(MAX_TRIES):
            raw = await self._redis.hgetall(key)
            if not raw:
                raise PoolNotFound(venue, base, quote)
            pool = _decode(raw)
            new, result = change(pool)
            if new == pool:
                return result
            if attrs.evolve(new, base_reserve=pool.base_reserve, quote_reserve=pool.quote_reserve) != attrs.evolve(
                pool, version=pool.version + 1
            ):
                raise ValueError(f"a change moves reserves and bumps the version by one, nothing else: {new}")
            args = [pool.version, new.version, new.base_reserve, new.quote_reserve, EVENTS_MAXLEN]
            status = await self._cas(keys=[key, self.events_key], args=[str(a) for a in args])
            if status == 1:
                return result
            if status == -1:
                raise PoolNotFound(venue, base, quote)
            await asyncio.sleep(random.random() * 0.0005 * attempt)  # lost the race: spread the next tries out
        raise PoolContention(f"{venue} {base}/{quote} changed under each of {MAX_TRIES} attempts")

    async def trade(
        self, venue: str, token_in: str, token_out: str, amount_in_units: int, *, min_out_units: int = 0
    ) -> Fill:
        """Sell `amount_in_units` of `token_in` into the pool; raises InsufficientOutput below `min_out_units`."""
        base, quote = await self._orientation(venue, token_in, token_out)

        def change(pool: Pool) -> tuple[Pool, Fill]:
            new, out = amm.swapped(pool, token_in, amount_in_units)
            if out < min_out_units:
                raise InsufficientOutput(pool, token_out, out, min_out_units)
            return new, Fill(venue, token_in, token_out, amount_in_units, out, new.version)

        return await self.update(venue, base, quote, change)

    async def swap(
        self, venue: str, token_in: str, token_out: str, amount_in_units: int, *, min_out_units: int = 0
    ) -> int:
        """`trade`, returning the base units of `token_out` received."""
        fill = await self.trade(venue, token_in, token_out, amount_in_units, min_out_units=min_out_units)
        return fill.amount_out_units

    async def _orientation(self, venue: str, a: str, b: str) -> tuple[str, str]:
        """(base, quote) of the venue's pool for a and b, whichever way round it is stored."""
        if await self._redis.zscore(self._index, self.key(venue, a, b)) is not None:
            return a, b
        if await self._redis.zscore(self._index, self.key(venue, b, a)) is not None:
            return b, a
        raise PoolNotFound(venue, a, b)
