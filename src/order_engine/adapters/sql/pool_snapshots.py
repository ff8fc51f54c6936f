"""The market's pools in PostgreSQL (`market_pools`, migration 0004): saved by the market leader, read back when
Redis has lost them.

Rows are keyed by the Redis key prefix as well as venue and pair, so markets that share a database but not a
prefix (test stacks, a staging next to production) never restore each other's pools. One statement each way
on the asyncpg pool. Reserves travel as decimal text and are stored as NUMERIC(78, 0),
so they come back as the same ints to the unit. A save only ever moves a row forward: a writer holding an older
version of a pool (a leader that lost its lease mid-tick) changes nothing. A launch pool's opening and fee
schedule travel with it (columns of migration 0005).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from order_engine.domain.amm import Pool

_SAVE = """
INSERT INTO market_pools (key_prefix, venue, base, quote, base_decimals, quote_decimals, fee_bps, base_reserve,
                          quote_reserve, version, updated_at, opens_at_ms, launch_fee_bps, fee_decay_ms)
SELECT $1, venue, base, quote, base_decimals, quote_decimals, fee_bps, base_reserve::numeric, quote_reserve::numeric,
       version, now(), opens_at_ms, launch_fee_bps, fee_decay_ms
FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[], $8::text[], $9::text[], $10::bigint[],
            $11::bigint[], $12::bigint[], $13::bigint[])
  AS s(venue, base, quote, base_decimals, quote_decimals, fee_bps, base_reserve, quote_reserve, version,
       opens_at_ms, launch_fee_bps, fee_decay_ms)
ON CONFLICT (key_prefix, venue, base, quote) DO UPDATE SET
  base_decimals = excluded.base_decimals, quote_decimals = excluded.quote_decimals, fee_bps = excluded.fee_bps,
  base_reserve = excluded.base_reserve, quote_reserve = excluded.quote_reserve, version = excluded.version,
  updated_at = excluded.updated_at, opens_at_ms = excluded.opens_at_ms, launch_fee_bps = excluded.launch_fee_bps,
  fee_decay_ms = excluded.fee_decay_ms
WHERE market_pools.version < excluded.version
"""

_LOAD = """
SELECT venue, base, quote, base_decimals, quote_decimals, fee_bps, base_reserve::text, quote_reserve::text, version,
       opens_at_ms, launch_fee_bps, fee_decay_ms
FROM market_pools WHERE key_prefix = $1 ORDER BY venue, base, quote
"""


class SqlPoolSnapshots:
    """The snapshot of the market under one Redis key prefix."""

    def __init__(self, pool: asyncpg.Pool, *, prefix: str) -> None:
        self._pool = pool
        self._prefix = prefix

    async def save(self, pools: Sequence[Pool]) -> int:
        """Upsert every pool in one statement, each only over an older version; how many rows it wrote."""
        if not pools:
            return 0
        columns = [
            [p.venue for p in pools],
            [p.base for p in pools],
            [p.quote for p in pools],
            [p.base_decimals for p in pools],
            [p.quote_decimals for p in pools],
            [p.fee_bps for p in pools],
            [str(p.base_reserve) for p in pools],
            [str(p.quote_reserve) for p in pools],
            [p.version for p in pools],
            [p.opens_at_ms for p in pools],
            [p.launch_fee_bps for p in pools],
            [p.fee_decay_ms for p in pools],
        ]
        status = await self._pool.execute(_SAVE, self._prefix, *columns)  # "INSERT 0 <rows>"
        return int(status.rsplit(" ", 1)[-1])

    async def load(self) -> list[Pool]:
        """Every pool saved, as it was saved (ordered by venue, then pair)."""
        rows = await self._pool.fetch(_LOAD, self._prefix)
        return [
            Pool(
                venue=r["venue"],
                base=r["base"],
                quote=r["quote"],
                base_reserve=int(r["base_reserve"]),
                quote_reserve=int(r["quote_reserve"]),
                base_decimals=r["base_decimals"],
                quote_decimals=r["quote_decimals"],
                fee_bps=r["fee_bps"],
                version=r["version"],
                opens_at_ms=r["opens_at_ms"],
                launch_fee_bps=r["launch_fee_bps"],
                fee_decay_ms=r["fee_decay_ms"],
            )
            for r in rows
        ]
