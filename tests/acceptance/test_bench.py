"""`agentmesh bench` as users run it: a real process against a real mesh, in both deployment modes."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentmesh.config import Settings
from tests.acceptance.cluster import Cluster
from tests.acceptance.test_cli import one_line_error
from tests.procs import Processes, run_cli, settings_env
from tests.servers import free_port

TASKS = 300


@pytest.fixture(params=["postgres+redis", "sqlite+memory"])
def cluster(request: pytest.FixtureRequest, procs: Processes, tmp_path: Path) -> Cluster:
    if request.param == "postgres+redis":
        settings: Settings = request.getfixturevalue("settings")
    else:
        settings = Settings(db_dsn=f"sqlite:///{tmp_path / 'mesh.db'}", lease_seconds=5, shutdown_grace=5)
    return Cluster(request.param, settings, procs)


def stored(url: str) -> int:
    return sum(httpx.get(f"{url}/queues", timeout=10).json()["by_status"].values())


def bench(env: dict[str, str], summary: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    result = run_cli(["bench", "--json", str(summary), "--timeout", "120", *args], env, timeout=180)
    return result, json.loads(summary.read_text())


def ordered(percentiles: dict[str, Any], count: int) -> list[float]:
    assert percentiles["count"] == count
    values = [percentiles[key] for key in ("p50", "p90", "p99", "p99.9", "max")]
    assert values == sorted(values), percentiles
    return values


@pytest.mark.parametrize("mode", ["batch", "single"])
def test_bench_measures_every_task_it_submits(cluster: Cluster, mode: str, tmp_path: Path) -> None:
    url = cluster.start(workers=2, concurrency=10)
    env = {**settings_env(cluster.settings), "AGENTMESH_URL": url}
    warm = run_cli(["submit", "CEDRIC_WRITER", "--wait", "--payload", '{"simulate": {"duration_ms": 0}}'], env)
    assert warm.returncode == 0, warm.stderr  # the mesh already holds a task: bench must count only its own
    before = stored(url)

    result, summary = bench(env, tmp_path / "bench.json", "--tasks", str(TASKS), "--mode", mode,
                            "--batch-size", "64", "--clients", "8")  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "agentmesh bench" in result.stdout and "submit → start" in result.stdout
    assert stored(url) - before == TASKS
    assert (summary["tasks"], summary["submitted"], summary["records"], summary["terminal"]) == (TASKS,) * 4
    assert summary["by_status"] == {"COMPLETED": TASKS}
    assert summary["errors"] == {} and summary["timed_out"] is False
    requests = TASKS if mode == "single" else math.ceil(TASKS / 64)
    assert summary["enqueue"]["requests"] == requests
    ordered(summary["enqueue"]["request_latency_ms"], requests)
    to_start = ordered(summary["submit_to_start_ms"], TASKS)
    to_finish = ordered(summary["submit_to_finish_ms"], TASKS)
    assert 0 <= to_start[0] and all(s <= f for s, f in zip(to_start, to_finish, strict=True))
    assert summary["enqueue"]["tasks_per_s"] > 0 and summary["drain"]["tasks_per_s"] > 0


def test_refused_submissions_are_counted_not_fatal(cluster: Cluster, tmp_path: Path) -> None:
    url = cluster.start(workers=1, concurrency=2)
    env = {**settings_env(cluster.settings), "AGENTMESH_URL": url}
    before = stored(url)
    bad_knob = '{"simulate": {"duration_ms": -1}}'  # valid JSON, refused by the API with a 422
    result, summary = bench(env, tmp_path / "bench.json", "--tasks", "20", "--mode", "single", "--payload", bad_knob)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]  # after the enqueue bar: the run itself went through
    assert all(needle in last for needle in ("no task was accepted", "422: 20", "duration_ms")), last
    assert (summary["submitted"], summary["errors"], summary["enqueue"]["requests"]) == (0, {"422": 20}, 20)
    one_line_error(run_cli(["bench", "--agent", "NOBODY"], env), "unknown agent type 'NOBODY'")
    assert stored(url) == before


def test_bad_input_is_one_line_and_non_zero(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AGENTMESH_")}
    env["AGENTMESH_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    one_line_error(run_cli(["bench", "--tasks", "0"], env), "--tasks")
    one_line_error(run_cli(["bench", "--tasks", "-5"], env), "--tasks")
    one_line_error(run_cli(["bench", "--batch-size", "1001"], env), "--batch-size", "1000")
    one_line_error(run_cli(["bench", "--payload", "{nope"], env), "--payload", "JSON")
    one_line_error(run_cli(["bench", "--payload", "[1, 2]"], env), "--payload", "object")
    one_line_error(run_cli(["bench", "--mode", "turbo"], env), "--mode")
    one_line_error(run_cli(["bench", "--rate", "0"], env), "--rate")
    one_line_error(run_cli(["bench", "--json", str(tmp_path / "missing" / "out.json")], env), "--json")
    one_line_error(run_cli(["bench", "--tasks", "10"], env), "cannot reach", env["AGENTMESH_URL"])
    one_line_error(run_cli(["bench", "--url", "localhost:8000"], env), "--url")
