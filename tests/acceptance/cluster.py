"""The same end-to-end scenarios on both deployment modes.

Distributed: `agentmesh api` and N `agentmesh worker` processes on PostgreSQL + Redis.
Embedded: one `agentmesh dev` process on SQLite + its in-process broker, with the same total
concurrency (an in-process broker cannot be shared between processes).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from agentmesh.agents import registry
from agentmesh.broker import create_broker
from agentmesh.config import Settings
from agentmesh.domain.task import Priority
from agentmesh.mesh import Mesh, TaskRequest
from agentmesh.store import create_store
from tests.invariants import Report, collect
from tests.procs import Processes, settings_env
from tests.servers import free_port


@dataclass
class Cluster:
    kind: str
    settings: Settings
    procs: Processes
    url: str = ""
    pids: list[int] = field(default_factory=list)

    @property
    def distributed(self) -> bool:
        return self.settings.redis_url is not None

    def start(self, workers: int, concurrency: int) -> str:
        """Bring up the API and `workers` x `concurrency` slots; return the API's URL."""
        if self.distributed:
            self.url = self.url or self.procs.api(self.settings)
            self.pids += [self.procs.worker(self.settings, concurrency).pid for _ in range(workers)]
            return self.url
        port = free_port()
        env = settings_env(self.settings)
        dev = self.procs.spawn(["dev", "--port", str(port), "--concurrency", str(workers * concurrency)], env, "dev")
        self.url, self.pids = f"http://127.0.0.1:{port}", [dev.pid]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert dev.poll() is None, self.procs.logs()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"dev did not start: {self.procs.logs()}")

    def prefill(self, tasks: list[dict[str, Any]]) -> list[uuid.UUID]:
        """Commit tasks before any worker runs (embedded: straight into the store, as a restart finds them)."""
        if self.distributed:
            self.url = self.url or self.procs.api(self.settings)
            with httpx.Client(base_url=self.url, timeout=30) as client:
                response = client.post("/tasks/batch", json={"tasks": tasks})
                assert response.status_code == 201, response.text
                return [uuid.UUID(task["id"]) for task in response.json()["items"]]
        return asyncio.run(self._submit_to_store(tasks))

    async def _submit_to_store(self, tasks: list[dict[str, Any]]) -> list[uuid.UUID]:
        store, broker = create_store(self.settings), create_broker(self.settings)
        await store.open()
        await store.migrate()
        await broker.open()
        try:
            requests = [TaskRequest(t["agent_type"], t["payload"], priority=Priority(t["priority"])) for t in tasks]
            submitted = await Mesh(store, broker, registry, self.settings).submit(requests)
            return [item.task.id for item in submitted]
        finally:
            await broker.close()
            await store.close()

    def report(self, ids: list[uuid.UUID]) -> tuple[Report, list[uuid.UUID] | None]:
        """The tasks' records, and the broker's dead-letter list where another process can read it."""
        report, dead_letter = asyncio.run(self._report(ids))
        if not self.distributed:  # the in-process broker lives in the dev process: compare its count
            listed = httpx.get(f"{self.url}/queues").json()["dead_letter_list"]
            assert listed == sum(1 for t in report.tasks.values() if t.status == "PERMANENT_FAILURE")
        return report, dead_letter

    async def _report(self, ids: list[uuid.UUID]) -> tuple[Report, list[uuid.UUID] | None]:
        store = create_store(self.settings)
        await store.open()
        try:
            report = await collect(store, ids)
        finally:
            await store.close()
        if not self.distributed:
            return report, None
        broker = create_broker(self.settings)
        await broker.open()
        try:
            return report, await broker.dead_letter_ids()
        finally:
            await broker.close()
