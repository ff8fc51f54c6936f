"""The committed Postman collection and .http file are what `order-engine export-collection` makes from the app's
OpenAPI document now (a change to the API without a new export fails here), and they hold every route."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from order_engine.app.http.collection import COLLECTION, HTTP_FILE, POSTMAN_SCHEMA, SESSION

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("collection")
    done = subprocess.run(
        [sys.executable, "-m", "order_engine.app.cli", "export-collection", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("name", [COLLECTION, HTTP_FILE])
def test_the_committed_files_are_the_generators_output(exported: Path, name: str) -> None:
    committed = DOCS / name
    assert committed.exists(), f"docs/{name} is missing: run `order-engine export-collection`"
    assert committed.read_text() == (exported / name).read_text(), (
        f"docs/{name} is stale: run `order-engine export-collection` and commit the result"
    )


def test_the_collection_is_postman_v2_1_with_every_route_a_test_and_its_answers(exported: Path) -> None:
    collection = json.loads((exported / COLLECTION).read_text())
    assert collection["info"]["schema"] == POSTMAN_SCHEMA
    items = [item for folder in collection["item"] for item in folder["item"]]
    assert [i["name"] for i in items] == [c.name for c in SESSION]
    for item in items:
        script = "\n".join(item["event"][0]["script"]["exec"])
        assert "pm.response.to.have.status(" in script, item["name"]
        assert item["response"], f"{item['name']} has no saved answer"
    submit = items[0]
    assert json.loads(submit["request"]["body"]["raw"])["orderType"] == "market"
    assert 'pm.collectionVariables.set("orderId"' in "\n".join(submit["event"][0]["script"]["exec"])
    cancel = next(i for i in items if i["name"] == "Cancel an order")
    assert cancel["request"]["url"]["variable"] == [{"key": "orderId", "value": "{{limitOrderId}}"}]
    launch = next(i for i in items if i["name"].startswith("Launch"))
    assert launch["request"]["auth"]["type"] == "bearer"  # the simulation's routes take the admin token


def test_the_http_file_documents_both_websocket_routes(exported: Path) -> None:
    text = (exported / HTTP_FILE).read_text()
    assert "WEBSOCKET ws://{{host}}/api/orders/{{submitMarket.response.body.$.orderId}}/ws?since=0" in text
    assert "WEBSOCKET ws://{{host}}/api/orders/execute" in text
    assert text.count("\n### ") == len(SESSION) + 2
