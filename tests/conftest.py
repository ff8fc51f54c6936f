"""Shared fixtures: a fresh PostgreSQL database, a Redis URL and a per-session key prefix.

With TEST_DATABASE_URL / TEST_REDIS_URL set (e.g. postgresql://postgres@127.0.0.1:5432/test,
redis://127.0.0.1:6379/0) those servers are used; otherwise private ones are started on first
use (never for tests that don't ask for them). Every session gets its own database and key
prefix, and removes both at the end, so runs never see each other's leftovers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from order_engine_embedded import EmbeddedServices, create_database, drop_database, with_database


@pytest.fixture(scope="session")
def key_prefix() -> str:
    """Unique per session: use it for queue names, channel prefixes and keys."""
    return f"oetest-{secrets.token_hex(6)}"


def _new_data_dir() -> Iterator[Path]:
    # Not under tmp_path: each pytest start resets /tmp/pytest-of-<user> to 0700, which locks out
    # the `pgserver` user PostgreSQL runs as when the tests run as root (initdb then fails).
    path = Path(tempfile.mkdtemp(prefix="oe-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """An empty directory, removed afterwards, for tests that start their own EmbeddedServices."""
    yield from _new_data_dir()


@pytest.fixture(scope="session")
def embedded_services() -> Iterator[EmbeddedServices]:
    for data_dir in _new_data_dir():
        with EmbeddedServices(data_dir, persistent=False) as services:
            yield services


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Plain postgresql:// URL of a database created for this session and dropped after it."""
    admin_url = os.environ.get("TEST_DATABASE_URL") or request.getfixturevalue("embedded_services").database_url
    name = f"oe_test_{secrets.token_hex(6)}"
    create_database(admin_url, name)
    yield with_database(admin_url, name)
    drop_database(admin_url, name)


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest, key_prefix: str) -> Iterator[str]:
    """redis:// URL; at session end every key containing `key_prefix` is deleted."""
    url = os.environ.get("TEST_REDIS_URL") or request.getfixturevalue("embedded_services").redis_url
    yield url
    delete_keys(url, f"*{key_prefix}*")


def delete_keys(url: str, pattern: str) -> int:
    """Delete the keys matching `pattern` with SCAN (the server may be shared: no FLUSHDB)."""
    import redis

    client = redis.Redis.from_url(url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.unlink(*batch)
                batch.clear()
        if batch:
            deleted += client.unlink(*batch)
    finally:
        client.close()
    return deleted
