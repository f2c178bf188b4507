"""The task record, its states and priorities."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uuid_utils.compat

JSON = Any


class Priority(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for high: lanes are served in ascending rank."""
        return _RANK[self]


_RANK = {Priority.HIGH: 0, Priority.MEDIUM: 1, Priority.LOW: 2}


class TaskStatus(enum.StrEnum):
    WAITING = "WAITING"  # a workflow step whose dependencies have not all completed
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    RETRYING = "RETRYING"
    COMPLETED = "COMPLETED"
    PERMANENT_FAILURE = "PERMANENT_FAILURE"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"  # a workflow step whose dependency failed for good; resumes if it is requeued

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.PERMANENT_FAILURE, TaskStatus.CANCELLED, TaskStatus.SKIPPED}
)


def new_task_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so ids sort by submission and index well."""
    return uuid_utils.compat.uuid7()


@dataclass(frozen=True, slots=True)
class NewTask:
    """A validated request to create a task; the store turns it into a `Task`."""

    agent_type: str
    priority: Priority
    payload: dict[str, JSON]
    max_retries: int
    delay_seconds: float = 0.0
    idempotency_key: str | None = None
    request_hash: str | None = None
    id: uuid.UUID = field(default_factory=new_task_id)
    step_id: str | None = None  # set for workflow steps
    depends_on: tuple[str, ...] = ()  # step ids of the same workflow


@dataclass(frozen=True, slots=True)
class Task:
    id: uuid.UUID
    agent_type: str
    priority: Priority
    payload: dict[str, JSON]
    status: TaskStatus
    result: JSON
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
    worker_id: str | None = None
    lease_expires_at: datetime | None = None
    request_hash: str | None = None
    workflow_id: uuid.UUID | None = None
    step_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One row of the append-only audit log: a single state transition."""

    id: int
    task_id: uuid.UUID
    from_status: TaskStatus | None
    to_status: TaskStatus
    attempt: int
    worker_id: str | None
    at: datetime
    detail: str | None
