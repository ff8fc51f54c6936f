"""The launched tokens in PostgreSQL (table `launched_tokens`, migration 0005): the registry's durable copy, one
per key prefix (as the Redis hash it restores)."""

from __future__ import annotations

import asyncpg

from order_engine.domain.launches import Launch

_COLUMNS = (
    "symbol, mint, decimals, venue, quote_token, mint_authority_revoked, freeze_authority_revoked, opens_at,"
    " launched_at"
)
_INSERT = (
    f"INSERT INTO launched_tokens (key_prefix, {_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    " ON CONFLICT DO NOTHING RETURNING symbol"
)
_ALL = f"SELECT {_COLUMNS} FROM launched_tokens WHERE key_prefix = $1 ORDER BY launched_at, symbol"


class SqlLaunchStore:
    def __init__(self, pool: asyncpg.Pool, *, prefix: str) -> None:
        self._pool = pool
        self._prefix = prefix

    async def insert(self, launch: Launch) -> bool:
        """Store `launch`; False when its symbol (or mint) is already stored (nothing written)."""
        row = await self._pool.fetchval(
            _INSERT,
            self._prefix,
            launch.symbol,
            launch.mint,
            launch.decimals,
            launch.venue,
            launch.quote_token,
            launch.mint_authority_revoked,
            launch.freeze_authority_revoked,
            launch.opens_at,
            launch.launched_at,
        )
        return row is not None

    async def all(self) -> list[Launch]:
        rows = await self._pool.fetch(_ALL, self._prefix)
        return [
            Launch(
                symbol=r["symbol"],
                mint=r["mint"],
                decimals=r["decimals"],
                venue=r["venue"],
                quote_token=r["quote_token"],
                mint_authority_revoked=r["mint_authority_revoked"],
                freeze_authority_revoked=r["freeze_authority_revoked"],
                opens_at=r["opens_at"],
                launched_at=r["launched_at"],
            )
            for r in rows
        ]
