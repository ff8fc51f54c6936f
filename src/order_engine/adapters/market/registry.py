"""The shared registry of launched tokens: a Redis hash every process reads, PostgreSQL its durable copy.

    {prefix}:tokens   hash: symbol → the launch as JSON (mint, decimals, venue, quoteToken, the two
                      authorities, opensAt, launchedAt)

`add` writes PostgreSQL first (its primary key decides a race between two launches of one symbol), then Redis.
`refresh` reads the hash into this process's token table (domain/tokens.register); when the hash is gone
(Redis restarted without its data, or its keys were deleted) it is written back from PostgreSQL first. The mint
is a deterministic base58 string: sha256 of the seed and the symbol.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Protocol

import base58
from redis.asyncio import Redis

from order_engine.domain.launches import Launch
from order_engine.domain.tokens import register, token


class LaunchStore(Protocol):
    async def insert(self, launch: Launch) -> bool: ...

    async def all(self) -> list[Launch]: ...


def mint_for(symbol: str, seed: str | None) -> str:
    """The launched token's mint: base58 of sha256("{seed}:launch:{SYMBOL}") (32 bytes, like a public key)."""
    digest = hashlib.sha256(f"{seed or ''}:launch:{symbol.upper()}".encode()).digest()
    return base58.b58encode(digest).decode()


def registry_key(prefix: str) -> str:
    return f"{prefix}:tokens"


def _encode(launch: Launch) -> str:
    return json.dumps(
        {
            "symbol": launch.symbol,
            "mint": launch.mint,
            "decimals": launch.decimals,
            "venue": launch.venue,
            "quoteToken": launch.quote_token,
            "mintAuthorityRevoked": launch.mint_authority_revoked,
            "freezeAuthorityRevoked": launch.freeze_authority_revoked,
            "opensAt": None if launch.opens_at is None else launch.opens_at.isoformat(),
            "launchedAt": launch.launched_at.isoformat(),
        }
    )


def _decode(raw: bytes | str) -> Launch:
    d: dict[str, Any] = json.loads(raw)
    return Launch(
        symbol=d["symbol"],
        mint=d["mint"],
        decimals=d["decimals"],
        venue=d["venue"],
        quote_token=d["quoteToken"],
        mint_authority_revoked=d["mintAuthorityRevoked"],
        freeze_authority_revoked=d["freezeAuthorityRevoked"],
        opens_at=None if d["opensAt"] is None else datetime.fromisoformat(d["opensAt"]),
        launched_at=datetime.fromisoformat(d["launchedAt"]),
    )


class RedisTokenRegistry:
    def __init__(self, redis: Redis, *, prefix: str, store: LaunchStore | None = None) -> None:
        self._redis = redis
        self._store = store
        self.key = registry_key(prefix)
        self._launches: dict[str, Launch] = {}

    def launch_of(self, name: str) -> Launch | None:
        """The launch record of a token (by symbol or mint) this process knows of."""
        known = token(name)
        return None if known is None else self._launches.get(known.symbol)

    async def add(self, launch: Launch) -> bool:
        if self._store is not None and not await self._store.insert(launch):
            return False
        if not await self._redis.hsetnx(self.key, launch.symbol, _encode(launch)) and self._store is None:
            return False
        self._known(launch)
        return True

    async def refresh(self) -> None:
        raw = await self._redis.hgetall(self.key)
        if not raw and self._store is not None:
            raw = await self.restore()
        for value in raw.values():
            self._known(_decode(value))

    async def restore(self) -> dict[bytes, bytes]:
        """Write every launch PostgreSQL has back into the hash (never over an entry Redis has); the hash."""
        assert self._store is not None
        launches = await self._store.all()
        if launches:
            async with self._redis.pipeline(transaction=False) as pipe:
                for launch in launches:
                    pipe.hsetnx(self.key, launch.symbol, _encode(launch))
                await pipe.execute()
        return await self._redis.hgetall(self.key)  # type: ignore[no-any-return]

    def _known(self, launch: Launch) -> None:
        self._launches[launch.symbol] = launch
        register(launch.token)
