"""Start-up of real `order-engine api` / `order-engine dev` processes: the bind guard and a truthful log.

- `api --host 0.0.0.0` without ORDER_ENGINE_ADMIN_TOKEN exits 2 at once with one error line and never
  listens; with the token, or with ORDER_ENGINE_ALLOW_UNGUARDED_BIND (and a warning), it starts. Before the
  guard it simply served /saq on every interface: the refusal tests timed out waiting for exit 2.
- "api listening" (`api`) and "order-engine is up" (`dev`) are logged only once the API answers: the test
  reads the output line by line and, the moment the line appears, makes one request to /health/live, which
  must succeed at once. Before, `api` logged before uvicorn had even imported the app and `dev` right after
  spawning its children, ~2 s early, so that request was refused.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from stack import cli, free_port, stack_env

pytestmark = pytest.mark.e2e

START_S = 30  # generous for a loaded 2-core box; a start takes ~2 s


class Proc:
    """A CLI process whose merged stdout/stderr is read line by line (JSON log lines parsed)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        # Its own session, so stop() reaches `dev`'s children too, even if `dev` itself is gone.
        self.popen = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.lines: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            text = raw.decode(errors="replace").rstrip("\n")
            try:
                line = json.loads(text)
            except ValueError:
                line = {"event": text, "raw": True}
            self._queue.put(line if isinstance(line, dict) else {"event": text, "raw": True})
        self._queue.put(None)

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout_s: float = START_S) -> dict[str, Any]:
        """The first line that matches; fails on timeout or when the output ends first."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no matching line within {timeout_s}s; got: {self.output()}")
            if line is None:
                self._queue.put(None)
                pytest.fail(f"output ended (exit {self.popen.wait()}) before a matching line: {self.output()}")
            self.lines.append(line)
            if match(line):
                return line

    def drain(self, timeout_s: float = 5) -> None:
        """Read the rest of the output (after the process has exited)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)
                return
            self.lines.append(line)

    def output(self) -> str:
        return "\n".join(json.dumps(line) for line in self.lines)[-4000:]

    def stop(self) -> None:
        """SIGTERM the whole session (graceful), then SIGKILL whatever is left of it."""
        for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGTERM:  # the leader is gone; make sure no child of it lingers
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return


@pytest.fixture
def run(
    migrated_database: str, redis_url: str, key_prefix: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Proc]]:
    procs: list[Proc] = []
    name = request.node.name.replace("[", "-").rstrip("]")

    def start(*args: str, env: dict[str, str] | None = None, **overrides: str) -> Proc:
        base = env if env is not None else stack_env(migrated_database, redis_url, f"{key_prefix}-startup-{name}")
        proc = Proc(cli(*args), {**base, **overrides})
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


