"""The dead-letter queue: tasks in PERMANENT_FAILURE, inspected and requeued."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from agentmesh.api.deps import MeshDep
from agentmesh.api.routes.tasks import ERRORS, list_page
from agentmesh.api.schemas import MAX_AGENT_TYPE, MAX_LIST_LIMIT, SafeText, TaskList, TaskOut
from agentmesh.domain.task import TaskStatus

router = APIRouter(tags=["dead-letter"])


@router.get("/dead-letter", response_model=TaskList, responses=ERRORS)
async def list_dead_letter(
    mesh: MeshDep,
    agent_type: Annotated[SafeText | None, Query(max_length=MAX_AGENT_TYPE)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 100,
    cursor: uuid.UUID | None = None,
) -> TaskList:
    return await list_page(mesh, TaskStatus.PERMANENT_FAILURE, agent_type, limit, cursor)


@router.post("/dead-letter/{task_id}/requeue", response_model=TaskOut, responses=ERRORS)
async def requeue(task_id: uuid.UUID, mesh: MeshDep) -> TaskOut:
    """Send a dead task back to PENDING with its retry counter reset."""
    return TaskOut.of(await mesh.requeue(task_id))
