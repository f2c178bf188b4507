"""The benchmark scripts still run end to end (slow: `pytest -m slow`, needs `pip install -e '.[bench]'`).

They measure nothing here: a tiny run only proves every phase completes and reports a figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def run_module(module: str, *args: str, timeout: float = 900) -> None:
    pytest.importorskip("aiohttp", reason="the benchmark extra is not installed: pip install -e '.[bench]'")
    pytest.importorskip("psutil", reason="the benchmark extra is not installed: pip install -e '.[bench]'")
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_comparison_runs_every_phase_for_agentmesh_and_the_baseline(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run_module("benchmarks.run", "--tasks", "1000", "--io-tasks", "200", "--systems", "agentmesh,baseline",
               "--rates", "200", "--latency-seconds", "2", "--json", str(out))  # fmt: skip
    systems = json.loads(out.read_text())["systems"]
    for name in ("agentmesh", "baseline"):
        (run,) = systems[name]["runs"]
        assert run["error"] is None, run["error"]
        assert run["enqueue_batch"]["tasks"] == 1000 and run["enqueue_batch"]["complete"]
        assert run["e2e_noop"]["complete"] and run["e2e_noop"]["rate"] > 0


def test_scale_reports_both_queue_depths_and_key_lookups_on_the_hot_path(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    run_module("benchmarks.scale", "--backlog", "20000", "--sample", "2000", "--json", str(out))
    result = json.loads(out.read_text())
    assert result["empty"]["drain"] > 0 and result["deep"]["drain"] > 0
    for name in ("insert_tasks", "claim_many", "extend_leases", "complete_many", "promote"):
        plan = "\n".join(result["plans"][name])
        assert "Seq Scan on tasks" not in plan, plan
