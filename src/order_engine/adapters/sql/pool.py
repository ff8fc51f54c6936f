"""The asyncpg pool the repository runs on: one round trip per statement, nothing else on the wire.

SQLAlchemy (through advanced-alchemy) owns the schema and its Alembic migrations; the hot path's
handful of statements go straight to asyncpg. The first benchmark profile showed SQLAlchemy's
statement layer at 54 % of the worker's CPU and, with `pool_pre_ping` and explicit transactions,
36 round trips per order where 6 suffice (BENCHMARKS.md, "Cost per order").
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec

_encode_json = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode
_JSONB_VERSION = b"\x01"  # jsonb's binary wire format: a version byte, then the JSON text

# Timeouts: fail fast when the server is unreachable (5 s to connect) or a statement hangs (30 s).
CONNECT_TIMEOUT_S = 5
COMMAND_TIMEOUT_S = 30


def asyncpg_dsn(url: str) -> str:
    """`postgresql+asyncpg://…` (SQLAlchemy's spelling) or `postgres://…` → `postgresql://…`."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", *parts[1:]))


def _encode_jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + _encode_json(value)


def _decode_jsonb(data: bytes) -> Any:
    return _decode_json(data[1:])


async def _init(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=_encode_jsonb, decoder=_decode_jsonb, format="binary"
    )


async def _no_reset(_: asyncpg.Connection) -> None:
    """asyncpg resets a connection on release with a round trip (RESET ALL, UNLISTEN *, …). Our statements
    set no session state and hold no transaction across a release, so there is nothing to reset."""


async def warm_up(pool: asyncpg.Pool, connections: int) -> int:
    """Open `connections` connections now rather than under the first burst of load (opening one forks a
    server process and prepares the JSONB codec: milliseconds each, paid by a waiting request). Best
    effort: returns how many opened; a database that is down is not an error here."""

    async def one() -> bool:
        try:
            async with pool.acquire() as conn:
                await conn.fetchval("select 1")
                await asyncio.sleep(0.05)  # hold it, so the others open connections of their own
            return True
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False

    return sum(await asyncio.gather(*(one() for _ in range(connections))))


async def create_pool(url: str, *, min_size: int = 0, max_size: int = 10) -> asyncpg.Pool:
    """A pool on `url`. Connections open on first use (so a process starts while PostgreSQL is down) up
    to `max_size`: size it for the concurrency."""
    return await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        init=_init,
        reset=_no_reset,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=COMMAND_TIMEOUT_S,
        max_inactive_connection_lifetime=300,
    )
