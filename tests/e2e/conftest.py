"""End-to-end fixtures: migrated database, then stacks of real API + worker processes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stack import Stack, cli, migrated_database_of_its_own, stack_env

StackFactory = Callable[..., Stack]


@pytest.fixture(scope="session")
def migrated_database(database_url: str, redis_url: str) -> str:
    """Runs `order-engine migrate` as a user would."""
    env = stack_env(database_url, redis_url, "migrate")
    done = subprocess.run(cli("migrate"), env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return database_url


@pytest.fixture(scope="module")
def start_stack(
    migrated_database: str,
    redis_url: str,
    key_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[StackFactory]:
    """Stacks live for one test module: their connection pools are gone before the next module runs."""
    stacks: list[Stack] = []
    log_dir: Path = tmp_path_factory.mktemp("stack-logs")
    module = request.module.__name__.removeprefix("test_")

    def start(name: str, *, workers: int = 1, watchers: int = 0, database_url: str | None = None, **env: str) -> Stack:
        stack = Stack(
            name=f"{module}-{name}",
            env=stack_env(database_url or migrated_database, redis_url, f"{key_prefix}-{module}-{name}", **env),
            log_dir=log_dir,
            workers=workers,
            watchers=watchers,
        )
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="module")
def stack(start_stack: StackFactory) -> Stack:
    """The default stack: fast mock DEX (latency ×0.02), no injected failures."""
    return start_stack("main")


@pytest.fixture(scope="module")
def own_database(database_url: str, redis_url: str) -> Iterator[str]:
    """A database of the module's own, migrated: for stacks with a watcher, which rebuilds from *every*
    resting order in its database (in the shared one it would find other modules' orders)."""
    yield from migrated_database_of_its_own(database_url, redis_url)
