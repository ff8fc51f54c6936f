"""Engine configuration (advanced-alchemy) and schema migration (Alembic)."""

from __future__ import annotations

from pathlib import Path

from advanced_alchemy.config import AlembicAsyncConfig, EngineConfig, SQLAlchemyAsyncConfig
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlalchemy_config(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> SQLAlchemyAsyncConfig:
    """`url` is a `postgresql+asyncpg://` URL; pool_size 0 means no pooling (one-shot tools)."""
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