def event(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda line: str(line.get("event", "")).startswith(text)


def answers_at_once(port: int) -> None:
    """One request, no retry: refused means the log line came before the server listened."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5)
    except httpx.ConnectError as exc:
        pytest.fail(f"the log said the API was up, but connecting to it failed: {exc!r}")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_api_logs_listening_only_once_it_answers(run: Callable[..., Proc]) -> None:
    port = free_port()
    proc = run("api", "--port", str(port))
    proc.wait_for(event("api listening"))
    answers_at_once(port)


def test_dev_logs_is_up_only_once_the_api_answers(run: Callable[..., Proc]) -> None:
    """With DATABASE_URL/REDIS_URL set no embedded server starts; `dev` migrates (a no-op here) itself."""
    port = free_port()
    proc = run("dev", "--port", str(port), "--workers", "1")
    up = proc.wait_for(event("order-engine is up"))
    answers_at_once(port)
    assert up["queue_ui"] == f"http://127.0.0.1:{port}/saq"


def test_dev_turns_the_sim_api_on_unless_it_is_set(
    run: Callable[..., Proc], migrated_database: str, redis_url: str, key_prefix: str
) -> None:
    """`order-engine dev` is for trying the engine out: its API has /api/sim unless ORDER_ENGINE_SIM_API is set
    (`order-engine api` alone has not: tests/e2e/test_sim_api.py)."""
    env = stack_env(migrated_database, redis_url, f"{key_prefix}-startup-dev-sim")
    del env["ORDER_ENGINE_SIM_API"]  # the test stacks set it; a user's shell does not
    move = {"pair": "SOL/USDC", "byBps": 100}
    for setting, status in ((None, 200), ("false", 404)):
        port = free_port()
        proc = run(
            "dev",
            "--port",
            str(port),
            "--workers",
            "0",
            env={**env, **({"ORDER_ENGINE_SIM_API": setting} if setting else {})},
        )
        proc.wait_for(event("order-engine is up"))
        answer = httpx.post(f"http://127.0.0.1:{port}/api/sim/market/move", json=move, timeout=10)
        assert answer.status_code == status, (setting, answer.text)
        proc.stop()


def test_api_refuses_a_wildcard_bind_without_a_token(run: Callable[..., Proc]) -> None:
    port = free_port()
    proc = run("api", "--host", "0.0.0.0", "--port", str(port))
    deadline = time.monotonic() + 15
    while proc.popen.poll() is None and time.monotonic() < deadline:
        assert not accepts(port), "it listened"
        time.sleep(0.02)
    assert proc.popen.poll() == 2, "it did not exit 2 (still running, or another code)"
    proc.drain()
    assert len(proc.lines) == 1, proc.output()  # one clear line, no traceback
    (line,) = proc.lines
    assert line["level"] == "error"
    message = line["error"]
    assert "0.0.0.0" in message and "ORDER_ENGINE_ADMIN_TOKEN" in message
    assert "ORDER_ENGINE_ALLOW_UNGUARDED_BIND=true" in message


def test_api_on_a_wildcard_bind_starts_with_a_token(run: Callable[..., Proc]) -> None:
    port = free_port()
    proc = run("api", "--host", "0.0.0.0", "--port", str(port), ORDER_ENGINE_ADMIN_TOKEN="s3cret")
    proc.wait_for(event("api listening"))
    answers_at_once(port)
    assert not [line for line in proc.lines if line.get("level") in {"warning", "error"}], proc.output()


def test_api_on_a_wildcard_bind_starts_with_the_override_and_warns(run: Callable[..., Proc]) -> None:
    port = free_port()
    proc = run("api", "--host", "0.0.0.0", "--port", str(port), ORDER_ENGINE_ALLOW_UNGUARDED_BIND="true")
    warning = proc.wait_for(event("/saq is unguarded on 0.0.0.0"))
    assert warning["level"] == "warning" and warning["host"] == "0.0.0.0"
    proc.wait_for(event("api listening"))
    answers_at_once(port)


def test_dev_refuses_a_wildcard_bind_before_starting_any_server(run: Callable[..., Proc], tmp_path: Path) -> None:
    """No DATABASE_URL/REDIS_URL: `dev` would start embedded servers under the data dir first (it did,
    before the guard, then served /saq on 0.0.0.0); it must refuse before creating even the directory."""
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDER_ENGINE_")}
    env = {k: v for k, v in env.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(ORDER_ENGINE_DATA_DIR=str(data_dir), ORDER_ENGINE_LOG_JSON="true")
    port = free_port()
    proc = run("dev", "--host", "0.0.0.0", "--port", str(port), env=env)
    try:
        assert proc.popen.wait(timeout=15) == 2
    except subprocess.TimeoutExpired:
        pytest.fail("dev did not exit 2: it went on to start its servers")
    proc.drain()
    assert [line.get("level") for line in proc.lines] == ["error"], proc.output()
    assert "0.0.0.0" in proc.lines[0]["error"] and "ORDER_ENGINE_ADMIN_TOKEN" in proc.lines[0]["error"]
    assert not data_dir.exists() and not accepts(port)


def test_dev_wipes_its_metrics_directory_and_marks_a_killed_child_dead(
    run: Callable[..., Proc], tmp_path: Path
) -> None:
    """`dev` gives its children one multiprocess directory (under the data dir), emptied at start so a last run's
    counters do not carry over, and marks every child dead when it exits, a SIGKILLed one included (whose own
    exit hook never ran): its live gauges leave the sums."""
    import psutil

    metrics_dir = tmp_path / "data" / "metrics"
    metrics_dir.mkdir(parents=True)
    stale = "from order_engine.app.metrics.catalog import engine_metrics as m; m().accepted.labels('market').inc(1000)"
    subprocess.run(
        [sys.executable, "-c", stale], env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}, check=True
    )
    assert list(metrics_dir.glob("counter_*.db"))
    port = free_port()
    proc = run("dev", "--port", str(port), "--workers", "1", ORDER_ENGINE_DATA_DIR=str(tmp_path / "data"))
    proc.wait_for(event("order-engine is up"))
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'order_engine_orders_accepted_total{order_type="market"} 0.0' in text
    children = psutil.Process(proc.popen.pid).children()
    worker = next(c for c in children if "worker" in c.cmdline())
    assert (metrics_dir / f"gauge_livesum_{worker.pid}.db").exists()
    worker.kill()  # dev sees a child gone and stops the rest
    assert proc.popen.wait(timeout=30) == 1
    assert list(metrics_dir.glob("gauge_livesum_*.db")) == []
