"""Workflows on every backend pair: DAG order, dynamic fan-out, failure and resumption, cancel."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from agentmesh.agents import AgentRegistry, TaskContext
from agentmesh.broker import Broker
from agentmesh.config import Settings
from agentmesh.domain.task import TaskStatus
from agentmesh.domain.workflow import InvalidWorkflow, Workflow, WorkflowStatus
from agentmesh.errors import IdempotencyConflict
from agentmesh.mesh import Mesh, TaskRequest
from agentmesh.store import Store
from agentmesh.worker.runtime import Worker
from tests.contract.test_worker import make_registry, running, until
from tests.invariants import check_all, check_dependencies, collect

S = TaskStatus
W = WorkflowStatus


def step(step_id: str, agent: str = "CEDRIC_WRITER", after: tuple[str, ...] = (), **payload: Any) -> TaskRequest:
    return TaskRequest(agent, {"simulate": {"duration_ms": 1}, **payload}, step_id=step_id, depends_on=after)


async def settled(store: Store, workflow_id: uuid.UUID) -> Workflow:
    async def done() -> bool:
        found = await store.get_workflow(workflow_id)
        return found is not None and all(s.status.terminal for s in found.steps)

    await until(done, timeout=60)
    found = await store.get_workflow(workflow_id)
    assert found is not None
    return found


async def verify(store: Store, workflow: Workflow) -> None:
    report = await collect(store, [s.id for s in workflow.steps])
    assert check_all(report) == []
    assert check_dependencies(workflow, report.events) == []


@pytest.fixture
def agents() -> AgentRegistry:
    return make_registry()


@pytest.fixture
def mesh(store: Store, broker: Broker, agents: AgentRegistry, backend_settings: Settings) -> Mesh:
    return Mesh(store, broker, agents, backend_settings.model_copy(update={"concurrency": 8}))


async def test_diamond_runs_in_order_and_d_sees_both_results(mesh: Mesh, agents: AgentRegistry) -> None:
    seen: dict[str, Any] = {}

    @agents.agent("JOIN")
    async def join(payload: dict[str, Any], ctx: TaskContext) -> str:
        seen.update(ctx.results)
        return "joined"

    workflow, created = await mesh.submit_workflow("diamond", [
        step("A"), step("B", after=("A",)), step("C", after=("A",)),
        TaskRequest("JOIN", {}, step_id="D", depends_on=("B", "C")),
    ])  # fmt: skip
    assert created and workflow.status is W.RUNNING
    assert {s.step_id: s.status for s in workflow.steps} == {"A": S.PENDING, "B": S.WAITING, "C": S.WAITING,
                                                             "D": S.WAITING}  # fmt: skip
    async with running(Worker(mesh.store, mesh.broker, agents, mesh.settings)):
        done = await settled(mesh.store, workflow.id)
    assert done.status is W.COMPLETED
    assert set(seen) == {"B", "C"} and all(r["agent"] == "CEDRIC_WRITER" for r in seen.values())
    await verify(mesh.store, done)


async def test_squad_pipelines_fan_out_dynamically(mesh: Mesh, agents: AgentRegistry) -> None:
    plan = {"writers": 5, "simulate": {"duration_ms": 1}}
    ids = []
    for n in range(20):
        workflow, _ = await mesh.submit_workflow(f"squad-{n}", [step("plan", "MAGNUS_STRATEGIST", plan=plan)])
        ids.append(workflow.id)
    async with running(Worker(mesh.store, mesh.broker, agents, mesh.settings)):
        results = [await settled(mesh.store, workflow_id) for workflow_id in ids]
    for workflow in results:
        assert workflow.status is W.COMPLETED
        assert len(workflow.steps) == 7  # the plan, five drafts, the audit
        audit = next(s for s in workflow.steps if s.step_id == "plan.audit")
        assert audit.result["inputs"] == [f"plan.draft-{i}" for i in range(5)]
        await verify(mesh.store, workflow)


async def test_a_dead_step_fails_the_workflow_and_a_requeue_resumes_it(mesh: Mesh, agents: AgentRegistry) -> None:
    healthy = {"ok": False}

    @agents.agent("FLAKY_SOURCE", max_retries=0)
    async def source(payload: dict[str, Any]) -> str:
        if not healthy["ok"]:
            raise RuntimeError("upstream down")
        return "fixed"

    workflow, _ = await mesh.submit_workflow("recover", [
        TaskRequest("FLAKY_SOURCE", {}, step_id="A"), step("B", after=("A",)), step("C", after=("B",)),
        step("side"),
    ])  # fmt: skip
    ids = {s.step_id: s.id for s in workflow.steps}
    async with running(Worker(mesh.store, mesh.broker, agents, mesh.settings)):
        failed = await settled(mesh.store, workflow.id)
        assert failed.status is W.FAILED
        assert {s.step_id: s.status for s in failed.steps} == {"A": S.PERMANENT_FAILURE, "B": S.SKIPPED,
                                                               "C": S.SKIPPED, "side": S.COMPLETED}  # fmt: skip
        healthy["ok"] = True
        await mesh.requeue(ids["A"])
        done = await settled(mesh.store, workflow.id)
    assert done.status is W.COMPLETED
    await verify(mesh.store, done)


async def test_cancel_stops_running_steps_and_cancels_the_rest(mesh: Mesh, agents: AgentRegistry) -> None:
    started = asyncio.Event()

    @agents.agent("SLOW_STEP")
    async def slow(payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(60)

    settings = mesh.settings.model_copy(update={"lease_seconds": 0.6})
    workflow, _ = await mesh.submit_workflow("cancel-me", [
        TaskRequest("SLOW_STEP", {}, step_id="A"), step("B", after=("A",)),
    ])  # fmt: skip
    async with running(Worker(mesh.store, mesh.broker, agents, settings)):
        await asyncio.wait_for(started.wait(), 10)
        cancelled = await mesh.cancel_workflow(workflow.id)
        assert cancelled.status is W.CANCELLED
    assert {s.step_id: s.status for s in cancelled.steps} == {"A": S.CANCELLED, "B": S.CANCELLED}
    await verify(mesh.store, cancelled)


@pytest.mark.parametrize(("steps", "culprit"), [
    ([step("A", after=("B",)), step("B", after=("A",))], "A"),
    ([step("A"), step("B", after=("nope",))], "B"),
    ([step("A"), step("A")], "A"),
    ([step("A", after=("A",))], "A"),
])  # fmt: skip
async def test_invalid_graphs_name_the_step_and_store_nothing(
    mesh: Mesh, steps: list[TaskRequest], culprit: str
) -> None:
    with pytest.raises(InvalidWorkflow) as caught:
        await mesh.submit_workflow("bad", steps)
    assert caught.value.step == culprit
    assert await mesh.store.list_workflows() == []
    assert sum((await mesh.store.count_by_status()).values()) == 0


async def test_workflow_idempotency(mesh: Mesh) -> None:
    first, created = await mesh.submit_workflow("once", [step("A")], idempotency_key="wf-1")
    again, created_again = await mesh.submit_workflow("once", [step("A")], idempotency_key="wf-1")
    assert created and not created_again and again.id == first.id
    with pytest.raises(IdempotencyConflict):
        await mesh.submit_workflow("once", [step("B")], idempotency_key="wf-1")
