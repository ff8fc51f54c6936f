"""The mock chain: swaps keyed by order id, kept in Redis so they outlive any worker.

`submit` is idempotent per order (re-sending the same order's swap returns the
first signature, as re-broadcasting a signed Solana transaction does), and the
number of swaps that really executed per order is counted for the fault tests.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import ParamSpec, TypeVar

import attrs
import base58
from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_engine.adapters.market.pools import EVENTS_MAXLEN, RedisPoolStore
from order_engine.adapters.mock_dex.prices import rng_for, rounded
from order_engine.adapters.mock_dex.venue import pool_pair, tradable
from order_engine.domain import amm
from order_engine.domain.errors import DexUnavailable, UnsupportedPair
from order_engine.domain.money import dec_str
from order_engine.domain.ports import SwapRequest, SwapResult
from order_engine.domain.quotes import BPS
from order_engine.domain.tokens import token

P = ParamSpec("P")
T = TypeVar("T")

GENESIS_SLOT = 280_000_000
TX_TTL_S = 7 * 24 * 3600

# One atomic step: the swap's record and the pool it traded against, written together or not at all.
# KEYS: tx:{order}, sig:{signature} (the same record, so that a confirmation is one read), executions hash,
# slot counter, pool hash, pool-change stream.
# ARGV: order id, tx json, signature, ttl, pool version read, new version, new base reserve, new quote reserve,
# the stream's cap (pools.EVENTS_MAXLEN), base reserve read, quote reserve read.
# The reserves are computed in Python (exact integers; Lua's doubles cannot hold k ~ 1e29): the script only
# compares the pool the swap was computed on (version *and* reserves, so that a pool restored from a snapshot at
# a version seen before is never mistaken for it) and stores the strings. Returns {1, tx} (done, or done before:
# idempotent per order), or {0, "", version, base reserve, quote reserve} — the pool as it is — when it is not
# the one the swap was computed on (the caller recomputes on that and tries again, with no read in between).
_SWAP = """
local existing = redis.call('GET', KEYS[1])
if existing then return {1, existing} end
local pool = redis.call('HMGET', KEYS[5], 'version', 'base_reserve', 'quote_reserve')
if pool[1] ~= ARGV[5] or pool[2] ~= ARGV[10] or pool[3] ~= ARGV[11] then
  return {0, '', pool[1] or '', pool[2] or '', pool[3] or ''}
end
if ARGV[6] ~= ARGV[5] then
  redis.call('HSET', KEYS[5], 'base_reserve', ARGV[7], 'quote_reserve', ARGV[8], 'version', ARGV[6])
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[9], '*', 'key', KEYS[5], 'version', ARGV[6],
    'base_reserve', ARGV[7], 'quote_reserve', ARGV[8])
end
local tx = cjson.decode(ARGV[2])
tx['slot'] = redis.call('INCR', KEYS[4])
local encoded = cjson.encode(tx)
redis.call('SET', KEYS[1], encoded, 'EX', ARGV[4])
redis.call('SET', KEYS[2], encoded, 'EX', ARGV[4])
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
return {1, encoded}
"""
MAX_TRIES = 50
SLOT_S = 0.4  # a Solana slot


def _rpc(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """The chain's store being unreachable is, to the engine, an RPC node being down: transient."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except RedisError as exc:
            raise DexUnavailable(f"chain RPC unavailable ({type(exc).__name__})") from exc

    return call


