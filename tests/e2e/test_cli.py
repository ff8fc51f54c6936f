"""`order-engine submit | watch | orders | cancel | quote` against a real running engine: live timelines with the
right exit codes, the API's own error messages, and a stream that survives a dropped connection and misses
nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from client import order_count
from proxy import CuttableProxy
from stack import Stack, cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def engine(start_stack, own_database: str) -> Stack:
    return start_stack("cli", watchers=1, database_url=own_database)


def run(stack_or_url: Stack | str, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    url = stack_or_url if isinstance(stack_or_url, str) else stack_or_url.base_url
    env = {"PATH": "/usr/bin:/bin", "ORDER_ENGINE_URL": url}
    return subprocess.run(cli(*args), env=env, capture_output=True, text=True, timeout=timeout_s)


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def statuses(out: str) -> list[str]:
    return [m["status"] for m in lines(out) if m.get("type") in ("status", "snapshot")]


def seqs(out: str) -> list[int]:
    return [m["seq"] for m in lines(out) if m.get("type") in ("status", "snapshot")]


def test_submit_follow_shows_the_whole_timeline_and_exits_0_when_confirmed(engine: Stack) -> None:
    done = run(engine, "submit", "SOL", "USDC", "1.5", "--slippage-bps", "100", "--follow", "--json")
    assert done.returncode == 0, done.stderr
    first, *_ = lines(done.stdout)
    assert first["type"] == "accepted" and first["orderType"] == "market"
    assert statuses(done.stdout) == ["pending", "routing", "building", "submitted", "confirmed"]
    assert seqs(done.stdout) == [1, 2, 3, 4, 5]
    human = run(engine, "submit", "SOL", "USDC", "1", "--follow")
    assert human.returncode == 0, human.stderr
    out = human.stdout
    assert "accepted: pending" in out and "#5" in out and "confirmed" in out and " out at " in out


async def test_a_bad_order_prints_the_apis_message_exits_2_and_writes_nothing(engine: Stack, own_database: str) -> None:
    before = await order_count(own_database)
    done = run(engine, "submit", "SOL", "USDC", "1e2")
    assert done.returncode == 2
    assert done.stderr.startswith("error: 400 amountIn: must be a decimal number")
    assert await order_count(own_database) == before
    usage = run(engine, "submit", "SOL", "USDC", "2", "--type", "limit", "--limit-price", "160", "--expires", "soon")
    assert usage.returncode == 2 and "--expires must be a duration" in usage.stderr


def test_no_engine_is_exit_4_with_the_reason() -> None:
    done = run("http://127.0.0.1:9", "submit", "SOL", "USDC", "1")
    assert done.returncode == 4 and "cannot reach http://127.0.0.1:9" in done.stderr


def test_a_resting_order_is_listed_cancelled_and_its_timeline_exits_3(engine: Stack) -> None:
    accepted = run(engine, "submit", "SOL", "USDC", "1", "--type", "limit", "--limit-price", "100000", "--expires",
                   "2h", "--json")  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr
    order = lines(accepted.stdout)[0]
    assert order["status"] == "waiting"
    listed = run(engine, "orders", "--type", "limit", "--status", "waiting", "--json")
    assert order["orderId"] in [o["orderId"] for o in lines(listed.stdout)]
    assert [o["timeInForce"] for o in lines(listed.stdout) if o["orderId"] == order["orderId"]] == ["GTD"]
    cancelled = run(engine, "cancel", order["orderId"])
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == f"order {order['orderId']}: cancelled"
    watched = run(engine, "watch", order["orderId"], "--json")
    assert watched.returncode == 3 and statuses(watched.stdout) == ["pending", "waiting", "cancelled"]


def test_cancelling_a_confirmed_order_is_a_409_exit_2_and_a_quote_names_the_best_venue(engine: Stack) -> None:
    done = run(engine, "submit", "SOL", "USDC", "1", "--follow", "--json")
    order_id = lines(done.stdout)[0]["orderId"]
    late = run(engine, "cancel", order_id)
    assert late.returncode == 2 and late.stderr.startswith("error: 409 ")
    quote = lines(run(engine, "quote", "SOL", "USDC", "1.5", "--json").stdout)[0]
    assert {q["venue"] for q in quote["quotes"]} == {"raydium", "meteora"}
    best = max(quote["quotes"], key=lambda q: Decimal(q["amountOut"]))
    assert quote["best"] == best["venue"]
    assert run(engine, "quote", "SOL", "NOPE", "1").returncode == 2


def test_ctrl_c_exits_130_and_says_the_order_keeps_going(engine: Stack) -> None:
    accepted = lines(run(engine, "submit", "SOL", "USDC", "1", "--type", "limit", "--limit-price", "100000",
                         "--json").stdout)[0]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "ORDER_ENGINE_URL": engine.base_url}
    proc = subprocess.Popen(cli("watch", accepted["orderId"], "--json"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    for _ in range(2):  # pending, waiting: it is watching
        assert json.loads(proc.stdout.readline())["status"] in ("pending", "waiting")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 130
    assert f"order {accepted['orderId']} keeps going" in proc.stderr.read()
    assert httpx.get(f"{engine.base_url}/api/orders/{accepted['orderId']}", timeout=10).json()["status"] == "waiting"


def test_a_dropped_connection_is_reconnected_with_since_and_nothing_is_missed_or_repeated(engine: Stack) -> None:
    """The CLI watches a resting limit through a proxy; the proxy drops every connection and refuses new ones while
    the market crosses the limit and the order runs to confirmed; then it lets the CLI back in."""
    base = engine.base_url
    quote = httpx.get(f"{base}/api/market/quote", params={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1"}).json()
    best = max(Decimal(q["effectivePrice"]) for q in quote["quotes"])
    limit = str((best * Decimal("1.01")).quantize(Decimal("0.000001")))
    order = httpx.post(f"{base}/api/orders/execute", json={"tokenIn": "SOL", "tokenOut": "USDC", "amountIn": "1",
                       "orderType": "limit", "limitPrice": limit}, timeout=10).json()  # fmt: skip
    proxy = CuttableProxy(engine.port)
    env = {"PATH": "/usr/bin:/bin", "ORDER_ENGINE_URL": proxy.url}
    proc = subprocess.Popen(cli("watch", order["orderId"], "--json"), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    seen = [json.loads(proc.stdout.readline()) for _ in range(2)]
    assert [m["status"] for m in seen] == ["pending", "waiting"]
    proxy.cut()
    moved = httpx.post(f"{base}/api/sim/market/move", json={"pair": "SOL/USDC", "byBps": 300}, timeout=10)
    assert moved.status_code == 200, moved.text
    deadline = time.monotonic() + 20
    while httpx.get(f"{base}/api/orders/{order['orderId']}", timeout=10).json()["status"] != "confirmed":
        assert time.monotonic() < deadline, "the order did not confirm"
        time.sleep(0.1)
    time.sleep(0.5)  # a reconnection or two refused
    proxy.resume()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    rest = lines(out)
    notes = [m for m in rest if m.get("type") == "note"]
    assert notes and all("reconnecting from seq 2" in n["detail"] for n in notes)
    everything = [*seen, *(m for m in rest if m.get("type") == "status")]
    assert [m["seq"] for m in everything] == [1, 2, 3, 4, 5, 6, 7]
    assert [m["status"] for m in everything] == [
        "pending", "waiting", "triggered", "routing", "building", "submitted", "confirmed",
    ]  # fmt: skip
    assert proxy.cuts == 1
    # It asked the server for what came after seq 2, not for everything again.
    log = (engine.log_dir / f"{engine.name}-api.log").read_text().splitlines()
    asked = [
        entry.get("since")
        for entry in map(json.loads, (line for line in log if line.startswith("{")))
        if entry.get("event") == "websocket subscribed" and entry.get("order_id") == order["orderId"]
    ]
    assert asked == [0, 2]
