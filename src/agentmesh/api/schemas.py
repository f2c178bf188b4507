"""HTTP request and response bodies, kept apart from the domain model."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from agentmesh.api.limits import active_limits, check_json, check_text
from agentmesh.domain.task import Priority, Task, TaskEvent, TaskStatus

MAX_BATCH = 1000
MAX_LIST_LIMIT = 1000
MAX_AGENT_TYPE = 200
MAX_IDEMPOTENCY_KEY = 256
MAX_TASK_RETRIES = 100
MAX_DELAY_SECONDS = 366 * 24 * 3600

# A string every backend stores verbatim: no U+0000, no lone surrogates (see agentmesh.api.limits).
SafeText = Annotated[str, AfterValidator(check_text)]


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    agent_type: SafeText = Field(min_length=1, max_length=MAX_AGENT_TYPE, examples=["CEDRIC_WRITER"])
    payload: dict[str, Any] = Field(
        default_factory=dict, examples=[{"topic": "launch post"}],
        description="JSON object, stored verbatim; no U+0000, no lone surrogates, integers within 64 bits, "
        "nesting and key count limited (AGENTMESH_MAX_PAYLOAD_DEPTH, AGENTMESH_MAX_PAYLOAD_KEYS)",
    )  # fmt: skip
    # FastAPI validates the parsed body in Python mode, where strict enums want instances: relax this one.
    priority: Priority | None = Field(None, strict=False, description="Lane; defaults to the agent's own lane")
    idempotency_key: SafeText | None = Field(None, min_length=1, max_length=MAX_IDEMPOTENCY_KEY)
    max_retries: int | None = Field(None, ge=0, le=MAX_TASK_RETRIES)
    delay_seconds: float = Field(0.0, ge=0, le=MAX_DELAY_SECONDS)

    @field_validator("payload")
    @classmethod
    def _payload_within_limits(cls, payload: dict[str, Any]) -> dict[str, Any]:
        checked: dict[str, Any] = check_json(payload, active_limits())
        return checked


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
        """From the store's record, which is already valid: no second validation of every payload."""
        return cls.model_construct(
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
    """Every 4xx and 5xx answer."""

    code: str = Field(description="Stable machine-readable reason, e.g. invalid_request, not_found, unauthorized")
    message: str = Field(description="What is wrong, for a human; names the field or the limit")
    details: list[dict[str, Any]] | None = Field(None, description="Per-field validation errors")
    request_id: str | None = Field(None, description="On 5xx: the X-Request-ID to quote when reporting it")
