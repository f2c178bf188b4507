"""The worker runtime in-process, on every backend pair."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from agentmesh.agents import Abort, AgentRegistry, Retry, TaskContext
from agentmesh.agents.personas import register_personas
from agentmesh.broker import Broker
from agentmesh.config import Settings
from agentmesh.domain.task import Priority, TaskStatus
from agentmesh.mesh import Mesh, TaskRequest
from agentmesh.store import Store
from agentmesh.worker.runtime import Worker
from tests.invariants import check_all, collect

S = TaskStatus


def make_registry() -> AgentRegistry:
    agents = AgentRegistry()
    register_personas(agents)
    return agents


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    runner = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(runner, 30)


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def terminal(store: Store, task_id: uuid.UUID) -> bool:
    task = await store.get(task_id)
    return task is not None and task.status.terminal


async def test_same_id_pushed_twice_runs_once(store: Store, broker: Broker, backend_settings: Settings) -> None:
    agents = make_registry()
    mesh = Mesh(store, broker, agents, backend_settings)
    (item,) = await mesh.submit([TaskRequest("CEDRIC_WRITER", {"simulate": {"duration_ms": 50}})])
    await broker.push([(item.task.id, Priority.MEDIUM)] * 2)  # three copies in the lane now
    async with running(Worker(store, broker, agents, backend_settings.model_copy(update={"concurrency": 4}))):
        await until(lambda: terminal(store, item.task.id))
        await until(lambda: _lanes_empty(broker))
    events = await store.events(item.task.id)
    assert [e.to_status for e in events] == [S.PENDING, S.RUNNING, S.COMPLETED]


async def _lanes_empty(broker: Broker) -> bool:
    depths = await broker.depths()
    return depths.high + depths.medium + depths.low == 0


async def test_custom_agents_sync_async_timeout_retry_abort(
    store: Store, broker: Broker, backend_settings: Settings
) -> None:
    agents = make_registry()
    threads: list[str] = []

    @agents.agent("SYNC", lane="high")
    def sync_agent(payload: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        time.sleep(0.05)  # blocking on purpose: must not block the loop
        return {"doubled": payload["x"] * 2}

    @agents.agent("ASYNC", lane="low")
    async def async_agent(payload: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        return {"attempt": ctx.attempt, "task": str(ctx.task_id)}

    @agents.agent("SLOW", timeout=0.1, max_retries=0)
    async def slow(payload: dict[str, Any]) -> None:
        await asyncio.sleep(10)

    @agents.agent("RETRY_ONCE")
    async def retry_once(payload: dict[str, Any], ctx: TaskContext) -> str:
        if ctx.retry_count == 0:
            raise Retry("not yet", delay=0.05)
        return "done"

    @agents.agent("ABORT")
    async def abort(payload: dict[str, Any]) -> None:
        raise Abort("hopeless")

    mesh = Mesh(store, broker, agents, backend_settings)
    requests = [TaskRequest(name, {"x": 21}) for name in ("SYNC", "ASYNC", "SLOW", "RETRY_ONCE", "ABORT")]
    ids = [item.task.id for item in await mesh.submit(requests)]
    async with running(Worker(store, broker, agents, backend_settings)):
        for task_id in ids:
            await until(lambda task_id=task_id: terminal(store, task_id))
    tasks = {task_id: await store.get(task_id) for task_id in ids}
    sync_task, async_task, slow_task, retried, aborted = (tasks[i] for i in ids)
    assert sync_task and sync_task.result == {"doubled": 42} and threads and threads[0] != "MainThread"
    assert async_task and async_task.result == {"attempt": 1, "task": str(async_task.id)}
    assert slow_task and slow_task.status is S.PERMANENT_FAILURE and "timeout" in (slow_task.last_error or "")
    assert retried and (retried.status, retried.retry_count, retried.result) == (S.COMPLETED, 1, "done")
    assert aborted and (aborted.status, aborted.retry_count) == (S.PERMANENT_FAILURE, 1)
    assert set(await broker.dead_letter_ids()) == {slow_task.id, aborted.id}
    assert check_all(await collect(store, ids)) == []


async def test_drain_releases_unfinished_work_without_a_failure(
    store: Store, broker: Broker, backend_settings: Settings
) -> None:
    agents = make_registry()
    started = asyncio.Event()

    @agents.agent("STUCK")
    async def stuck(payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(60)

    mesh = Mesh(store, broker, agents, backend_settings)
    (item,) = await mesh.submit([TaskRequest("STUCK", {})])
    worker = Worker(store, broker, agents, backend_settings.model_copy(update={"shutdown_grace": 0.2}))
    async with running(worker):
        await asyncio.wait_for(started.wait(), 10)
    task = await store.get(item.task.id)
    assert task is not None and (task.status, task.retry_count) == (S.PENDING, 0)
    assert await broker.pop(5, timeout=0) == [(task.id, task.priority)]
    assert [e.to_status for e in await store.events(task.id)] == [S.PENDING, S.RUNNING, S.PENDING]


async def test_cancel_stops_a_running_agent(store: Store, broker: Broker, backend_settings: Settings) -> None:
    agents = make_registry()
    started, stopped = asyncio.Event(), asyncio.Event()

    @agents.agent("LONG")
    async def long(payload: dict[str, Any]) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    settings = backend_settings.model_copy(update={"lease_seconds": 0.6})
    mesh = Mesh(store, broker, agents, settings)
    (item,) = await mesh.submit([TaskRequest("LONG", {})])
    async with running(Worker(store, broker, agents, settings)):
        await asyncio.wait_for(started.wait(), 10)
        await mesh.cancel(item.task.id)
        await asyncio.wait_for(stopped.wait(), 5)  # within about one heartbeat (lease / 3)
    task = await store.get(item.task.id)
    assert task is not None and task.status is S.CANCELLED
