"""`order-engine sim move` against a canned API (httpx.MockTransport): what it sends, prints and exits with;
and `order-engine dev` turning the sim API on for its children unless told otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from order_engine.app.cli import parser, sim_api_unless_set
from order_engine.app.client.http import EngineClient
from order_engine.app.client.sim import run_move
from order_engine.app.settings import Settings

MOVED = {
    "pair": "SOL/USDC",
    "at": "2026-12-02T00:00:00Z",
    "prices": [
        {"venue": "meteora", "before": "151.2", "price": "160"},
        {"venue": "raydium", "before": "148", "price": "160"},
    ],
}


def run(argv: list[str], answer: Callable[[httpx.Request], httpx.Response], token: str | None = None) -> int:
    client = EngineClient("http://engine:8000/", admin_token=token, transport=httpx.MockTransport(answer))
    with client:
        return run_move(client, parser().parse_args(["sim", "move", *argv]))


def test_a_move_sends_the_pair_and_one_target_and_prints_a_line_per_venue(capsys: pytest.CaptureFixture[str]) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=MOVED)

    assert run(["SOL/USDC", "--to", "160"], answer, token="t0k") == 0
    assert run(["SOL/USDC", "--by-bps", "-300", "--venue", "raydium"], answer) == 0
    assert [(r.method, str(r.url)) for r in sent] == [("POST", "http://engine:8000/api/sim/market/move")] * 2
    assert [json.loads(r.content) for r in sent] == [
        {"pair": "SOL/USDC", "venue": None, "toPrice": "160"},
        {"pair": "SOL/USDC", "venue": "raydium", "byBps": -300},
    ]
    assert sent[0].headers["authorization"] == "Bearer t0k" and "authorization" not in sent[1].headers
    out = capsys.readouterr().out.splitlines()
    assert [line.replace("->", "→") for line in out[:2]] == [
        "SOL/USDC meteora: 151.2 → 160",
        "SOL/USDC raydium: 148 → 160",
    ]


@pytest.mark.parametrize(("status", "code"), [(400, 2), (401, 2), (404, 2), (413, 2), (429, 4), (500, 4), (503, 4)])
def test_4xx_answers_exit_2_and_429_or_5xx_exit_4_with_the_apis_message(
    status: int, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"status_code": status, "detail": f"the API says {status}"})

    assert run(["SOL/USDC", "--to", "160"], answer) == code
    captured = capsys.readouterr()
    assert captured.out == "" and f"{status} the API says {status}" in captured.err


def test_an_unreachable_engine_or_a_non_json_error_page(capsys: pytest.CaptureFixture[str]) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    assert run(["SOL/USDC", "--to", "160"], refused) == 4
    assert "cannot reach http://engine:8000" in capsys.readouterr().err
    assert run(["SOL/USDC", "--to", "160"], lambda r: httpx.Response(502, text="<html>Bad Gateway</html>")) == 4
    assert "502 <html>Bad Gateway</html>" in capsys.readouterr().err


def test_dev_turns_the_sim_api_on_for_its_children_unless_it_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDER_ENGINE_SIM_API", raising=False)
    assert sim_api_unless_set(Settings()).sim_api is True
    assert sim_api_unless_set(Settings()).as_env()["ORDER_ENGINE_SIM_API"] == "true"  # what the children get
    monkeypatch.setenv("ORDER_ENGINE_SIM_API", "false")
    assert sim_api_unless_set(Settings.from_env()).sim_api is False
    assert Settings().sim_api is False  # `order-engine api` on its own: off
