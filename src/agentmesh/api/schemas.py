"""HTTP request and response bodies, kept apart from the domain model."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentmesh.domain.task import Priority, Task, TaskEvent, TaskStatus

MAX_BATCH = 1000
MAX_LIST_LIMIT = 1000


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    agent_type: str = Field(min_length=1, max_length=200, examples=["CEDRIC_WRITER"])
    payload: dict[str, Any] = Field(default_factory=dict, examples=[{"topic": "launch post"}])
    # FastAPI validates the parsed body in Python mode, where strict enums want instances: relax this one.
    priority: Priority | None = Field(None, strict=False, description="Lane; defaults to the agent's own lane")
    idempotency_key: str | None = Field(None, min_length=1, max_length=256)
    max_retries: int | None = Field(None, ge=0, le=100)
    delay_seconds: float = Field(0.0, ge=0, le=366 * 24 * 3600)


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    tasks: list[TaskIn] = Field(min_length=1, max_length=MAX_BATCH)


class TaskOut(BaseModel):
    id: uuid.UUID
    agent_type: str
    priority: Priority
    payload: dict[str, Any]
    status: TaskStatus
    result: Any
    last_error: str | None
    retry_count: int
    max_retries: int
    attempt: int
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    run_after: datetime
    worker_id: str | None

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            id=task.id, agent_type=task.agent_type, priority=task.priority, payload=task.payload,
            status=task.status, result=task.result, last_error=task.last_error,
            retry_count=task.retry_count, max_retries=task.max_retries, attempt=task.attempt,
            idempotency_key=task.idempotency_key, created_at=task.created_at, updated_at=task.updated_at,
            started_at=task.started_at, completed_at=task.completed_at, run_after=task.run_after,
            worker_id=task.worker_id,
        )  # fmt: skip


class TaskList(BaseModel):
    items: list[TaskOut]
    next: str | None = Field(description="Cursor for the next page, or null on the last page")


class BatchOut(BaseModel):
    items: list[TaskOut]


class EventOut(BaseModel):
    id: int
    task_id: uuid.UUID
    from_status: TaskStatus | None
    to_status: TaskStatus
    attempt: int
    worker_id: str | None
    at: datetime
    detail: str | None

    @classmethod
    def of(cls, event: TaskEvent) -> EventOut:
        return cls(
            id=event.id, task_id=event.task_id, from_status=event.from_status, to_status=event.to_status,
            attempt=event.attempt, worker_id=event.worker_id, at=event.at, detail=event.detail,
        )  # fmt: skip


class EventList(BaseModel):
    items: list[EventOut]


class Lanes(BaseModel):
    high: int
    medium: int
    low: int


class QueuesOut(BaseModel):
    lanes: Lanes
    delayed: int
    running: int
    dead_letter: int = Field(description="Tasks in PERMANENT_FAILURE (the store's count)")
    dead_letter_list: int = Field(description="Ids in the broker's dead-letter list")
    by_status: dict[str, int]


class AgentOut(BaseModel):
    agent_type: str
    lane: Priority
    timeout: float | None
    max_retries: int | None


class AgentList(BaseModel):
    items: list[AgentOut]


class WorkerOut(BaseModel):
    id: str
    host: str
    pid: int
    concurrency: int
    in_flight: int
    started_at: datetime
    last_seen: datetime


class WorkerList(BaseModel):
    items: list[WorkerOut]


class Health(BaseModel):
    status: str
    store: str | None = None
    broker: str | None = None


class ErrorOut(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None
