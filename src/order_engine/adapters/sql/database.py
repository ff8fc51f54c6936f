"""Schema migration (advanced-alchemy's Alembic commands) and what counts as the database being down."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from advanced_alchemy.config import AlembicAsyncConfig, EngineConfig, SQLAlchemyAsyncConfig
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"

# SQLSTATEs that say the server is unreachable or going away, not that the statement was wrong: class 08
# (connection exception), 57P01/57P02 (sessions ended by an admin or crash shutdown), 57P03 ("the database
# system is shutting down / starting up": refused connects during a restart), 53300 (too many connections).
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` (from asyncpg) means PostgreSQL is down or restarting (retry later), False for a
    real error (a bug, or a statement the server rejected)."""
    if isinstance(exc, OSError):  # refused, reset, timed out (a lost connection is SQLSTATE 08003)
        return True
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        # A pooled connection never runs two statements at once, so "another operation is in progress" means
        # the server's FATAL (shutting down) reached the connection and the socket's EOF has not yet: an outage.
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(UNAVAILABLE_SQLSTATES)


def sqlalchemy_config(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> SQLAlchemyAsyncConfig:
    """For migrations and tools (the service itself runs on adapters/sql/pool.py). `url` is a
    `postgresql+asyncpg://` URL; pool_size 0 means no pooling (one-shot tools)."""
    pooling = (
        {"pool_size": pool_size, "max_overflow": max_overflow, "pool_pre_ping": True, "pool_timeout": 10}
        if pool_size
        else {"poolclass": NullPool}
    )
    # Fail fast instead of hanging when the server is unreachable: 5 s to connect, 30 s per statement.
    pooling["connect_args"] = {"timeout": 5, "command_timeout": 30}
    return SQLAlchemyAsyncConfig(
        connection_string=url,
        engine_config=EngineConfig(**pooling),
        alembic_config=AlembicAsyncConfig(
            script_location=str(MIGRATIONS),
            script_config=str(MIGRATIONS / "alembic.ini"),
            version_table_name="alembic_version",
        ),
        create_all=False,
    )


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the schema to `revision` (blocking; call it outside a running event loop)."""
    from advanced_alchemy.alembic.commands import AlembicCommands

    AlembicCommands(sqlalchemy_config=sqlalchemy_config(url, pool_size=0)).upgrade(revision)
