"""The console in a real browser (headless Chromium driven by Playwright) against real API, worker and watcher
processes: an order submitted through the form is followed to `confirmed` with seq 1..n, a bad amount shows the
API's own words and writes nothing, a resting order is cancelled from the recent-orders table, an order another
client makes shows up by itself — all under a per-client rate limit the console must not trip."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from client import order_count
from stack import Stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "console"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("NO CHROMIUM: the console was not tested in a browser. .ci/run installs Debian's chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("NO PLAYWRIGHT: the console was not tested in a browser. pip install -e '.[dev]'")
    return found


@pytest.fixture(scope="module")
def engine(start_stack, own_database: str) -> Stack:
    # 60 requests a minute per client: the console's live data comes over WebSockets, not by polling.
    return start_stack("console", watchers=1, database_url=own_database, ORDER_ENGINE_API_RATE_LIMIT_PER_MIN="60")


@pytest.fixture
async def page(engine: Stack):
    from playwright.async_api import async_playwright

    executable = chromium()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(engine.base_url + "/")
        await page.wait_for_selector("#feed-state.on", timeout=15_000)
        yield page
        assert errors == [], f"JavaScript errors on the page: {errors}"
        await browser.close()


async def test_an_order_submitted_through_the_form_is_followed_to_confirmed(page, engine: Stack) -> None:
    await page.fill("#amountIn", "1.5")
    await page.click("#submit")
    await page.wait_for_selector("#timeline li[data-status=confirmed]", timeout=20_000)
    items = page.locator("#timeline li")
    seqs = [int(s) for s in await items.evaluate_all("items => items.map(i => i.dataset.seq)")]
    statuses = await items.evaluate_all("items => items.map(i => i.dataset.status)")
    assert seqs == [1, 2, 3, 4, 5] and statuses == ["pending", "routing", "building", "submitted", "confirmed"]
    assert " out at " in await page.locator("#timeline li[data-status=confirmed] .what").inner_text()
    await page.wait_for_selector("#prices tr td.mono")  # the market stream has delivered prices
    await page.wait_for_selector("#recent tr[data-status=confirmed]", timeout=10_000)  # and the order's row
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "console-1400x900.png"), full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a phone's screen"
    await page.screenshot(path=str(SHOTS / "console-390x844.png"), full_page=True)


async def test_a_bad_amount_shows_the_apis_message_and_writes_nothing(page, own_database: str) -> None:
    before = await order_count(own_database)
    await page.fill("#amountIn", "1e2")
    await page.click("#submit")
    error = page.locator("#form-error")
    await error.wait_for(state="visible")
    text = await error.inner_text()
    assert text.startswith("400: amountIn: must be a decimal number"), text
    assert await order_count(own_database) == before


async def test_a_resting_order_is_cancelled_from_the_recent_orders_table(page, engine: Stack) -> None:
    await page.check("input[name=orderType][value=limit]")
    await page.fill("#amountIn", "1")
    await page.fill("#limitPrice", "100000")
    await page.click("#submit")
    await page.wait_for_selector("#timeline li[data-status=waiting]", timeout=10_000)
    order_id = (await page.locator("#timeline-order").inner_text()).strip()
    cancel = page.locator(f'button[data-cancel="{order_id}"]')
    await cancel.wait_for(timeout=10_000)  # the stream's next round lists it, with its button
    await cancel.click()
    await page.wait_for_selector("#timeline li[data-status=cancelled]", timeout=10_000)
    answer = httpx.get(f"{engine.base_url}/api/orders/{order_id}", timeout=10).json()
    assert answer["status"] == "cancelled"
    await page.wait_for_selector(f'#recent tr[data-order-id="{order_id}"][data-status=cancelled]', timeout=10_000)


async def test_the_recent_orders_table_shows_an_order_another_client_made(page, engine: Stack) -> None:
    body = {"tokenIn": "USDC", "tokenOut": "SOL", "amountIn": "10", "orderType": "market", "slippageBps": 100}
    made = httpx.post(f"{engine.base_url}/api/orders/execute", json=body, timeout=10).json()
    row = page.locator(f'#recent tr[data-order-id="{made["orderId"]}"]')
    await row.wait_for(timeout=10_000)
    await page.wait_for_selector(
        f'#recent tr[data-order-id="{made["orderId"]}"][data-status=confirmed]', timeout=15_000
    )
    assert "USDC → SOL" in await row.inner_text()
