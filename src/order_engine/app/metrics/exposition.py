"""How metrics leave a process.

- One host: every process writes its values to files in PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess
  mode); the API's `/metrics` adds every process up. `order-engine dev` makes and wipes that directory and marks each
  child dead when it exits (so its live gauges drop out); every process marks itself dead on a clean exit.
- Across hosts: a worker or watcher started with ORDER_ENGINE_METRICS_PORT serves its own values on that port
  (`/metrics`, any path), and the API's `/metrics` serves the API's; Prometheus scrapes each. (Use one way or the
  other: with both, a process on the API's host would be counted twice.)
"""

from __future__ import annotations

import atexit
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog
from litestar import Request, get
from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.registry import Collector

from order_engine.app.http.security import operator_guard
from order_engine.app.metrics.http import CachedLabelsMiddleware
from order_engine.app.settings import Settings

log = structlog.get_logger("order_engine.metrics")

ENV = "PROMETHEUS_MULTIPROC_DIR"
NOT_MEASURED = ["/metrics", "/health", "/saq", "/schema"]  # HTTP metrics leave these out


def multiproc_dir() -> Path | None:
    raw = os.environ.get(ENV) or os.environ.get(ENV.lower())
    return Path(raw) if raw else None


def prepare_dir(path: Path) -> None:
    """An empty directory for a new run's files (the last run's counters must not carry over)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)


def mark_dead(pid: int, directory: Path | None = None) -> None:
    """Drop a process's live gauges (open sockets) from the sums; its counters stay, as they should."""
    directory = directory or multiproc_dir()
    if directory is not None and directory.is_dir():
        multiprocess.mark_process_dead(pid, str(directory))


def join_multiprocess() -> None:
    """At a process's start: the multiprocess directory made if it is missing, and this process marked dead in it
    when it exits cleanly (`order-engine dev` marks a child that was killed)."""
    directory = multiproc_dir()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        atexit.register(mark_dead, os.getpid(), directory)


class _ThisProcess(Collector):
    """The default registry's metrics (one process, no multiprocess directory)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def scrape_registry(*extra: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if multiproc_dir() is not None:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    for collector in extra:
        registry.register(collector)
    return registry


def http_metrics() -> PrometheusConfig:
    """Litestar's own request metrics (`order_engine_http_*`), one series per route template."""
    return PrometheusConfig(
        app_name="order-engine",
        prefix="order_engine_http",
        group_path=True,
        exclude=NOT_MEASURED,
        scopes={ScopeType.HTTP},
        middleware_class=CachedLabelsMiddleware,
    )


def metrics_controller(settings: Settings) -> type[PrometheusController]:
    """`GET /metrics` (Prometheus text format): behind the admin token when one is set, like /saq; not rate-limited
    (app/http/security.py). Adds the queues' depth, read now (app/metrics/queue_depth.py)."""

    class MetricsController(PrometheusController):
        path = "/metrics"
        guards = [operator_guard(settings.admin_token)] if settings.admin_token else None
        include_in_schema = False

        @get()
        async def get(self, request: Request[Any, Any, Any]) -> Response:  # type: ignore[override]
            depth = getattr(request.app.state, "queue_depth", None)
            if depth is not None:
                await depth.refresh()
            registry = scrape_registry(*([depth] if depth is not None else []))
            return Response(generate_latest(registry), status_code=200, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return MetricsController


def serve_port(settings: Settings, role: str) -> None:
    """A worker's or watcher's own /metrics on ORDER_ENGINE_METRICS_PORT (0: none)."""
    if not settings.metrics or not settings.metrics_port:
        return
    from prometheus_client import start_http_server

    own = CollectorRegistry(auto_describe=False)
    own.register(_ThisProcess())  # this process's values only, even in multiprocess mode (see the module's doc)
    start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=own)
    log.info("metrics listening", role=role, url=f"http://{settings.metrics_host}:{settings.metrics_port}/metrics")
