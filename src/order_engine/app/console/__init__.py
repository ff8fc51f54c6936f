"""The console: `GET /` serves a static page (HTML, CSS and JavaScript shipped in this package, no build step) that
uses only the public API — `POST /api/orders/execute`, cancel, the order streams and `/api/stream` for prices, the
newest orders and the book — and, where the engine has them, the `/api/sim` controls."""

from __future__ import annotations

from pathlib import Path

from litestar import get
from litestar.response import File
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

STATIC = Path(__file__).parent / "static"


@get("/", include_in_schema=False, sync_to_thread=False)
def console_page() -> File:
    return File(STATIC / "index.html", media_type="text/html", content_disposition_type="inline")


def console_routes() -> list[ControllerRouterHandler]:
    return [console_page, create_static_files_router(path="/console", directories=[STATIC], include_in_schema=False)]
