"""Seeding the pools Redis lacks: from the PostgreSQL snapshot first, from the starting table only for pools never
snapshotted. A pool Redis has is never overwritten (`RedisPoolStore.seed` creates only what is absent).

Run by every process at start-up (`bootstrap.market_pools`) and by the market leader when it finds pools missing
(Redis restarted empty). What a restart loses is what changed since the last snapshot: at most one tick.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import attrs
import structlog

from order_engine.adapters.market.pools import RedisPoolStore
from order_engine.adapters.sql.database import is_unavailable
from order_engine.domain.amm import Pool

log = structlog.get_logger("order_engine.market")


class PoolSnapshots(Protocol):
    async def save(self, pools: Sequence[Pool]) -> int: ...

    async def load(self) -> list[Pool]: ...


@attrs.frozen
class Restored:
    from_snapshot: int  # pools created in Redis from the snapshot
    from_table: int  # pools created from the starting table (never snapshotted)
    snapshot_read: bool = True  # False: PostgreSQL was unreachable, nothing was seeded


def pool_key(pool: Pool) -> tuple[str, str, str]:
    return pool.venue, pool.base, pool.quote


async def restore_pools(store: RedisPoolStore, snapshots: PoolSnapshots, table: Iterable[Pool]) -> Restored:
    """Create every pool Redis lacks: the snapshot's, then the table's for pools the snapshot does not have.

    With PostgreSQL unreachable nothing is seeded (seeding the table then could shadow a snapshot for good,
    since an existing pool is never overwritten); the market leader tries again each tick while pools are
    missing. Any other database error (no `market_pools` table: not migrated) is raised.
    """
    try:
        saved = await snapshots.load()
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("market pools not restored: PostgreSQL unavailable, tried again later", error=repr(exc))
        return Restored(0, 0, snapshot_read=False)
    known = {pool_key(p) for p in saved}
    from_snapshot = await store.seed(saved) if saved else 0
    fresh = [p for p in table if pool_key(p) not in known]
    from_table = await store.seed(fresh) if fresh else 0
    restored = Restored(from_snapshot, from_table)
    if from_snapshot or from_table:
        log.info("market pools seeded", from_snapshot=from_snapshot, from_table=from_table, snapshotted=len(saved))
    return restored
