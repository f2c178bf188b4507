"""Faults injected into real processes and servers while thousands of tasks run.

Every scenario ends with the same invariant check (tests/invariants.py): every task
terminal, none completed twice, attempts strictly increasing, no transition out of a
terminal state, retry_count equal to the failures recorded, the dead-letter list equal to
the PERMANENT_FAILURE tasks, and every task that got a 201 present. Run with `-s` to see
the figures each scenario reached.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from agentmesh.domain.task import TaskStatus
from tests.chaos.harness import ChaosMesh, Load, workload
from tests.conftest import unavailable
from tests.servers import ServerUnavailable

S = TaskStatus


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> Iterator[ChaosMesh]:
    """A fresh mesh on private servers; `@pytest.mark.mesh(lease_seconds=…)` overrides its settings."""
    marker = request.node.get_closest_marker("mesh")
    try:
        mesh = ChaosMesh(**(marker.kwargs if marker else {}))
    except (ServerUnavailable, OSError) as exc:
        unavailable(f"cannot start chaos servers: {exc}")
    try:
        yield mesh
    finally:
        mesh.close()


def cpu_fraction(pids: list[int], seconds: float) -> dict[int, float]:
    """CPU time each process used over `seconds` of wall time, from /proc (user + system)."""

    def ticks(pid: int) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    before = {pid: ticks(pid) for pid in pids}
    time.sleep(seconds)
    hertz = os.sysconf("SC_CLK_TCK")
    return {pid: (ticks(pid) - before[pid]) / hertz / seconds for pid in pids}


def test_sigkill_workers_repeatedly(chaos: ChaosMesh) -> None:
    url = chaos.api()
    workers = [chaos.worker() for _ in range(3)]
    squad = {"name": "squad", "steps": [{"id": "plan", "agent_type": "MAGNUS_STRATEGIST", "payload": {
        "plan": {"writers": 5, "simulate": {"duration_ms": 300}}, "simulate": {"duration_ms": 300}}}]}  # fmt: skip
    workflows = [httpx.post(f"{url}/workflows", json=squad).json()["id"] for _ in range(30)]
    load = Load(url, batch=100, pause=0.1).start()
    rng = random.Random(3)
    for _ in range(10):
        time.sleep(1.2)
        victim = workers.pop(rng.randrange(len(workers)))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        chaos.faults += 1
        workers.append(chaos.worker())
    load.until(2000)
    load.stop()
    report = chaos.settle(len(load.ids) + 30 * 7)
    reaped = sum(1 for events in report.events.values() for e in events if "lease expired" in (e.detail or ""))
    assert chaos.check_workflows(workflows, report) == {"COMPLETED": 30}  # no step ran before its dependencies
    chaos.summary("sigkill-workers", report, load.ids, reaped_attempts=reaped, workflows=len(workflows))
    assert len(report.tasks) >= 2000 and chaos.faults >= 10


def test_redis_restarts_and_flushall(chaos: ChaosMesh) -> None:
    url = chaos.api()
    for _ in range(2):
        chaos.worker()
    load = Load(url, batch=100, pause=0.1).start()
    for fault in ("restart", "flushall", "restart"):
        time.sleep(3)
        if fault == "flushall":
            redis.Redis.from_url(chaos.redis.url).flushall()
        else:
            chaos.redis.kill()
            time.sleep(1)
            chaos.redis.start()
        chaos.faults += 1
    time.sleep(2)
    load.until(2000)
    load.stop()
    assert chaos.procs.alive(), chaos.procs.logs()
    report = chaos.settle(len(load.ids))
    chaos.summary("redis-loss", report, load.ids, load_errors=load.errors)
    assert len(report.tasks) >= 2000


def test_postgres_outage_while_clients_submit(chaos: ChaosMesh) -> None:
    url = chaos.api()
    for _ in range(2):
        chaos.worker()
    load = Load(url, batch=10, pause=0.0, single=True).start()
    time.sleep(4)
    chaos.pg.stop()
    chaos.faults += 1
    during = httpx.get(f"{url}/readyz", timeout=10)
    assert during.status_code == 503 and during.headers["retry-after"]
    refused = httpx.post(f"{url}/tasks", json=workload(1, random.Random(1))[0], timeout=10)
    assert refused.status_code == 503 and refused.headers["retry-after"] and refused.json()["code"] == "unavailable"
    # The API is busy answering the load with 503s; workers have nothing to do and must idle.
    busy = cpu_fraction(chaos.procs.pids("worker"), seconds=4)  # the outage goes on meanwhile
    chaos.pg.start()
    time.sleep(4)
    load.until(1000)
    load.stop()
    assert load.codes[503] > 0, load.codes  # the outage was seen by clients
    assert set(load.codes) <= {201, 503}, load.codes  # never a 500
    assert chaos.procs.alive(), chaos.procs.logs()  # nobody exited
    worst = max(busy.values())
    assert worst < 0.5, f"a process spun during the outage: {busy}"
    report = chaos.settle(len(load.ids))
    chaos.summary("postgres-outage", report, load.ids, answers=dict(load.codes), worst_cpu_in_outage=round(worst, 3))
    assert len(report.tasks) >= 1000


def test_producer_crash_between_commit_and_push(chaos: ChaosMesh) -> None:
    crashing = chaos.api(AGENTMESH_FAULT_INJECTION="crash_after_commit")
    rng = random.Random(4)
    with pytest.raises(httpx.HTTPError):  # the producer dies before it can answer
        httpx.post(f"{crashing}/tasks/batch", json={"tasks": workload(1000, rng)}, timeout=30)
    chaos.faults += 1
    url = chaos.api()
    for _ in range(2):
        chaos.worker()
    load = Load(url, batch=100, pause=0.05).start()
    time.sleep(5)
    load.stop()
    report = chaos.settle(1000 + len(load.ids))
    assert len(report.tasks) == 1000 + len(load.ids)  # the orphaned batch ran too
    chaos.summary("producer-crash", report, load.ids)


def test_frozen_worker_late_result_is_refused(chaos: ChaosMesh) -> None:
    agents = {"AGENTMESH_AGENTS": "tests.chaos.agents"}
    url = chaos.api(**agents)
    frozen = chaos.worker(concurrency=1, **agents)
    with httpx.Client(base_url=url, timeout=10) as client:
        task = client.post("/tasks", json={"agent_type": "HANGING_SLEEPER", "payload": {"seconds": 1.0}}).json()
        deadline = time.monotonic() + 20
        while client.get(f"/tasks/{task['id']}").json()["status"] != "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        frozen.send_signal(signal.SIGSTOP)
        chaos.faults += 1
        try:
            rescuers = [chaos.worker(**agents) for _ in range(2)]
            load = Load(url, batch=100, pause=0.1).start()
            while client.get(f"/tasks/{task['id']}").json()["status"] != "COMPLETED":
                assert time.monotonic() < deadline + 30, "another worker never took over"
                time.sleep(0.1)
        finally:
            frozen.send_signal(signal.SIGCONT)

        def refusals() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            events = client.get(f"/tasks/{task['id']}/events").json()["items"]
            refused = [e for e in events if (e["detail"] or "").startswith("refused:")]
            return events, [e for e in refused if e["worker_id"] != "reaper"]  # racing reapers are refused too

        deadline = time.monotonic() + 15
        events, from_frozen = refusals()
        while not from_frozen and time.monotonic() < deadline:  # the thawed worker writes its late result
            time.sleep(0.1)
            events, from_frozen = refusals()
        load.stop()
    assert len(from_frozen) == 1 and from_frozen[0]["attempt"] == 1, events
    completed = [e for e in events if e["to_status"] == "COMPLETED" and not (e["detail"] or "").startswith("refused:")]
    assert len(completed) == 1 and completed[0]["attempt"] == 2
    report = chaos.settle(1 + len(load.ids))
    assert frozen.poll() is None and all(r.poll() is None for r in rescuers)  # everyone still alive
    chaos.summary("frozen-worker", report, [task["id"], *load.ids])


@pytest.mark.mesh(lease_seconds=15)  # this scenario is about draining, not leases: keep them out of it
def test_sigterm_drains_without_failures(chaos: ChaosMesh) -> None:
    url = chaos.api()
    patient = chaos.worker(concurrency=30)
    hasty = chaos.worker(concurrency=30, AGENTMESH_SHUTDOWN_GRACE="0.05")
    rng = random.Random(6)
    with httpx.Client(base_url=url, timeout=30) as client:
        ids = []
        for _ in range(20):
            batch = workload(100, rng, failures=False, max_ms=400)
            ids += [item["id"] for item in client.post("/tasks/batch", json={"tasks": batch}).json()["items"]]
    time.sleep(2)
    for worker in (patient, hasty):
        worker.send_signal(signal.SIGTERM)
        chaos.faults += 1
    assert patient.wait(30) == 0 and hasty.wait(30) == 0
    chaos.worker(concurrency=30)
    report = chaos.settle(len(ids))
    failed = [(t.status, t.retry_count, t.last_error) for t in report.tasks.values() if t.retry_count or t.last_error]
    assert failed == [] and all(task.status is S.COMPLETED for task in report.tasks.values())
    released = sum(
        1 for events in report.events.values() for e in events if (e.from_status, e.to_status) == (S.RUNNING, S.PENDING)
    )
    assert released > 0  # the hasty worker gave unfinished work back rather than failing it
    chaos.summary("sigterm-drain", report, ids, released=released)




def test_second_signal_exits_at_once(chaos: ChaosMesh) -> None:
    agents = {"AGENTMESH_AGENTS": "tests.chaos.agents"}
    url = chaos.api(**agents)
    worker = chaos.worker(concurrency=2, AGENTMESH_SHUTDOWN_GRACE="60")
    task = httpx.post(f"{url}/tasks", json={"agent_type": "CEDRIC_WRITER", "payload": {
        "simulate": {"duration_ms": 60_000}}}).json()  # fmt: skip
    deadline = time.monotonic() + 20
    while httpx.get(f"{url}/tasks/{task['id']}").json()["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.poll() is None  # draining: waits for the in-flight task
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(5) == 130
    assert httpx.get(f"{url}/tasks/{task['id']}").json()["status"] == "RUNNING"  # its lease will expire
