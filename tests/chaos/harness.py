"""A mesh of real processes on private servers, a load generator, faults, and the invariant check."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from agentmesh.broker import create_broker
from agentmesh.config import Settings
from agentmesh.domain.task import TaskStatus
from agentmesh.mesh import all_with_status
from agentmesh.store import create_store
from tests.invariants import Report, check_all, check_dependencies, collect
from tests.procs import Processes, run_cli, settings_env
from tests.servers import PostgresServer, RedisServer

PERSONAS = ("MAGNUS_STRATEGIST", "CEDRIC_WRITER", "LYRA_AUDITOR")


def workload(n: int, rng: random.Random, *, failures: bool = True, max_ms: int = 50) -> list[dict[str, Any]]:
    """Mixed personas; with `failures`, 10% fail once then succeed and 5% always fail."""
    tasks = []
    for _ in range(n):
        simulate: dict[str, Any] = {"duration_ms": rng.randint(1, max_ms)}
        task: dict[str, Any] = {"agent_type": rng.choice(PERSONAS), "payload": {"simulate": simulate}}
        roll = rng.random()
        if failures and roll < 0.10:
            simulate["fail_attempts"] = 1
        elif failures and roll < 0.15:
            simulate["fail_rate"] = 1.0
            task["max_retries"] = 2
        tasks.append(task)
    return tasks


@dataclass
class Load:
    """Submits batches in a thread until stopped; records every answer."""

    url: str
    batch: int = 50
    pause: float = 0.1
    single: bool = False
    seed: int = 1
    ids: list[str] = field(default_factory=list)
    codes: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def until(self, count: int, timeout: float = 120) -> None:
        """Keep submitting until `count` tasks were acknowledged: a slow machine still reaches the size."""
        deadline = time.monotonic() + timeout
        while len(self.ids) < count and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(30)

    def _run(self) -> None:
        rng = random.Random(self.seed)
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.is_set():
                tasks = workload(self.batch, rng)
                try:
                    if self.single:
                        for task in tasks:
                            self._record(client.post("/tasks", json=task), single=True)
                    else:
                        self._record(client.post("/tasks/batch", json={"tasks": tasks}), single=False)
                except httpx.HTTPError:
                    self.errors += 1
                time.sleep(self.pause)

    def _record(self, response: httpx.Response, *, single: bool) -> None:
        self.codes[response.status_code] += 1
        if response.status_code == 201:
            body = response.json()
            self.ids += [body["id"]] if single else [item["id"] for item in body["items"]]


class ChaosMesh:
    """Private PostgreSQL and Redis, and the mesh's processes on them."""

    def __init__(self, **overrides: Any) -> None:
        self.pg = PostgresServer()
        self.pg.start()
        self.redis = RedisServer()
        self.redis.start()
        self.pg.psql("CREATE DATABASE chaos")
        options: dict[str, Any] = {
            "db_dsn": self.pg.dsn("chaos"), "redis_url": self.redis.url, "lease_seconds": 2,
            "reconcile_seconds": 1, "reconcile_grace": 2, "backoff_base": 1.2, "backoff_jitter": 0.1,
            "shutdown_grace": 5,
        }  # fmt: skip
        options.update(overrides)
        self.settings = Settings(**options)
        self.procs = Processes()
        self.faults = 0
        migrated = run_cli(["migrate"], settings_env(self.settings))
        assert migrated.returncode == 0, migrated.stderr

    def api(self, **extra: str) -> str:
        return self.procs.api(self.settings, **extra)

    def worker(self, concurrency: int = 20, **extra: str) -> Any:
        return self.procs.worker(self.settings, concurrency, **extra)

    def close(self) -> None:
        self.procs.close()
        self.pg.destroy()
        self.redis.destroy()

    # -- settling and checking ----------------------------------------------------------
    def settle(self, expected: int, timeout: float = 120) -> Report:
        """Wait until `expected` tasks are terminal and the dead letter mirrors the store; check invariants."""
        return asyncio.run(self._settle(expected, timeout))

    async def _settle(self, expected: int, timeout: float) -> Report:
        store, broker = create_store(self.settings), create_broker(self.settings)
        await store.open()
        await broker.open()
        try:
            deadline = time.monotonic() + timeout
            while True:
                counts = await store.count_by_status()
                moving = sum(n for status, n in counts.items() if not status.terminal)
                dead = set(await broker.dead_letter_ids())
                dead_in_step = len(dead) == counts[TaskStatus.PERMANENT_FAILURE]
                if sum(counts.values()) >= expected and not moving and dead_in_step:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"not settled after {timeout}s: {counts}, dead letter {len(dead)}\n"
                                         f"{self.procs.logs()}")  # fmt: skip
                await asyncio.sleep(0.5)
            ids = [task.id for status in TaskStatus for task in await all_with_status(store, status)]
            report = await collect(store, ids)
            violations = check_all(report, await broker.dead_letter_ids())
            assert violations == [], "\n".join(violations[:30])
            return report
        finally:
            await broker.close()
            await store.close()

    def check_workflows(self, workflow_ids: list[str], report: Report) -> dict[str, int]:
        """Check the dependency rule of every workflow; return how many ended in each status."""
        return asyncio.run(self._check_workflows(workflow_ids, report))

    async def _check_workflows(self, workflow_ids: list[str], report: Report) -> dict[str, int]:
        store = create_store(self.settings)
        await store.open()
        statuses: Counter[str] = Counter()
        try:
            for workflow_id in workflow_ids:
                workflow = await store.get_workflow(uuid.UUID(workflow_id))
                assert workflow is not None
                statuses[workflow.status.value] += 1
                assert check_dependencies(workflow, report.events) == []
        finally:
            await store.close()
        return dict(statuses)

    def summary(self, name: str, report: Report, submitted: list[str], **extra: Any) -> str:
        stored = {str(task_id) for task_id in report.tasks}
        lost = [task_id for task_id in submitted if task_id not in stored]
        assert lost == [], f"{len(lost)} tasks answered 201 but missing from the store"
        counts = {status.value: n for status, n in report.by_status().items() if n}
        line = (f"chaos {name}: tasks={len(report.tasks)} faults={self.faults} lost=0 "
                f"invariant_violations=0 {counts} {extra}")  # fmt: skip
        print(line)
        return line


def task_ids(items: list[str]) -> list[uuid.UUID]:
    return [uuid.UUID(item) for item in items]
