"""The API docs and the SAQ UI as a browser without internet access sees them.

A real app (in-process, served by uvicorn on a loopback port, so paths reach it as a browser sends
them) over real PostgreSQL and Redis. Every page that is served must load everything it references
from this origin; renderers whose assets are not packaged must not be served at all.
"""

from __future__ import annotations

import base64
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import uvicorn

from order_engine.app.http.app import create_app
from order_engine.app.settings import Settings

DOCS_PAGES = ["/schema", "/schema/", "/schema/swagger"]
NOT_PACKAGED = ["/schema/redoc", "/schema/elements", "/schema/rapidoc", "/schema/scalar"]
TOKEN = "docs-s3cret"


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """create_app(settings) behind uvicorn in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_config=None, lifespan="on", loop="asyncio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="docs-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive(), "the API did not start"
            assert time.monotonic() < deadline, "the API did not start within 60 s"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def settings_for(migrated_url: str, redis_url: str, prefix: str, **overrides: object) -> Settings:
    return Settings(
        database_url=migrated_url,
        redis_url=redis_url,
        queue_name=f"{prefix}-q",
        key_prefix=prefix,
        log_json=True,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def api(migrated_url: str, redis_url: str, key_prefix: str) -> Iterator[httpx.Client]:
    with serve(settings_for(migrated_url, redis_url, f"{key_prefix}-docs")) as base:
        with httpx.Client(base_url=base, timeout=10) as client:
            yield client


@pytest.fixture(scope="module")
def guarded(migrated_url: str, redis_url: str, key_prefix: str) -> Iterator[httpx.Client]:
    settings = settings_for(migrated_url, redis_url, f"{key_prefix}-docs-guard", admin_token=TOKEN)
    with serve(settings) as base:
        with httpx.Client(base_url=base, timeout=10) as client:
            yield client


class References(HTMLParser):
    """Every src/href in a page, with the tag (and rel) that holds it."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []  # (tag, rel, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if value := values.get(name):
                self.found.append((tag, (values.get("rel") or "").lower(), value))


def references(html: str) -> list[tuple[str, str, str]]:
    parser = References()
    parser.feed(html)
    parser.close()
    return parser.found


CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.S)


def css_references(css: str) -> list[str]:
    return [m.group(2) or m.group(4) for m in CSS_URL.finditer(css)]


def same_origin(client: httpx.Client, page: str, ref: str) -> str | None:
    """The absolute URL of `ref` if it is on the client's origin, else None."""
    absolute = urljoin(urljoin(str(client.base_url), page), ref)
    parts, base = urlsplit(absolute), urlsplit(str(client.base_url))
    return absolute if (parts.scheme, parts.netloc) == (base.scheme, base.netloc) else None


EXPECTED_TYPES = {"script": ("javascript",), "stylesheet": ("text/css",), "icon": ("image/",)}


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_docs_page_is_served_as_html(api: httpx.Client, page: str) -> None:
    response = api.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle(" in response.text


@pytest.mark.parametrize("page", DOCS_PAGES)
def test_everything_a_docs_page_loads_is_same_origin_and_served(api: httpx.Client, page: str) -> None:
    refs = references(api.get(page).text)
    kinds = {"script" if tag == "script" else rel for tag, rel, _ in refs}
    assert {"script", "stylesheet", "icon"} <= kinds, refs  # the parse found what the page loads
    stylesheets: list[str] = []
    for tag, rel, ref in refs:
        url = same_origin(api, page, ref)
        assert url is not None, f"{page} loads {ref} from another origin"
        response = api.get(url)
        assert response.status_code == 200, f"{page}: {ref} answers {response.status_code}"
        kind = "script" if tag == "script" else rel
        content_type = response.headers["content-type"]
        assert any(t in content_type for t in EXPECTED_TYPES.get(kind, ("",))), f"{ref}: {content_type}"
        assert len(response.content) > 0
        if kind == "stylesheet":
            stylesheets.append(url)
    for css_url in stylesheets:
        for ref in css_references(api.get(css_url).text):
            if ref.startswith("data:"):
                continue
            url = same_origin(api, css_url, ref)
            assert url is not None, f"{css_url} loads {ref[:80]} from another origin"
            assert api.get(url).status_code == 200, f"{css_url}: {ref} is not served"


@pytest.mark.parametrize("page", NOT_PACKAGED)
def test_renderers_whose_assets_are_not_packaged_are_not_served(api: httpx.Client, page: str) -> None:
    assert api.get(page).status_code == 404


def test_only_the_files_the_docs_page_uses_are_served_from_the_package(api: httpx.Client) -> None:
    # the package's petstore demo (which loads its spec from the internet) stays out
    assert api.get("/schema/assets/swagger-ui/index.html").status_code == 404
    assert api.get("/schema/assets/swagger-ui/swagger-initializer.js").status_code == 404
    assert api.get("/schema/assets/swagger-ui/swagger-ui-es-bundle.js").status_code == 404


def test_the_schema_itself_is_served(api: httpx.Client) -> None:
    response = api.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.1") and "/api/orders/execute" in schema["paths"]
    assert api.get("/schema/openapi.yaml").status_code == 200


def test_saq_redirects_to_the_address_its_ui_knows(api: httpx.Client) -> None:
    redirect = api.get("/saq")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/saq/"
    assert redirect.content == b""
    assert api.get("/saq?x=1").headers["location"] == "/saq/?x=1"
    # a real browser follows it to the UI, which is then served (and not redirected again)
    ui = api.get("/saq", follow_redirects=True)
    assert ui.status_code == 200 and ui.url.path == "/saq/" and len(ui.history) == 1
    assert ui.headers["content-type"].startswith("text/html")
    assert 'const root_path = "/saq"' in ui.text
    assert api.get("/saq/?x=1").status_code == 200
    # its deep links are served too
    assert api.get("/saq/queues/anything").status_code == 200


def test_the_saq_ui_loads_its_assets_and_api_from_this_origin(api: httpx.Client) -> None:
    refs = references(api.get("/saq/").text)
    assert len(refs) >= 3, refs
    for _tag, _rel, ref in refs:
        url = same_origin(api, "/saq/", ref)
        assert url is not None, f"/saq/ loads {ref} from another origin"
        response = api.get(url)
        assert response.status_code == 200, f"/saq/: {ref} answers {response.status_code}"
        assert response.headers["content-type"].startswith(("text/css", "text/javascript"))
    queues = api.get("/saq/api/queues")
    assert queues.status_code == 200 and isinstance(queues.json()["queues"], list)


def test_with_an_admin_token_the_redirect_is_open_and_the_ui_guarded(guarded: httpx.Client) -> None:
    redirect = guarded.get("/saq")
    assert redirect.status_code == 308 and redirect.headers["location"] == "/saq/"
    assert redirect.content == b""  # nothing but the address
    refused = guarded.get("/saq/")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    assert "root_path" not in refused.text
    assert guarded.get("/saq/api/queues").status_code == 401
    basic = base64.b64encode(f"ops:{TOKEN}".encode()).decode()
    ui = guarded.get("/saq", headers={"Authorization": f"Basic {basic}"}, follow_redirects=True)
    assert ui.status_code == 200 and 'const root_path = "/saq"' in ui.text
    assert guarded.get("/saq/api/queues", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # the API docs are public either way
    assert guarded.get("/schema").status_code == 200
