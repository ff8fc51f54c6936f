"""Runs the service as a user would: PostgreSQL + Redis, then `order-engine api` / `order-engine worker` processes.

PostgreSQL and Redis are the embedded ones (order_engine_embedded, a fresh temporary data dir per run)
unless DATABASE_URL and REDIS_URL are set, in which case those servers are used. Each stack gets
its own queue name and key prefix, so scenarios never see each other's jobs or channels.

Which engine the processes import is the backing's `code` (an EngineCode): this working tree unless
`python -m bench --ab` points it at another checkout. The driver (this process) is always this tree.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
MAX_CONNECTIONS = 400  # two workers at concurrency 50 (pool 50 + overflow 50 each) plus API pools


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_port(port: int, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


@dataclass(frozen=True)
class EngineCode:
    """The checkout whose engine a process imports: `python -m order_engine.app.cli` from root/src, and the
    bench helpers that run inside an engine process (`-m bench.instrumented`) from root. Processes start
    with PYTHONPATH=root/src:root and their working directory at root (`-m` puts the cwd first on the path);
    the interpreter and its installed packages are this one's, whatever the checkout."""

    root: Path = ROOT
    settings: tuple[tuple[str, str], ...] = ()  # environment this side's processes run with (`--a-env`)

    def env(self) -> dict[str, str]:
        paths = [str(self.root / "src"), str(self.root)]
        if os.environ.get("PYTHONPATH"):
            paths.append(os.environ["PYTHONPATH"])
        return {"PYTHONPATH": os.pathsep.join(paths), **dict(self.settings)}

    def python(self, args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """Run this interpreter on this checkout's code (a helper that needs the engine under test)."""
        return subprocess.run([sys.executable, *args], env={**env, **self.env()}, cwd=self.root, **kwargs)


@dataclass
class Backing:
    """Where PostgreSQL and Redis are, and the processes that run them (for CPU accounting).

    Every stack gets a database of its own, copied from a migrated template: a worker's recovery
    sweep re-schedules any stale non-terminal order it finds, so orders one scenario leaves pending
    (the accept path runs no worker) must not be in the next scenario's database.
    """

    admin_url: str  # plain postgresql:// URL of a database on the server we may CREATE DATABASE from
    redis_url: str
    embedded: Any = None
    data_dir: Path | None = None
    run_id: str = field(default_factory=lambda: f"oebench-{secrets.token_hex(4)}")
    databases: list[str] = field(default_factory=list)
    template: str = ""  # URL of the migrated template database
    code: EngineCode = field(default_factory=EngineCode)  # whose engine the stacks run

    @classmethod
    def start(cls) -> Backing:
        database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
        if database_url and redis_url:
            backing = cls(database_url, redis_url)
        else:
            from order_engine_embedded import EmbeddedServices

            data_dir = Path(tempfile.mkdtemp(prefix="oe-bench-"))
            embedded = EmbeddedServices(data_dir, persistent=False)
            embedded.start()
            _run_sql(embedded.database_url, f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
            embedded.stop()  # max_connections needs a restart; the data dir stays
            embedded.start()
            backing = cls(database_url or embedded.database_url, redis_url or embedded.redis_url, embedded, data_dir)
        backing.template = backing._create(f"{backing.run_id.replace('-', '_')}_template")
        backing.migrate(backing.template)
        return backing

    def for_code(self, code: EngineCode, label: str) -> Backing:
        """The same servers for another checkout's engine: its own template, migrated by that checkout's
        own `migrate` (schemas differ between commits), and `label` in every database, key and queue name.
        Shares this backing's list of databases, so this backing's stop() removes them all."""
        other = replace(self, code=code, run_id=f"{self.run_id}-{label}")
        other.template = other._create(f"{other.run_id.replace('-', '_')}_template")
        other.migrate(other.template)
        return other

    def scoped(self, tag: str) -> Backing:
        """The same servers, code and template, with `tag` in every database, key prefix and queue name."""
        return replace(self, run_id=f"{self.run_id}-{tag}")

    @property
    def database_url(self) -> str:
        """The migrated template database (read-only use: versions, settings)."""
        return self.template

    def _create(self, name: str, template: str | None = None) -> str:
        from order_engine_embedded import with_database

        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        _run_sql(self.admin_url, sql)
        self.databases.append(name)
        return with_database(self.admin_url, name)

    def new_database(self, label: str) -> str:
        """A fresh, migrated database for one stack; its plain postgresql:// URL."""
        from urllib.parse import urlsplit

        template = urlsplit(self.template).path.lstrip("/")
        name = f"{self.run_id.replace('-', '_')}_{label.replace('-', '_')}_{len(self.databases)}"
        return self._create(name, template)

    def migrate(self, url: str) -> None:
        env = {**clean_env(), "DATABASE_URL": url, "REDIS_URL": self.redis_url}
        done = self.code.python(["-m", "order_engine.app.cli", "migrate"], env, capture_output=True, timeout=120)
        if done.returncode:
            raise RuntimeError("migrate failed:\n" + done.stderr.decode()[-3000:])

    def server_processes(self) -> dict[str, list[psutil.Process]]:
        """PostgreSQL (postmaster and backends) and Redis processes, for CPU accounting."""
        if self.embedded is not None:
            try:
                pg = psutil.Process(self.embedded.postgres_pid)
                pgs = [pg, *pg.children(recursive=True)]
            except psutil.Error:
                pgs = []
            redis = [psutil.Process(self.embedded.redis_pid)] if self.embedded.redis_pid else []
            return {"postgres": pgs, "redis": redis}
        found: dict[str, list[psutil.Process]] = {"postgres": [], "redis": []}
        for proc in psutil.process_iter(["name"]):
            name = proc.info["name"] or ""
            if name.startswith("postgres"):
                found["postgres"].append(proc)
            elif name.startswith("redis-server"):
                found["redis"].append(proc)
        return found

    def stop(self) -> None:
        import redis

        try:
            client = redis.Redis.from_url(self.redis_url)
            keys = list(client.scan_iter(match=f"*{self.run_id}*", count=1000))
            for i in range(0, len(keys), 1000):
                client.unlink(*keys[i : i + 1000])
            client.close()
        except redis.RedisError:
            pass
        if self.embedded is not None:
            self.embedded.stop()
        else:
            from order_engine_embedded import drop_database

            for name in reversed(self.databases):
                try:
                    drop_database(self.admin_url, name)
                except Exception:  # leave it; the name says what it was
                    pass
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _run_sql(url: str, sql: str) -> None:
    import asyncpg

    from order_engine_embedded.servers import _run, plain_url

    async def go() -> None:
        conn = await asyncpg.connect(plain_url(url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run(go())


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ORDER_ENGINE_") and k not in ("DATABASE_URL",)}


def engine_env(backing: Backing, name: str, database_url: str, **overrides: Any) -> dict[str, str]:
    """The settings every benchmark process runs with (README's variables); `overrides` per scenario."""
    prefix = f"{backing.run_id}-{name}"
    env = clean_env()
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=backing.redis_url,
        ORDER_ENGINE_KEY_PREFIX=prefix,
        ORDER_ENGINE_QUEUE_NAME=f"q-{prefix}",
        ORDER_ENGINE_LOG_LEVEL="WARNING",  # keep logging out of the numbers
        ORDER_ENGINE_LOG_JSON="true",
        ORDER_ENGINE_API_RATE_LIMIT_PER_MIN="0",
        ORDER_ENGINE_RATE_LIMIT="0",
        ORDER_ENGINE_DEX_LATENCY_SCALE="0",
        ORDER_ENGINE_DEX_SEED=prefix,
        ORDER_ENGINE_DEX_DRIFT_BPS="5",  # 10 sigma inside the 50 bps slippage: every order confirms
        ORDER_ENGINE_WORKER_CONCURRENCY="10",
        # Deep pools: thousands of same-way orders on one pool would otherwise move its price past the 50 bps
        # slippage (an engine run at c50 failed a third of its orders on slippage at depth 1).
        ORDER_ENGINE_MARKET_DEPTH_SCALE="1000",
        ORDER_ENGINE_MARKET_VOLATILITY_BPS="0",  # no flow between orders: the numbers stay comparable with earlier runs
    )
    # Metrics as `order-engine dev` runs them on one host: every process writing to one multiprocess directory.
    metrics_dir = Path(tempfile.gettempdir()) / "oe-bench-metrics" / prefix
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    env.update(backing.code.env())
    env.update({k: str(v) for k, v in overrides.items()})
    return env


@dataclass
class Proc:
    role: str
    popen: subprocess.Popen[bytes]
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def ps(self) -> psutil.Process:
        return psutil.Process(self.pid)


class Stack:
    """API and worker processes of one scenario (one queue, one key prefix)."""

    def __init__(self, backing: Backing, name: str, log_dir: Path, launcher: list[str] | None = None, **env: Any):
        self.backing = backing
        self.name = name
        self.log_dir = log_dir
        self.database_url = backing.new_database(name)
        self.env = engine_env(backing, name, self.database_url, **env)
        self.launcher = launcher or [sys.executable, "-m", "order_engine.app.cli"]
        self.apis: list[Proc] = []
        self.workers: list[Proc] = []
        self.watchers: list[Proc] = []

    @property
    def prefix(self) -> str:
        return self.env["ORDER_ENGINE_KEY_PREFIX"]

    def _spawn(self, role: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{self.name}-{role}.log").open("ab")
        cwd = self.backing.code.root
        return subprocess.Popen([*self.launcher, *args], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)

    async def start_api(self, ready_timeout_s: float = 60, **env: Any) -> Proc:
        port = free_port()
        role = f"api{len(self.apis)}"
        proc = Proc(role, self._spawn(role, ["api", "--port", str(port)], {**self.env, **_s(env)}), port)
        self.apis.append(proc)
        await self._wait_healthy(proc, ready_timeout_s)
        return proc

    async def start_worker(self, ready_timeout_s: float = 60, **env: Any) -> Proc:
        role = f"worker{len(self.workers)}"
        proc = Proc(role, self._spawn(role, ["worker"], {**self.env, **_s(env)}))
        self.workers.append(proc)
        await self._wait_worker(proc, ready_timeout_s)
        return proc

    async def start_watcher(self, timeout_s: float = 120, **env: Any) -> Proc:
        """A trigger watcher; returns once it is the active one (its status key names its lease token)."""
        import redis.asyncio as aioredis

        role = f"watcher{len(self.watchers)}"
        proc = Proc(role, self._spawn(role, ["watcher"], {**self.env, **_s(env)}))
        self.watchers.append(proc)
        client = aioredis.Redis.from_url(self.backing.redis_url)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"{role} exited; see {self.log_dir}/{self.name}-{role}.log")
                if await client.exists(f"{self.prefix}:watcher:status"):
                    return proc
                await asyncio.sleep(0.1)
        finally:
            await client.aclose()
        raise TimeoutError(f"{role} did not become active within {timeout_s} s")

    async def _wait_healthy(self, proc: Proc, timeout_s: float = 60) -> None:
        from bench.client import HttpClient, HttpError

        client = HttpClient("127.0.0.1", proc.port or 0, 1)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.role} exited; see {self.log_dir}/{self.name}-{proc.role}.log")
                try:
                    status, _ = await asyncio.wait_for(client.get("/health"), 2)
                    if status == 200:
                        return
                except (OSError, HttpError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        finally:
            await client.close()
        raise TimeoutError(f"{proc.role} not healthy after {timeout_s}s")

    async def _wait_worker(self, proc: Proc, timeout_s: float = 60) -> None:
        """A worker is up once it has registered with its queue in Redis (SAQ's worker stats key)."""
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.backing.redis_url)
        queue = self.env["ORDER_ENGINE_QUEUE_NAME"]
        deadline = time.monotonic() + timeout_s
        try:
            before = await _worker_keys(client, queue)
            while time.monotonic() < deadline:
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.role} exited; see {self.log_dir}/{self.name}-{proc.role}.log")
                if await _worker_keys(client, queue) - before:  # a registration that was not there before
                    await asyncio.sleep(0.3)  # the startup hook finishes right after
                    return
                await asyncio.sleep(0.1)
        finally:
            await client.aclose()
        raise TimeoutError(f"{proc.role} did not register within {timeout_s}s")

    def stop_workers(self) -> None:
        _stop([p.popen for p in self.workers])
        self.workers.clear()

    def stop(self) -> None:
        _stop([p.popen for p in self.workers + self.apis + self.watchers])
        self.workers.clear()
        self.apis.clear()
        self.watchers.clear()

    def pause_workers(self) -> None:
        for p in self.workers:
            p.popen.send_signal(signal.SIGSTOP)

    def resume_workers(self) -> None:
        for p in self.workers:
            p.popen.send_signal(signal.SIGCONT)


async def _worker_keys(client: Any, queue: str) -> set[bytes]:
    return {k async for k in client.scan_iter(match=f"saq:{queue}:worker_info:*", count=100)}


def _s(env: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in env.items()}


def _stop(procs: list[subprocess.Popen[bytes]], grace_s: float = 3.0) -> None:
    """SIGTERM, then SIGKILL after `grace_s`: a scenario's data is not needed after it, so no 10 s drains."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGCONT)
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class CpuMeter:
    """CPU used by each group of processes between start() and stop(), in % of one core.

    Groups are re-listed at stop, so a PostgreSQL backend opened meanwhile counts from its birth."""

    def __init__(self, groups: Callable[[], dict[str, list[psutil.Process]]]) -> None:
        self.groups = groups
        self._start: dict[int, float] = {}
        self._t0 = 0.0
        self._sys0: Any = None
        self.seconds: dict[str, float] = {}  # CPU seconds per group between the last start() and stop()

    @staticmethod
    def _cpu(proc: psutil.Process) -> float | None:
        try:
            t = proc.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return None

    def start(self) -> CpuMeter:
        self._t0 = time.monotonic()
        self._sys0 = psutil.cpu_times()
        self._start = {}
        for procs in self.groups().values():
            for p in procs:
                if (c := self._cpu(p)) is not None:
                    self._start[p.pid] = c
        return self

    def stop(self) -> dict[str, float]:
        elapsed = max(1e-6, time.monotonic() - self._t0)
        used: dict[str, float] = {}
        self.seconds = {}
        for name, procs in self.groups().items():
            total = 0.0
            for p in procs:
                if (c := self._cpu(p)) is not None:
                    total += c - self._start.get(p.pid, 0.0)
            self.seconds[name] = total
            used[name] = total / elapsed * 100
        sys1 = psutil.cpu_times()
        busy = sum(
            getattr(sys1, f) - getattr(self._sys0, f) for f in ("user", "system", "nice", "irq", "softirq", "steal")
        )
        used["machine"] = busy / elapsed * 100
        used["other"] = max(0.0, used["machine"] - sum(v for k, v in used.items() if k != "machine"))
        return used

    def ms_per(self, n: int) -> dict[str, float]:
        """CPU milliseconds per unit of work (order, request) of each engine and server group, over the
        last start()–stop() window (idle work in the window included), for `n` units done in it."""
        return {k: self.seconds.get(k, 0.0) * 1000 / max(1, n) for k in ("api", "worker", "postgres", "redis")}


def process_groups(backing: Backing, stacks: list[Stack]) -> Callable[[], dict[str, list[psutil.Process]]]:
    """API, worker, PostgreSQL, Redis and this client's processes, re-listed on each call."""

    def groups() -> dict[str, list[psutil.Process]]:
        found: dict[str, list[psutil.Process]] = {"api": [], "worker": [], "watcher": []}
        for stack in stacks:
            found["api"] += [p.ps() for p in stack.apis if p.popen.poll() is None]
            found["worker"] += [p.ps() for p in stack.workers if p.popen.poll() is None]
            found["watcher"] += [p.ps() for p in stack.watchers if p.popen.poll() is None]
        found.update(backing.server_processes())
        me = psutil.Process()
        found["client"] = [me, *me.children(recursive=True)]  # py-spy etc. would count here; engine pids are excluded
        engine = {p.pid for ps in (found["api"], found["worker"], found["watcher"]) for p in ps}
        found["client"] = [p for p in found["client"] if p.pid not in engine and p.pid not in _server_pids(found)]
        return found

    return groups


def _server_pids(found: dict[str, list[psutil.Process]]) -> set[int]:
    return {p.pid for k in ("postgres", "redis") for p in found.get(k, [])}
