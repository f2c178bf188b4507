"""Workflows: submit a DAG of steps, read it, list, cancel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from agentmesh.api.deps import MeshDep
from agentmesh.api.routes.tasks import ERRORS
from agentmesh.api.schemas import MAX_LIST_LIMIT, SafeText, TaskIn, TaskOut
from agentmesh.domain.task import Task
from agentmesh.domain.workflow import MAX_STEPS, Workflow, WorkflowStatus
from agentmesh.errors import WorkflowNotFound
from agentmesh.mesh import TaskRequest

router = APIRouter(tags=["workflows"])

STEP_ID = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")


class StepIn(TaskIn):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = STEP_ID
    depends_on: list[Annotated[str, STEP_ID]] = Field(default_factory=list, max_length=MAX_STEPS)


class WorkflowIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: SafeText = Field(min_length=1, max_length=200)
    idempotency_key: SafeText | None = Field(None, min_length=1, max_length=256)
    steps: list[StepIn] = Field(min_length=1, max_length=MAX_STEPS)


class StepOut(TaskOut):
    step_id: str
    depends_on: list[str]


class WorkflowOut(BaseModel):
    id: uuid.UUID
    name: str
    status: WorkflowStatus
    idempotency_key: str | None
    created_at: datetime
    cancelled_at: datetime | None
    steps: list[StepOut] | None = Field(None, description="Every step, in submission order (null in listings)")

    @classmethod
    def of(cls, workflow: Workflow, *, with_steps: bool = True) -> WorkflowOut:
        depends: dict[str, list[str]] = {}
        for step, dependency in workflow.dependencies:
            depends.setdefault(step, []).append(dependency)
        return cls(
            id=workflow.id, name=workflow.name, status=workflow.status, idempotency_key=workflow.idempotency_key,
            created_at=workflow.created_at, cancelled_at=workflow.cancelled_at,
            steps=[_step(task, depends.get(task.step_id or "", [])) for task in workflow.steps] if with_steps else None,
        )  # fmt: skip


def _step(task: Task, depends_on: list[str]) -> StepOut:
    return StepOut(**TaskOut.of(task).model_dump(), step_id=task.step_id or "", depends_on=sorted(depends_on))


class WorkflowList(BaseModel):
    items: list[WorkflowOut]
    next: str | None


def _request(step: StepIn) -> TaskRequest:
    return TaskRequest(
        agent_type=step.agent_type, payload=step.payload, priority=step.priority, max_retries=step.max_retries,
        delay_seconds=step.delay_seconds, step_id=step.id, depends_on=tuple(step.depends_on),
    )  # fmt: skip


@router.post("/workflows", status_code=201, response_model=WorkflowOut, responses=ERRORS)
async def submit_workflow(body: WorkflowIn, mesh: MeshDep, response: Response) -> WorkflowOut:
    """Commit every step at once: steps without dependencies are PENDING, the others WAITING.

    A cycle, a dangling dependency or a duplicate step id is a 422 naming the step; nothing is stored.
    """
    workflow, created = await mesh.submit_workflow(body.name, [_request(s) for s in body.steps], body.idempotency_key)
    response.headers["Location"] = f"/workflows/{workflow.id}"
    if not created:
        response.status_code = 200
    return WorkflowOut.of(workflow)


@router.get("/workflows/{workflow_id}", response_model=WorkflowOut, responses=ERRORS)
async def get_workflow(workflow_id: uuid.UUID, mesh: MeshDep) -> WorkflowOut:
    workflow = await mesh.store.get_workflow(workflow_id)
    if workflow is None:
        raise HTTPException(404, f"no workflow {workflow_id}")
    return WorkflowOut.of(workflow)


@router.get("/workflows", response_model=WorkflowList, responses=ERRORS)
async def list_workflows(
    mesh: MeshDep,
    status: WorkflowStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 100,
    cursor: uuid.UUID | None = None,
) -> WorkflowList:
    """Newest first, without their steps; pass `next` as `cursor` for the following page."""
    found = await mesh.store.list_workflows(status=status, limit=limit + 1, before=cursor)
    page = found[:limit]
    return WorkflowList(
        items=[WorkflowOut.of(w, with_steps=False) for w in page], next=str(page[-1].id) if len(found) > limit else None
    )


@router.post("/workflows/{workflow_id}/cancel", response_model=WorkflowOut, responses=ERRORS)
async def cancel_workflow(workflow_id: uuid.UUID, mesh: MeshDep) -> WorkflowOut:
    """Cancel every unfinished step; running ones are stopped at their next heartbeat."""
    try:
        return WorkflowOut.of(await mesh.cancel_workflow(workflow_id))
    except WorkflowNotFound as exc:
        raise HTTPException(404, str(exc)) from None


