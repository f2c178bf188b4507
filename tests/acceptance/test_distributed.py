"""The core end to end on real processes, in both deployment modes (see tests/acceptance/cluster.py)."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import httpx
import pytest

from agentmesh.config import Settings
from agentmesh.domain.task import TaskStatus
from tests.acceptance.cluster import Cluster
from tests.invariants import check_all
from tests.procs import Processes

NON_TERMINAL = ("WAITING", "PENDING", "RUNNING", "RETRYING")


def wait_quiet(url: str, expected: int, timeout: float = 120) -> dict[str, int]:
    """Poll until `expected` tasks exist and none is still moving; fail with the counts if not."""
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = httpx.get(f"{url}/queues", timeout=10).json()["by_status"]
        if sum(counts.values()) >= expected and not any(counts[s] for s in NON_TERMINAL):
            return counts
        time.sleep(0.25)
    pytest.fail(f"mesh did not settle within {timeout}s: {counts}")


def submit_batches(url: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    created: list[dict[str, Any]] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(tasks), 250):
            response = client.post("/tasks/batch", json={"tasks": tasks[start : start + 250]})
            assert response.status_code == 201, response.text
            created += response.json()["items"]
    return created


@pytest.fixture(params=["postgres+redis", "sqlite+memory"])
def cluster(request: pytest.FixtureRequest, procs: Processes, tmp_path: Any) -> Cluster:
    if request.param == "postgres+redis":
        settings: Settings = request.getfixturevalue("settings")
    else:
        settings = Settings(db_dsn=f"sqlite:///{tmp_path / 'mesh.db'}", backoff_base=1.2, backoff_jitter=0.0,
                            lease_seconds=5, shutdown_grace=5)  # fmt: skip
    return Cluster(request.param, settings, procs)


def test_thousand_tasks_two_workers(cluster: Cluster) -> None:
    url = cluster.start(workers=2, concurrency=20)
    rng = random.Random(7)
    personas = ["MAGNUS_STRATEGIST", "CEDRIC_WRITER", "LYRA_AUDITOR"]
    kinds: dict[str, str] = {}
    tasks = []
    for i in range(1000):
        kind = "ok" if i % 10 < 7 else ("flaky" if i % 10 < 9 else "doomed")
        simulate: dict[str, Any] = {"duration_ms": rng.randint(0, 5)}
        if kind == "flaky":
            simulate["fail_attempts"] = 2
        if kind == "doomed":
            simulate["fail_rate"] = 1.0
        tasks.append({"agent_type": personas[i % 3], "payload": {"n": i, "simulate": simulate}})
        kinds[str(i)] = kind
    created = submit_batches(url, tasks)
    assert len(created) == 1000 and all(task["status"] == "PENDING" for task in created)

    wait_quiet(url, 1000)
    live = httpx.get(f"{url}/workers").json()["items"]
    assert sorted(w["pid"] for w in live) == sorted(cluster.pids)
    ids = [uuid.UUID(task["id"]) for task in created]
    report, dead_letter = cluster.report(ids)
    assert check_all(report, dead_letter) == []
    for task in report.tasks.values():
        kind = kinds[str(task.payload["n"])]
        if kind == "ok":
            assert (task.status, task.retry_count, task.attempt) == (TaskStatus.COMPLETED, 0, 1)
        elif kind == "flaky":
            assert (task.status, task.retry_count) == (TaskStatus.COMPLETED, 2)
        else:
            assert task.status is TaskStatus.PERMANENT_FAILURE
            assert task.retry_count == task.max_retries + 1
            assert dead_letter is None or task.id in dead_letter
    assert report.by_status()[TaskStatus.PERMANENT_FAILURE] == 100


def test_backoff_gaps_follow_base_and_do_not_block_a_slot(cluster: Cluster) -> None:
    base = 1.5
    cluster.settings = cluster.settings.model_copy(update={"backoff_base": base})
    url = cluster.start(workers=1, concurrency=1)
    with httpx.Client(base_url=url, timeout=10) as client:
        flaky = client.post("/tasks", json={
            "agent_type": "CEDRIC_WRITER", "payload": {"simulate": {"duration_ms": 0, "fail_attempts": 3}},
        }).json()  # fmt: skip
        # Wait for the first failure, then fill the only slot's gaps with quick tasks.
        deadline = time.monotonic() + 10
        while client.get(f"/tasks/{flaky['id']}").json()["retry_count"] < 1:
            assert time.monotonic() < deadline, "first attempt never failed"
            time.sleep(0.02)
        quick = [
            client.post(
                "/tasks", json={"agent_type": "LYRA_AUDITOR", "payload": {"simulate": {"duration_ms": 0}}}
            ).json()["id"]
            for _ in range(5)
        ]
    wait_quiet(url, 6)
    report, _ = cluster.report([uuid.UUID(flaky["id"]), *map(uuid.UUID, quick)])
    assert check_all(report) == []
    events = report.events[uuid.UUID(flaky["id"])]
    failed_at = {e.attempt: e.at for e in events if e.to_status is TaskStatus.RETRYING}
    started_at = {e.attempt: e.at for e in events if e.to_status is TaskStatus.RUNNING}
    assert sorted(failed_at) == [1, 2, 3] and sorted(started_at) == [1, 2, 3, 4]
    for n in (1, 2, 3):
        gap = (started_at[n + 1] - failed_at[n]).total_seconds()
        assert base**n <= gap < base**n + 1.0, f"retry {n}: waited {gap:.3f}s, expected ≈{base**n:.3f}s"
    # The quick tasks ran on the single slot while the flaky one was waiting out its backoff.
    second_start = started_at[2]
    for task_id in quick:
        finished = report.tasks[uuid.UUID(task_id)].completed_at
        assert finished is not None and finished < second_start


def test_strict_priority_with_prefilled_lanes(cluster: Cluster) -> None:
    lanes = {"high": "MAGNUS_STRATEGIST", "medium": "CEDRIC_WRITER", "low": "LYRA_AUDITOR"}
    order = ["low", "medium", "high"] * 20  # interleaved on purpose, low first
    ids = cluster.prefill([
        {"agent_type": lanes[lane], "priority": lane, "payload": {"simulate": {"duration_ms": 1}}} for lane in order
    ])  # fmt: skip
    url = cluster.start(workers=1, concurrency=1)
    wait_quiet(url, len(order))
    report, _ = cluster.report(ids)
    assert check_all(report) == []
    start = {
        task_id: next(e.id for e in events if e.to_status is TaskStatus.RUNNING)
        for task_id, events in report.events.items()
    }
    by_lane: dict[str, list[int]] = {"high": [], "medium": [], "low": []}
    for task_id, task in report.tasks.items():
        by_lane[task.priority.value].append(start[task_id])
    assert max(by_lane["high"]) < min(by_lane["medium"])
    assert max(by_lane["medium"]) < min(by_lane["low"])
