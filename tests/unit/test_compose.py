"""docker-compose.yml is safe as written: the API is published on the host's loopback only, and the
override that lets it bind 0.0.0.0 inside its container (no admin token) is set for it alone.

Before this change the file published "8000:8000" (every interface, /saq open to the network) and had no
override; with the bind guard in place its API would not even start. Both checks failed then.
The file is parsed with PyYAML; `docker-compose config` (or `docker compose config`) validates it as
well where one is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from order_engine.app.cli import check_bind
from order_engine.app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
COMMAND = "docker compose up --build"


def _services(text: str) -> dict[str, Any]:
    return dict(yaml.safe_load(text)["services"])


def _settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The Settings the service's process would read from the environment compose gives it."""
    for name in list(os.environ):
        if name.startswith("ORDER_ENGINE_") or name in {"DATABASE_URL", "REDIS_URL"}:
            monkeypatch.delenv(name)
    for name, value in (service.get("environment") or {}).items():
        monkeypatch.setenv(name, str(value))
    return Settings.from_env()


def _port(port: Any) -> str:
    """A ports entry as `host_ip:published:target`: the short form as written (docker-compose 1 prints it
    back with `/tcp`) or the long form `docker compose config` prints."""
    if isinstance(port, dict):
        return f"{port.get('host_ip', '')}:{port.get('published', '')}:{port.get('target', '')}"
    return str(port).removesuffix("/tcp")


def _check(services: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    api = services["api"]
    assert [_port(p) for p in api["ports"]] == ["127.0.0.1:8000:8000"]
    for name, service in services.items():  # nothing else published beyond loopback either
        assert all(_port(p).startswith("127.0.0.1:") for p in service.get("ports", [])), name
    env = api["environment"]
    assert {"DATABASE_URL", "REDIS_URL"} <= set(env)  # the api's own environment still has the shared part
    settings = _settings_of(api, monkeypatch)
    assert settings.allow_unguarded_bind is True
    command = [str(c) for c in api["command"]]
    check_bind(settings, command[command.index("--host") + 1])  # what `order-engine api` will do: no refusal
    for name in ("migrate", "worker", "watcher"):  # they serve nothing; the override is the api's alone
        assert _settings_of(services[name], monkeypatch).allow_unguarded_bind is False, name


def test_the_api_is_published_on_loopback_only_with_the_override_set(monkeypatch: pytest.MonkeyPatch) -> None:
    _check(_services(COMPOSE.read_text()), monkeypatch)


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_compose_itself_accepts_the_file_and_reads_it_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    tool = _compose_cli()
    if tool is None:
        pytest.skip("neither docker-compose nor `docker compose` is installed (the YAML is checked above)")
    quiet = subprocess.run([*tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, timeout=60)
    assert quiet.returncode == 0, quiet.stderr
    resolved = subprocess.run([*tool, "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=60)
    assert resolved.returncode == 0, resolved.stderr
    _check(_services(resolved.stdout), monkeypatch)  # merge keys and all, as compose resolves them


def test_compose_and_readme_give_the_same_command() -> None:
    assert COMPOSE.read_text().splitlines()[0].startswith(f"# {COMMAND}:")
    assert f"`{COMMAND}`" in (ROOT / "README.md").read_text()


def test_grafana_takes_its_admin_password_from_the_environment_and_refuses_to_start_without_one() -> None:
    grafana = _services(COMPOSE.read_text())["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "${GRAFANA_ADMIN_PASSWORD:-}"
    assert "GF_SECURITY_ADMIN_PASSWORD" in " ".join(grafana["entrypoint"]) and "exit 1" in grafana["entrypoint"][-1]
    mounts = " ".join(grafana["volumes"])
    assert "deploy/grafana/provisioning" in mounts and "deploy/grafana/dashboards" in mounts
    for path in ("deploy/grafana/dashboards/order-engine.json", "deploy/prometheus/prometheus.yml"):
        assert (ROOT / path).is_file(), path
