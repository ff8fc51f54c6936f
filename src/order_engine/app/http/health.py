"""GET /health: 200 when PostgreSQL and Redis answer, 503 naming what does not."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from order_engine.app.http.schemas import Health, HealthChecks
from order_engine.app.services import Services

CHECK_TIMEOUT_S = 2.0


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
        return "ok"
    except Exception as exc:  # any failure is "down", reported by name
        return f"down: {type(exc).__name__}"


async def _db(services: Services) -> None:
    await services.pool.fetchval("select 1")


@get("/health/live", tags=["ops"])
async def live() -> dict[str, str]:
    """Liveness only: the process answers. Touches neither PostgreSQL nor Redis (benchmarks' trivial route)."""
    return {"status": "ok"}


@get(
    "/health",
    tags=["ops"],
    responses={503: ResponseSpec(Health, description="A dependency is down (named)", generate_examples=False)},
)
async def health(services: NamedDependency[Services]) -> Response[Health]:
    database, redis = await asyncio.gather(_check(_db(services)), _check(services.redis.ping()))
    ok = database == "ok" and redis == "ok"
    body = Health(status="ok" if ok else "degraded", checks=HealthChecks(database=database, redis=redis))
    return Response(body, status_code=200 if ok else 503)
