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
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import attrs
import base58
from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_engine.adapters.batching import KeyedBatcher
from order_engine.adapters.market.pools import EVENTS_MAXLEN, RedisPoolStore
from order_engine.adapters.mock_dex.prices import rng_for, rounded
from order_engine.adapters.mock_dex.venue import pool_pair, tradable
from order_engine.domain import amm
from order_engine.domain.errors import DexUnavailable, UnsupportedPair
from order_engine.domain.money import dec_str
from order_engine.domain.ports import SwapRequest, SwapResult
from order_engine.domain.quotes import BPS
from order_engine.domain.tokens import Token, token

P = ParamSpec("P")
T = TypeVar("T")

GENESIS_SLOT = 280_000_000
TX_TTL_S = 7 * 24 * 3600

# One atomic step for a batch of swaps on one pool: their records and the pool they traded, written together or not
# at all. KEYS: the pool hash, the pool-change stream, the executions hash, the slot counter, then per swap its
# tx:{order} and sig:{signature} keys (the same record under both, so that a confirmation is one read).
# ARGV: pool version read, base and quote reserves read, new version, new base and quote reserves, the stream's cap
# (pools.EVENTS_MAXLEN), the records' ttl, then per swap its order id and record (JSON, without its slot).
# The reserves are computed in Python (exact integers; Lua's doubles cannot hold k ~ 1e29), swap after swap on
# the pool as it was read: the script only compares that pool (version *and* reserves, so that a pool restored
# from a snapshot at a version seen before is never mistaken for it) and stores the strings. Returns
# {1, records} (each with its slot), {2, {i, record, ...}} when some of the orders were sent before (nothing
# written: idempotent per order; the caller answers those with their first record and recomputes the others), or
# {0, version, base reserve, quote reserve} — the pool as it is — when it is not the one the batch was computed on.
_SWAPS = """
local n = (#KEYS - 4) / 2
local before = {}
for i = 1, n do
  local record = redis.call('GET', KEYS[3 + 2 * i])
  if record then
    before[#before + 1] = i
    before[#before + 1] = record
  end
end
if #before > 0 then return {2, before} end
local pool = redis.call('HMGET', KEYS[1], 'version', 'base_reserve', 'quote_reserve')
if pool[1] ~= ARGV[1] or pool[2] ~= ARGV[2] or pool[3] ~= ARGV[3] then
  return {0, pool[1] or '', pool[2] or '', pool[3] or ''}
end
if ARGV[4] ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'base_reserve', ARGV[5], 'quote_reserve', ARGV[6], 'version', ARGV[4])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'key', KEYS[1], 'version', ARGV[4],
    'base_reserve', ARGV[5], 'quote_reserve', ARGV[6])
end
local records = {}
for i = 1, n do
  local tx = cjson.decode(ARGV[8 + 2 * i])
  tx['slot'] = redis.call('INCR', KEYS[4])
  local record = cjson.encode(tx)
  redis.call('SET', KEYS[3 + 2 * i], record, 'EX', ARGV[8])
  redis.call('SET', KEYS[4 + 2 * i], record, 'EX', ARGV[8])
  redis.call('HINCRBY', KEYS[3], ARGV[7 + 2 * i], 1)
  records[i] = record
end
return {1, records}
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
        self._swaps_script = redis.register_script(_SWAPS)
        self._batches: KeyedBatcher[_Swap, str] = KeyedBatcher(self._send_swaps)
        # Lookups of transactions in flight together go out as one MGET (as getSignatureStatuses takes many).
        self._lookups: KeyedBatcher[str, bytes | None] = KeyedBatcher(self._get_many, most=256)
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
        pending = _Swap(
            request=swap,
            token_in=tin,
            out_token=out_token,
            in_units=int(swap.amount_in.scaleb(in_token.decimals)),
            min_units=int(swap.min_amount_out.scaleb(out_token.decimals)),
            drift=drift,
            signature=signature,
            execution_ms=round(execution_s * 1000),
            base=base,
            quote=quote,
        )
        # The swaps in flight on one pool in this process go out together (adapters/batching.py): one script per
        # batch, each computed on the pool as the one before it left it.
        return await self._batches.submit(self._pools.key(swap.venue, base, quote), pending)

    async def _send_swaps(self, key: str, swaps: Sequence[_Swap]) -> list[str | BaseException]:
        """One batch of swaps on the pool at `key`, computed on the pool as this process last saw it (its own last
        batch, usually): the script checks that it is still so, and sends the pool as it is when it is not. One
        round trip while nobody else trades the pool, and never a swap computed on a pool that is not the current
        one. Orders whose swap was sent before (resumed attempts) are answered with it, and change nothing."""
        first = swaps[0]
        outcomes: dict[int, str | BaseException] = {}
        # The same order twice in one batch (two attempts at once) executes once: the later get the first's answer.
        firsts: dict[uuid.UUID, int] = {}
        copies = {i: firsts.setdefault(s.request.order_id, i) for i, s in enumerate(swaps)}
        todo = sorted(set(firsts.values()))
        pool = self._known.get(key) or await self._pools.get(first.venue, first.base, first.quote)
        for _ in range(MAX_TRIES):
            if not todo:
                break
            if pool is None:
                self._known.pop(key, None)
                gone = UnsupportedPair(f"{first.venue} has no {first.base}/{first.quote} pool")
                return [outcomes.get(copies[i], gone) for i in range(len(swaps))]
            final, records = pool, []
            for i in todo:
                final, record = _execute(final, swaps[i], datetime.now(UTC))
                records.append(record)
            version = pool.version + 1 if (final.base_reserve, final.quote_reserve) != _pair(pool) else pool.version
            keys = [key, self._pools.events_key, self.executions_key, f"{self._prefix}:slot"]
            args: list[str | int] = [pool.version, pool.base_reserve, pool.quote_reserve, version]
            args += [final.base_reserve, final.quote_reserve, EVENTS_MAXLEN, TX_TTL_S]
            for i, record in zip(todo, records, strict=True):
                keys += [self._tx_key(swaps[i].request.order_id), f"{self._prefix}:sig:{swaps[i].signature}"]
                args += [str(swaps[i].request.order_id), json.dumps(record)]
            code, *rest = await self._swaps_script(keys=keys, args=[str(a) for a in args])
            if int(code) == 1:
                self._known[key] = attrs.evolve(
                    pool, base_reserve=final.base_reserve, quote_reserve=final.quote_reserve, version=version
                )
                for i in todo:
                    outcomes[i] = swaps[i].signature
                todo = []
            elif int(code) == 2:  # some were sent before: answer them with what they sent, recompute the others
                sent = rest[0]
                for j in range(0, len(sent), 2):
                    i = todo[int(sent[j]) - 1]
                    outcomes[i] = str(json.loads(sent[j + 1])["signature"])
                todo = [i for i in todo if i not in outcomes]
            else:
                pool = _as_reported(pool, *rest)
        busy = DexUnavailable(
            f"{first.venue} {first.base}/{first.quote} pool too busy: {MAX_TRIES} conflicting updates"
        )
        return [outcomes.get(copies[i], busy) for i in range(len(swaps))]

    async def _get_many(self, _group: str, keys: Sequence[str]) -> list[bytes | None]:
        if len(keys) == 1:
            return [await self._redis.get(keys[0])]
        return list(await self._redis.mget(keys))

    async def _get(self, key: str) -> bytes | None:
        return await self._lookups.submit("", key)

    @_rpc
    async def find(self, order_id: uuid.UUID) -> str | None:
        raw = await self._get(self._tx_key(order_id))
        return None if raw is None else str(json.loads(raw)["signature"])

    @_rpc
    async def confirm(self, signature: str, *, attempt: int = 1) -> SwapResult:
        raw = await self._get(f"{self._prefix}:sig:{signature}")
        if raw is not None and not raw.startswith(b"{"):  # written before the record was kept here: an order id
            raw = await self._get(self._tx_key(raw.decode()))
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


@attrs.frozen
class _Swap:
    """One order's swap as `submit` prepared it (its fate drawn), waiting for its pool's next batch."""

    request: SwapRequest
    token_in: str  # its symbol on the pool
    out_token: Token
    in_units: int
    min_units: int
    drift: Decimal
    signature: str
    execution_ms: int
    base: str
    quote: str

    @property
    def venue(self) -> str:
        return self.request.venue


def _execute(pool: amm.Pool, swap: _Swap, now: datetime) -> tuple[amm.Pool, dict[str, Any]]:
    """The pool after `swap` (the market's drift first, then the swap itself unless the output falls short of its
    floor: then it lands as a failed transaction and the pool only drifts), and the swap's record."""
    moved = _drifted(tradable(pool, swap.venue, now), swap.token_in, swap.drift)
    out_units = amm.amount_out(moved, swap.token_in, swap.in_units)
    landed = out_units >= swap.min_units
    final = amm.swapped(moved, swap.token_in, swap.in_units)[0] if landed else moved
    amount_out = swap.out_token.round_down(Decimal(out_units).scaleb(-swap.out_token.decimals))
    request = swap.request
    record = {
        "orderId": str(request.order_id),
        "signature": swap.signature,
        "venue": swap.venue,
        "executedPrice": dec_str(rounded(amount_out / request.amount_in)),
        "amountOut": dec_str(amount_out),
        "minAmountOut": dec_str(request.min_amount_out),
        "error": None if landed else "slippage exceeded",
        "sentAt": time.time(),
        "executionMs": swap.execution_ms,
    }
    # The pool at the time it trades keeps its stored fee (the launch fee decays by the clock, not in the hash).
    return attrs.evolve(pool, base_reserve=final.base_reserve, quote_reserve=final.quote_reserve), record


def _pair(pool: amm.Pool) -> tuple[int, int]:
    return pool.base_reserve, pool.quote_reserve


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
