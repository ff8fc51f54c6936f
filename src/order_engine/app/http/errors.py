"""Every error leaves as JSON naming the problem: 4xx for the client's, 503 for a dependency down, never a traceback."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from order_engine.adapters.sql.database import is_unavailable
from order_engine.domain.errors import (
    IdempotencyConflict,
    InvalidOrder,
    MarketUnavailable,
    OrderNotFound,
    QueueUnavailable,
    TooLate,
)

log = structlog.get_logger("order_engine.api")


def problem(status: int, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response({"status_code": status, "detail": detail, **extra}, status_code=status, media_type=MediaType.JSON)


def invalid_order(_: Request[Any, Any, Any], exc: InvalidOrder) -> Response[dict[str, Any]]:
    return problem(HTTP_400_BAD_REQUEST, str(exc), field=exc.field)


def idempotency_conflict(request: Request[Any, Any, Any], exc: IdempotencyConflict) -> Response[dict[str, Any]]:
    """The key is taken by a different request: 422, as Stripe and the IETF idempotency-key draft answer."""
    log.info("request rejected: idempotency key reused", path=request.url.path)
    return problem(HTTP_422_UNPROCESSABLE_ENTITY, f"Idempotency-Key: {exc.message}", field="Idempotency-Key")


_FIELD_PATTERNS = (re.compile(r"at `\$\.([^`\[]+)"), re.compile(r"field `([^`]+)`"))


def field_of(key: object, message: str) -> str | None:
    if isinstance(key, str) and key not in {"body", "data"}:
        return key
    for pattern in _FIELD_PATTERNS:
        if match := pattern.search(message):
            return match.group(1)
    return None


def validation_failed(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar/msgspec decode errors, rewritten so the detail names the field."""
    fields: list[str] = []
    parts: list[str] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            message = str(item.get("message", ""))
            name = field_of(item.get("key"), message)
            fields += [name] if name else []
            parts.append(f"{name}: {message}" if name and not message.startswith("Object") else message)
    detail = "; ".join(parts) or exc.detail
    log.info("request rejected", path=request.url.path, detail=detail)
    return problem(HTTP_400_BAD_REQUEST, detail, **({"field": fields[0]} if fields else {}))


def not_utf8(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[dict[str, Any]]:
    """msgspec reports invalid UTF-8 inside a JSON string as UnicodeDecodeError, not as a decode error."""
    log.info("request rejected: not UTF-8", path=request.url.path, error=str(exc))
    return problem(HTTP_400_BAD_REQUEST, f"request body is not valid UTF-8 JSON: {exc.reason} at byte {exc.start}")


def too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    """msgspec gives up on deep nesting with a RecursionError when it decodes untyped (Litestar's default for
    a body without a DTO; the order body is decoded typed and stops at the first wrong bracket)."""
    if "deserializing" not in str(exc):  # not the JSON decoder's: a bug
        return unexpected(request, exc)
    log.info("request rejected: JSON nested too deeply", path=request.url.path)
    return problem(HTTP_400_BAD_REQUEST, "request body is not valid JSON: nested too deeply")


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if exc.status_code >= 500:
        log.error("server error", status=exc.status_code, detail=exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 429 and "RateLimit-Reset" in headers:
        headers["Retry-After"] = str(max(1, int(headers["RateLimit-Reset"])))
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=headers, media_type=MediaType.JSON)


def database_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Lost or refused connections, and a server shutting down or starting up, are an outage (503);
    anything else is a bug (500)."""
    if is_unavailable(exc):
        return dependency_down(request, exc)
    return unexpected(request, exc)


def what_is_down(exc: BaseException) -> str | None:
    """The client's message when `exc` means Redis or PostgreSQL is unreachable (retry later), else None.
    One wording for HTTP's 503 and the WebSockets' 1013."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "queue (Redis) unavailable, try again shortly"
    if is_unavailable(exc):
        return "database unavailable, try again shortly"
    return None


def dependency_down(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    detail = what_is_down(exc) or "database unavailable, try again shortly"
    log.warning("dependency unavailable", path=request.url.path, detail=detail, error=repr(exc))
    return problem(HTTP_503_SERVICE_UNAVAILABLE, detail)


def queue_unavailable(request: Request[Any, Any, Any], exc: QueueUnavailable) -> Response[dict[str, Any]]:
    log.warning("order rejected: queue unavailable", path=request.url.path, order_id=str(exc.order_id))
    return problem(HTTP_503_SERVICE_UNAVAILABLE, "queue (Redis) unavailable; the order was not accepted, try again")


def too_late(_: Request[Any, Any, Any], exc: TooLate) -> Response[dict[str, Any]]:
    return problem(HTTP_409_CONFLICT, str(exc), orderStatus=exc.status)


def not_found(_: Request[Any, Any, Any], exc: OrderNotFound) -> Response[dict[str, Any]]:
    return problem(HTTP_404_NOT_FOUND, str(exc))


def market_unavailable(request: Request[Any, Any, Any], exc: MarketUnavailable) -> Response[dict[str, Any]]:
    log.warning("order rejected: market unavailable", path=request.url.path, error=str(exc))
    return problem(HTTP_503_SERVICE_UNAVAILABLE, str(exc))


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", path=request.url.path, method=request.method)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "internal server error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    InvalidOrder: invalid_order,
    IdempotencyConflict: idempotency_conflict,
    QueueUnavailable: queue_unavailable,
    TooLate: too_late,
    OrderNotFound: not_found,
    MarketUnavailable: market_unavailable,
    ValidationException: validation_failed,
    UnicodeDecodeError: not_utf8,
    RecursionError: too_deep,
    HTTPException: http_error,
    asyncpg.PostgresError: database_error,
    asyncpg.InterfaceError: database_error,
    asyncpg.exceptions.InternalClientError: database_error,
    OSError: dependency_down,
    RedisConnectionError: dependency_down,
    RedisTimeoutError: dependency_down,
    Exception: unexpected,
}
