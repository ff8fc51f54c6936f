"""Fixtures for the adapter integration tests: a migrated database, an engine, a repository and Redis."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from order_engine.adapters.sql.database import migrate, sqlalchemy_config
from order_engine.adapters.sql.pool import create_pool
from order_engine.adapters.sql.repository import SqlOrderRepository
from order_engine.app.settings import asyncpg_url


def run_in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking call that uses asyncio.run (Alembic's env.py) away from the test loop's thread."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn(*args)
        except BaseException as exc:  # re-raised in the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name="migrate")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    """The session database upgraded to head, as a `postgresql+asyncpg://` URL."""
    url = asyncpg_url(database_url)
    run_in_thread(migrate, url)
    return url


@pytest.fixture(scope="session")
async def engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    eng = sqlalchemy_config(migrated_url).get_engine()
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
async def pool(migrated_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(migrated_url, max_size=20)
    yield p
    await p.close()


@pytest.fixture
def repo(pool: asyncpg.Pool) -> SqlOrderRepository:
    return SqlOrderRepository(pool)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
