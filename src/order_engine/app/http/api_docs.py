"""The API docs and the SAQ UI's front door, both working without internet access.

- `/schema` and `/schema/swagger`: Swagger UI, whose JS, CSS and favicon come from the installed
  `swagger-ui-bundle-v2` package, served same-origin under `/schema/assets/swagger-ui/` (Litestar's
  render plugins default to public CDNs, which leaves the pages blank when air-gapped). ReDoc,
  Stoplight Elements, RapiDoc and Scalar are not registered, so their paths answer 404: on PyPI
  only packages that pull in Django or FastAPI ship ReDoc, and none was found for the others. The
  schema itself stays at `/schema/openapi.json` and `/schema/openapi.yaml` (`.yml`).
- `/saq` -> `/saq/`: litestar-saq serves its UI's HTML at both, but the UI's client-side router only
  knows `/saq/...` and shows its own "404 not found" page at `/saq`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from litestar import Router
from litestar.file_system import BaseLocalFileSystem
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.types.composite_types import PathType
from litestar.types.file_types import FileInfo
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/schema"
SWAGGER_ASSETS_PATH = f"{DOCS_PATH}/assets/swagger-ui"
# What the Swagger UI page loads (the source map only when browser devtools ask for it).
SWAGGER_FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "swagger-ui.css.map",
    "favicon-32x32.png",
)


class _OnlyTheseFiles(BaseLocalFileSystem):
    """The package directory also holds Swagger UI's petstore demo (index.html loads its spec from the
    internet) and other bundles; serve just the files the docs page uses."""

    def __init__(self, files: frozenset[Path]) -> None:
        self._files = files

    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        if Path(path) not in self._files:
            raise FileNotFoundError(path)
        return await super().info(path, **kwargs)


def swagger_assets_dir() -> Path:
    directory = Path(swagger_ui_path).resolve()
    missing = [name for name in SWAGGER_FILES if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(f"swagger-ui-bundle-v2 at {directory} lacks {', '.join(missing)}; reinstall it")
    return directory


def openapi_config(*, title: str, version: str) -> OpenAPIConfig:
    """OpenAPI at `/schema` with a same-origin Swagger UI as its only HTML renderer (also at `/schema`)."""
    directory = swagger_assets_dir()
    assets = create_static_files_router(
        path=SWAGGER_ASSETS_PATH.removeprefix(DOCS_PATH),
        directories=[directory],
        file_system=_OnlyTheseFiles(frozenset(directory / name for name in SWAGGER_FILES)),
        name="openapi-assets",
    )
    swagger = SwaggerRenderPlugin(
        js_url=f"{SWAGGER_ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_ASSETS_PATH}/swagger-ui-standalone-preset.js",
        # Litestar's default favicon is on a CDN too.
        favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_ASSETS_PATH}/favicon-32x32.png'>",
        path="/swagger",
    )
    return OpenAPIConfig(
        title=title,
        version=version,
        # The first render plugin is also served at the root, /schema.
        render_plugins=[swagger, JsonRenderPlugin(), YamlRenderPlugin()],
        # The router the OpenAPI plugin adds its pages to, with the assets in it (as Litestar's own).
        openapi_router=Router(DOCS_PATH, route_handlers=[assets], include_in_schema=False, dto=None, return_dto=None),
    )


def redirect_to_trailing_slash(path: str) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware: a request for `path` exactly -> 308 to `path/` (query kept); all else passes through.

    Litestar's routing strips trailing slashes, so `/saq` and `/saq/` reach the same handler with the
    same `scope["path"]`; only the request's `raw_path` tells them apart (a server that sends none gets
    no redirect, never a loop). 308: `/saq/` is where the UI lives for good, and the method is kept
    (only GET reaches it). As middleware it answers before the route's guards: the redirect carries
    nothing but the address `/saq/`, which is still guarded.
    """
    raw = path.encode()
    target = f"{path.rstrip('/')}/".encode()

    def middleware(app: ASGIApp) -> ASGIApp:
        async def redirect_or_pass(scope: Scope, receive: Receive, send: Send) -> None:
            # (raw_path has no query string by the ASGI spec, but Litestar's TestClient puts it there)
            if scope["type"] == "http" and (scope.get("raw_path") or b"").partition(b"?")[0] == raw:
                query = scope.get("query_string", b"")
                location = target + (b"?" + query if query else b"")
                await send(
                    {
                        "type": "http.response.start",
                        "status": 308,
                        "headers": [(b"location", location), (b"content-length", b"0")],
                    }
                )
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await app(scope, receive, send)

        return redirect_or_pass

    return middleware