class RedisMockChain:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        latency_scale: float = 1.0,
        failure_rate: float = 0.0,
        seed: str | None = None,
        drift_bps: float = 20.0,
        drift_mean_bps: float = 0.0,
        pools: RedisPoolStore | None = None,
    ) -> None:
        self._redis = redis
        self._pools = pools or RedisPoolStore(redis, prefix=prefix)
        self._prefix = f"{prefix}:chain"
        self._latency_scale = latency_scale
        self._failure_rate = failure_rate
        self._seed = seed
        self._drift_bps = drift_bps
        self._drift_mean_bps = drift_mean_bps
        self._swap_script = redis.register_script(_SWAP)
        self._pool_locks: dict[str, asyncio.Lock] = {}
        self._known: dict[str, amm.Pool] = {}  # pool key -> the pool as this process last saw it
        self._blockhash: tuple[float, str] = (-SLOT_S, "")  # (when read, monotonic; the blockhash then)

    def _tx_key(self, order_id: uuid.UUID | str) -> str:
        return f"{self._prefix}:tx:{order_id}"

    @property
    def executions_key(self) -> str:
        return f"{self._prefix}:executions"

    @_rpc
    async def recent_blockhash(self) -> str:
        """~50 ms, like a getLatestBlockhash call; derived from the current slot, which this process reads at most
        once per slot time (a blockhash stays valid for ~150 slots: a swap built on one a slot old lands)."""
        if self._latency_scale:
            await asyncio.sleep(0.05 * self._latency_scale * (0.5 + random.random()))
        fetched_at, blockhash = self._blockhash
        if time.monotonic() - fetched_at >= SLOT_S:
            slot = int(await self._redis.get(f"{self._prefix}:slot") or 0)
            blockhash = base58.b58encode(hashlib.sha256(f"{self._prefix}:{slot}".encode()).digest()).decode()
            self._blockhash = (time.monotonic(), blockhash)
        return blockhash

    @_rpc
    async def submit(self, swap: SwapRequest, *, attempt: int) -> str:
        """Trade the order's swap against its venue's pool, exactly once per order.

        Between quote and execution the market moves by the order's drift (`ORDER_ENGINE_DEX_DRIFT_*`:
        other traders, simulated as a trade that moves the pool's price by that many bps against or for
        the taker); then the swap's output is read off the reserves of that moment and checked against
        `min_amount_out`. A shortfall lands as a failed transaction (`slippage exceeded`, the pool untouched
        by the order); otherwise the reserves take the swap. Record and reserves change in one script.
        """
        rng = rng_for(self._seed, swap.order_id, attempt, "submit")
        if self._latency_scale:
            await asyncio.sleep(0.05 * self._latency_scale * (0.5 + rng.random()))
        if rng.random() < self._failure_rate:
            raise DexUnavailable("RPC node unavailable: sendTransaction failed")
        fate = rng_for(self._seed, swap.order_id, "fate")
        drift = Decimal(str(round(fate.gauss(self._drift_mean_bps, self._drift_bps), 4))) / BPS
        signature = base58.b58encode(fate.randbytes(64)).decode()
        execution_s = (2.0 + fate.random()) * self._latency_scale
        tin, _, base, quote = pool_pair(swap.token_in, swap.token_out)
        in_token, out_token = token(swap.token_in), token(swap.token_out)
        assert in_token is not None and out_token is not None
        in_units = int(swap.amount_in.scaleb(in_token.decimals))
        min_units = int(swap.min_amount_out.scaleb(out_token.decimals))
        keys = [
            self._tx_key(swap.order_id),
            f"{self._prefix}:sig:{signature}",
            self.executions_key,
            f"{self._prefix}:slot",
            self._pools.key(swap.venue, base, quote),
            self._pools.events_key,
        ]
        # One swap at a time per pool in this process: concurrent swaps on one pool would otherwise read the
        # same version and all but one retry. Other processes still race; the version guard settles that.
        async with self._pool_locks.setdefault(keys[4], asyncio.Lock()):
            # The pool as this process last saw it (its own last swap on it, usually): the script checks that it
            # is still so, and sends the pool as it is when it is not. One round trip while nobody else trades
            # it, and never a swap computed on a pool that is not the current one. A swap sent before (a resumed
            # attempt) is found by the script too, which then returns it and changes nothing.
            pool = self._known.get(keys[4]) or await self._pools.get(swap.venue, base, quote)
            for _ in range(MAX_TRIES):
                if pool is None:
                    self._known.pop(keys[4], None)
                    raise UnsupportedPair(f"{swap.venue} has no {base}/{quote} pool")
                moved = _drifted(tradable(pool, swap.venue, datetime.now(UTC)), tin, drift)
                out_units = amm.amount_out(moved, tin, in_units)
                landed = out_units >= min_units
                final = amm.swapped(moved, tin, in_units)[0] if landed else moved
                amount_out = out_token.round_down(Decimal(out_units).scaleb(-out_token.decimals))
                tx = {
                    "orderId": str(swap.order_id),
                    "signature": signature,
                    "venue": swap.venue,
                    "executedPrice": dec_str(rounded(amount_out / swap.amount_in)),
                    "amountOut": dec_str(amount_out),
                    "minAmountOut": dec_str(swap.min_amount_out),
                    "error": None if landed else "slippage exceeded",
                    "sentAt": time.time(),
                    "executionMs": round(execution_s * 1000),
                }
                moves = (final.base_reserve, final.quote_reserve) != (pool.base_reserve, pool.quote_reserve)
                version = pool.version + 1 if moves else pool.version
                done, encoded, *current = await self._swap_script(
                    keys=keys,
                    args=[
                        str(swap.order_id),
                        json.dumps(tx),
                        signature,
                        TX_TTL_S,
                        str(pool.version),
                        str(version),
                        str(final.base_reserve),
                        str(final.quote_reserve),
                        str(EVENTS_MAXLEN),
                        str(pool.base_reserve),
                        str(pool.quote_reserve),
                    ],
                )
                if int(done) == 1:
                    sent = json.loads(encoded)
                    if sent["signature"] == signature:  # this call's swap: the pool is now `final`'s reserves
                        self._known[keys[4]] = attrs.evolve(pool, **_reserves(final), version=version)
                    else:  # sent before: the pool is whatever it is now
                        self._known.pop(keys[4], None)
                    return str(sent["signature"])
                pool = _as_reported(pool, *current)
            raise DexUnavailable(f"{swap.venue} {base}/{quote} pool too busy: {MAX_TRIES} conflicting updates")

    @_rpc
    async def find(self, order_id: uuid.UUID) -> str | None:
        raw = await self._redis.get(self._tx_key(order_id))
        return None if raw is None else str(json.loads(raw)["signature"])

    @_rpc
    async def confirm(self, signature: str, *, attempt: int = 1) -> SwapResult:
        raw = await self._redis.get(f"{self._prefix}:sig:{signature}")
        if raw is not None and not raw.startswith(b"{"):  # written before the record was kept here: an order id
            raw = await self._redis.get(self._tx_key(raw.decode()))
        if raw is None:
            raise DexUnavailable(f"signature {signature[:12]}… not found by the RPC node yet")
        tx = json.loads(raw)
        remaining = tx["sentAt"] + tx["executionMs"] / 1000 - time.time()
        if remaining > 0:
            await asyncio.sleep(remaining)
        if rng_for(self._seed, tx["orderId"], attempt, "confirm").random() < self._failure_rate:
            raise DexUnavailable("confirmation timed out waiting for the RPC node")
        return SwapResult(
            signature=signature,
            executed_price=Decimal(tx["executedPrice"]),
            amount_out=Decimal(tx["amountOut"]),
            slot=GENESIS_SLOT + int(tx["slot"]),
            error=tx["error"],
            simulated_ms=tx["executionMs"],
        )

    async def executions(self, order_id: uuid.UUID) -> int:
        """How many times this order's swap really executed (must never exceed 1)."""
        return int(await self._redis.hget(self.executions_key, str(order_id)) or 0)


def _reserves(pool: amm.Pool) -> dict[str, int]:
    return {"base_reserve": pool.base_reserve, "quote_reserve": pool.quote_reserve}


def _as_reported(pool: amm.Pool, version: bytes, base_reserve: bytes, quote_reserve: bytes) -> amm.Pool | None:
    """`pool` with the state the swap script reported (None: the pool is gone)."""
    if not version:
        return None
    return attrs.evolve(pool, version=int(version), base_reserve=int(base_reserve), quote_reserve=int(quote_reserve))


def _drifted(pool: amm.Pool, token_in: str, drift: Decimal) -> amm.Pool:
    """The pool after the market moved by `drift` (a fraction) in the taker's terms: tokenOut per tokenIn
    times (1 + drift). Negative drift is a move against the taker."""
    if not drift:
        return pool
    mid = amm.mid_price(pool, pool.base, pool.quote)  # quote per base
    target = mid * (1 + drift) if token_in == pool.base else mid / (1 + drift)
    step = amm.trade_to_price(pool, target)
    return pool if step is None else amm.swapped(pool, *step)[0]
