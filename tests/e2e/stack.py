"""Runs the real thing for end-to-end tests: `order-engine api` and `order-engine worker` processes."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "order_engine.app.cli", *args]


@dataclass
class Stack:
    name: str
    env: dict[str, str]
    log_dir: Path
    workers: int = 1
    watchers: int = 0  # trigger watchers (one active, the others standing by)
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def key_prefix(self) -> str:
        return self.env["ORDER_ENGINE_KEY_PREFIX"]

    @property
    def queue_name(self) -> str:
        return self.env["ORDER_ENGINE_QUEUE_NAME"]

    def _spawn(self, role: str, *args: str) -> None:
        log = (self.log_dir / f"{self.name}-{role}.log").open("ab")
        self.procs[role] = subprocess.Popen(cli(*args), env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def start(self, timeout_s: float = 60) -> Stack:
        self._spawn("api", "api", "--port", str(self.port))
        for i in range(self.workers):
            self._spawn(f"worker{i}", "worker")
        for i in range(self.watchers):
            self._spawn(f"watcher{i}", "watcher")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for role, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{role} exited with {proc.returncode}; see {self.log_dir}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"stack {self.name} not healthy after {timeout_s}s; logs in {self.log_dir}")

    def kill(self, role: str) -> None:
        """SIGKILL one process: no cleanup, no graceful shutdown."""
        proc = self.procs[role]
        proc.kill()
        proc.wait()

    def terminate(self, role: str, timeout_s: float = 30) -> float:
        """SIGTERM one process (graceful shutdown) and wait for it; returns how long it took."""
        proc = self.procs[role]
        began = time.monotonic()
        proc.terminate()
        proc.wait(timeout=timeout_s)
        return time.monotonic() - began

    def add_worker(self, role: str) -> None:
        self._spawn(role, "worker")

    def add_watcher(self, role: str) -> None:
        self._spawn(role, "watcher")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def stack_env(database_url: str, redis_url: str, prefix: str, **overrides: str) -> dict[str, str]:
    # No ORDER_ENGINE_* nor a metrics directory from the shell: a test that wants one sets its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDER_ENGINE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ORDER_ENGINE_KEY_PREFIX=prefix,
        ORDER_ENGINE_QUEUE_NAME=f"order-execution-{prefix}",
        ORDER_ENGINE_DEX_LATENCY_SCALE="0.02",
        ORDER_ENGINE_DEX_SEED=prefix,
        ORDER_ENGINE_LOG_JSON="true",
        ORDER_ENGINE_LOG_LEVEL="INFO",
        ORDER_ENGINE_API_RATE_LIMIT_PER_MIN="0",  # the tests poll hard from one address
        ORDER_ENGINE_DEX_DRIFT_BPS="5",  # 10 sigma inside the default 50 bps slippage: no random slippage failures
        ORDER_ENGINE_RATE_LIMIT="0",  # tests of the start-rate limit turn it on
        ORDER_ENGINE_MARKET_VOLATILITY_BPS="0",  # a market that moves only when traded; tests of the flow turn it on
        ORDER_ENGINE_SIM_API="true",  # /api/sim, as `order-engine dev` has it; tests of it off turn it off
    )
    env.update(overrides)
    return env


def migrated_database_of_its_own(database_url: str, redis_url: str) -> Iterator[str]:
    """A fresh database on the server of `database_url`, migrated by `order-engine migrate`; dropped after."""
    from order_engine_embedded import create_database, drop_database, with_database

    name = f"{database_url.rsplit('/', 1)[1]}_{secrets.token_hex(3)}"
    create_database(database_url, name)
    url = with_database(database_url, name)
    done = subprocess.run(cli("migrate"), env=stack_env(url, redis_url, "migrate"), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    yield url
    drop_database(database_url, name)
