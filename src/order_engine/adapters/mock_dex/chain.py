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
from decimal import Decimal
from typing import ParamSpec, TypeVar

import base58
from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_engine.adapters.mock_dex.prices import rng_for, rounded
from order_engine.adapters.mock_dex.venue import FEES
from order_engine.domain.errors import DexUnavailable
from order_engine.domain.money import dec_str
from order_engine.domain.ports import SwapRequest, SwapResult
from order_engine.domain.quotes import BPS, amount_out_after_fee
from order_engine.domain.tokens import token

P = ParamSpec("P")
T = TypeVar("T")

GENESIS_SLOT = 280_000_000
TX_TTL_S = 7 * 24 * 3600

# KEYS: tx:{order}, sig:{signature}, executions hash, slot counter. ARGV: order id, tx json, signature, ttl.
_SUBMIT = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
local tx = cjson.decode(ARGV[2])
tx['slot'] = redis.call('INCR', KEYS[4])
local encoded = cjson.encode(tx)
redis.call('SET', KEYS[1], encoded, 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[4])
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
return encoded
"""


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
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:chain"
        self._latency_scale = latency_scale
        self._failure_rate = failure_rate
        self._seed = seed
        self._drift_bps = drift_bps
        self._drift_mean_bps = drift_mean_bps
        self._submit_script = redis.register_script(_SUBMIT)

    def _tx_key(self, order_id: uuid.UUID | str) -> str:
        return f"{self._prefix}:tx:{order_id}"

    @property
    def executions_key(self) -> str:
        return f"{self._prefix}:executions"

    @_rpc
    async def recent_blockhash(self) -> str:
        """~50 ms, like a getLatestBlockhash call; derived from the current slot."""
        if self._latency_scale:
            await asyncio.sleep(0.05 * self._latency_scale * (0.5 + random.random()))
        slot = int(await self._redis.get(f"{self._prefix}:slot") or 0)
        return base58.b58encode(hashlib.sha256(f"{self._prefix}:{slot}".encode()).digest()).decode()

    @_rpc
    async def submit(self, swap: SwapRequest, *, attempt: int) -> str:
        rng = rng_for(self._seed, swap.order_id, attempt, "submit")
        if self._latency_scale:
            await asyncio.sleep(0.05 * self._latency_scale * (0.5 + rng.random()))
        if rng.random() < self._failure_rate:
            raise DexUnavailable("RPC node unavailable: sendTransaction failed")
        # The market moves between quote and execution: that is what the slippage floor guards.
        fate = rng_for(self._seed, swap.order_id, "fate")
        drift = Decimal(str(round(fate.gauss(self._drift_mean_bps, self._drift_bps), 4))) / BPS
        executed_price = rounded(swap.quoted_price * (1 + drift))
        out_token = token(swap.token_out)
        assert out_token is not None
        amount_out = out_token.round_down(amount_out_after_fee(swap.amount_in, executed_price, FEES[swap.venue]))
        execution_s = (2.0 + fate.random()) * self._latency_scale
        tx = {
            "orderId": str(swap.order_id),
            "signature": base58.b58encode(fate.randbytes(64)).decode(),
            "venue": swap.venue,
            "executedPrice": dec_str(executed_price),
            "amountOut": dec_str(amount_out),
            "minAmountOut": dec_str(swap.min_amount_out),
            "error": "slippage exceeded" if amount_out < swap.min_amount_out else None,
            "sentAt": time.time(),
            "executionMs": round(execution_s * 1000),
        }
        encoded = await self._submit_script(
            keys=[
                self._tx_key(swap.order_id),
                f"{self._prefix}:sig:{tx['signature']}",
                self.executions_key,
                f"{self._prefix}:slot",
            ],
            args=[str(swap.order_id), json.dumps(tx), tx["signature"], TX_TTL_S],
        )
        return str(json.loads(encoded)["signature"])

    @_rpc
    async def find(self, order_id: uuid.UUID) -> str | None:
        raw = await self._redis.get(self._tx_key(order_id))
        return None if raw is None else str(json.loads(raw)["signature"])

    @_rpc
    async def confirm(self, signature: str, *, attempt: int = 1) -> SwapResult:
        order_id = await self._redis.get(f"{self._prefix}:sig:{signature}")
        raw = None if order_id is None else await self._redis.get(self._tx_key(order_id.decode()))
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
