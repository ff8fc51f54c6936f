"""Abuse limits and the operator credential that guards the SAQ UI (which can retry and abort jobs)."""

from __future__ import annotations

import base64
import binascii
import contextlib
from datetime import timedelta
from hmac import compare_digest
from typing import Any

import structlog
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.stores.redis import RedisStore
from litestar.types import Guard
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = structlog.get_logger("order_engine.api")

REALM = 'Basic realm="order-engine operators"'


def _presented_secret(authorization: str) -> str | None:
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            _user, _, password = base64.b64decode(credentials.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password
    return None


def operator_guard(token: str) -> Guard:
    """Bearer <token>, or Basic auth with any user name and <token> as the password (browsers prompt)."""

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
    ) -> None:  # async: no thread hop
        secret = _presented_secret(connection.headers.get("authorization", ""))
        if secret is None or not compare_digest(secret.encode(), token.encode()):
            raise NotAuthorizedException(
                detail="operator credential required (ORDER_ENGINE_ADMIN_TOKEN)",
                headers={"WWW-Authenticate": REALM},
            )

    return guard


class FailOpenRedisStore(RedisStore):
    """The rate limiter's store: when Redis is down, requests pass unthrottled instead of failing.

    Reads of orders come from PostgreSQL and must keep working through a Redis outage; the
    order endpoint itself still answers 503 when it cannot queue.
    """

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        try:
            return await super().get(key, renew_for)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("rate limit store unavailable; not throttling", error=repr(exc))
            return None

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError):
            await super().set(key, value, expires_in)


def api_rate_limit(per_minute: int) -> RateLimitConfig | None:
    """Per-client (remote address) request limit, counted in the Redis store named `rate_limit`."""
    if per_minute <= 0:
        return None
    return RateLimitConfig(
        rate_limit=("minute", per_minute),
        store="rate_limit",
        exclude=["/health", "/saq", "/schema", "/metrics"],
    )
