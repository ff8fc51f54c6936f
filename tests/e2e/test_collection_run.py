"""The committed Postman collection, run by newman against a live engine (API, worker, watcher): every request
answers the status its test expects, in order — three order types submitted, read, listed, the limit cancelled,
the market read, the token the sniper waits for launched behind the admin token — and the sniper fills."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from stack import Stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "collection-run-token"


def newman() -> str:
    found = shutil.which("newman") or ROOT / "build/newman/node_modules/.bin/newman"
    if not Path(found).exists():
        pytest.skip(
            "NEWMAN IS NOT INSTALLED, so the Postman collection was not run against a live engine: .ci/run installs it"
            " (npm install --prefix build/newman newman@6); do the same to run this test"
        )
    return str(found)


@pytest.fixture(scope="module")
def engine(start_stack, own_database: str) -> Stack:
    return start_stack("collection", watchers=1, database_url=own_database, ORDER_ENGINE_ADMIN_TOKEN=TOKEN)


def test_newman_runs_the_collection_green_and_the_sniper_it_armed_fills(engine: Stack, tmp_path: Path) -> None:
    binary = newman()
    report = tmp_path / "newman.json"
    done = subprocess.run(
        [binary, "run", str(ROOT / "docs/order-engine.postman_collection.json"),
         "--env-var", f"baseUrl={engine.base_url}", "--env-var", f"adminToken={TOKEN}",
         "--reporters", "cli,json", "--reporter-json-export", str(report), "--color", "off"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    stats = json.loads(report.read_text())["run"]["stats"]
    assert stats["requests"] == {"total": 13, "pending": 0, "failed": 0}
    assert stats["assertions"]["failed"] == 0 and stats["assertions"]["total"] == 13
    deadline = time.monotonic() + 20
    while True:
        snipers = httpx.get(f"{engine.base_url}/api/orders", params={"orderType": "sniper"}, timeout=10).json()
        statuses = [o["status"] for o in snipers["orders"]]
        if statuses == ["confirmed"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert statuses == ["confirmed"]  # armed by the collection's submit, fired by its launch
