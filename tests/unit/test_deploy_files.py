"""Docker does not run here, so the deployment files are checked against the code instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.main import get_command

from agentmesh.cli.main import app
from agentmesh.config import env_names

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_has_the_distributed_topology() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", "worker"}
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker"]["deploy"]["replicas"] >= 2


def test_compose_commands_and_variables_exist_in_the_code() -> None:
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    known = env_names()
    for name in ("migrate", "api", "worker"):
        service = compose()["services"][name]
        assert service["command"][0] in commands
        environment = service["environment"]
        assert set(environment) <= known, set(environment) - known
        assert {"DB_DSN", "REDIS_ADDR"} <= set(environment)
        host = environment["DB_DSN"].split("@", 1)[1].split(":", 1)[0]
        assert host in compose()["services"]
        assert environment["REDIS_ADDR"].split(":")[0] in compose()["services"]


def test_dockerfile_installs_the_package_and_runs_the_cli() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install ." in dockerfile
    assert 'ENTRYPOINT ["agentmesh"]' in dockerfile
