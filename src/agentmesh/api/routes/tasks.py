"""Submit, read, list and cancel tasks."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from agentmesh.api.bodies import json_body, json_response, parse_body, task_fields
from agentmesh.api.deps import MeshDep
from agentmesh.api.schemas import (
    MAX_AGENT_TYPE,
    MAX_LIST_LIMIT,
    BatchIn,
    BatchOut,
    ErrorOut,
    EventList,
    EventOut,
    SafeText,
    TaskIn,
    TaskList,
    TaskOut,
)
from agentmesh.domain.task import TaskStatus
from agentmesh.errors import TaskNotFound
from agentmesh.mesh import Mesh, TaskRequest

router = APIRouter(tags=["tasks"])

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 404, 409, 413, 415, 422, 503)
}


def to_request(body: TaskIn) -> TaskRequest:
    return TaskRequest(
        agent_type=body.agent_type, payload=body.payload, priority=body.priority, max_retries=body.max_retries,
        delay_seconds=body.delay_seconds, idempotency_key=body.idempotency_key,
    )  # fmt: skip


@router.post("/tasks", status_code=201, response_model=TaskOut, openapi_extra=json_body(TaskIn),
             responses={200: {"model": TaskOut}, **ERRORS})  # fmt: skip
async def submit_task(request: Request, mesh: MeshDep) -> Response:
    """Commit one task as PENDING. A repeated idempotency key with the same body returns the original (200)."""
    body = parse_body(TaskIn, await request.body())
    item = await mesh.submit_one(to_request(body))
    return json_response(task_fields(item.task), 201 if item.created else 200, {"Location": f"/tasks/{item.task.id}"})


@router.post("/tasks/batch", status_code=201, response_model=BatchOut, openapi_extra=json_body(BatchIn),
             responses=ERRORS)  # fmt: skip
async def submit_batch(request: Request, mesh: MeshDep) -> Response:
    """Commit up to 1,000 tasks atomically: all or none."""
    body = parse_body(BatchIn, await request.body())
    submitted = await mesh.submit([to_request(task) for task in body.tasks])
    return json_response({"items": [task_fields(item.task) for item in submitted]}, 201)


@router.get("/tasks/{task_id}", response_model=TaskOut, responses=ERRORS)
async def get_task(task_id: uuid.UUID, mesh: MeshDep) -> TaskOut:
    task = await mesh.store.get(task_id)
    if task is None:
        raise TaskNotFound(f"no task {task_id}")
    return TaskOut.of(task)


async def list_page(
    mesh: Mesh, status: TaskStatus | None, agent_type: str | None, limit: int, cursor: uuid.UUID | None
) -> TaskList:
    tasks = await mesh.store.list_tasks(status=status, agent_type=agent_type, limit=limit + 1, before=cursor)
    more = len(tasks) > limit
    tasks = tasks[:limit]
    return TaskList(items=[TaskOut.of(task) for task in tasks], next=str(tasks[-1].id) if more else None)


@router.get("/tasks", response_model=TaskList, responses=ERRORS)
async def list_tasks(
    mesh: MeshDep,
    status: TaskStatus | None = None,
    agent_type: Annotated[SafeText | None, Query(max_length=MAX_AGENT_TYPE)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 100,
    cursor: uuid.UUID | None = None,
) -> TaskList:
    """Newest first. Pass `next` from one page as `cursor` to get the following one."""
    return await list_page(mesh, status, agent_type, limit, cursor)


@router.get("/tasks/{task_id}/events", response_model=EventList, responses=ERRORS)
async def task_events(task_id: uuid.UUID, mesh: MeshDep) -> EventList:
    """The audit trail of one task, oldest first."""
    events = await mesh.store.events(task_id)
    if not events and await mesh.store.get(task_id) is None:
        raise TaskNotFound(f"no task {task_id}")
    return EventList(items=[EventOut.of(event) for event in events])


@router.post("/tasks/{task_id}/cancel", response_model=TaskOut, responses=ERRORS)
async def cancel_task(task_id: uuid.UUID, mesh: MeshDep) -> TaskOut:
    """Cancel a task that has not finished; a running one is stopped at its next heartbeat."""
    return TaskOut.of(await mesh.cancel(task_id))
