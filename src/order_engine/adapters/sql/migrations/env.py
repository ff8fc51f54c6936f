"""Alembic environment: runs migrations on the async engine advanced-alchemy hands over."""

import asyncio
from typing import TYPE_CHECKING, cast

from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import AsyncEngine, async_engine_from_config

from order_engine.adapters.sql.market_models import MarketPoolRow  # noqa: F401  (its table joins the metadata)
from order_engine.adapters.sql.models import OrderRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

config = context.config
target_metadata = OrderRow.metadata


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=getattr(config, "version_table_name", "alembic_version"),
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=config.db_url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: "Connection") -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = getattr(config, "engine", None)
    if engine is None:
        section = config.get_section(config.config_ini_section) or {}
        engine = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    connectable = cast("AsyncEngine", engine)
    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
