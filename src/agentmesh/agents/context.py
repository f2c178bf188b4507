"""What an agent function sees, and the exceptions it may raise to steer retries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from agentmesh.domain.task import JSON, Priority


@dataclass(frozen=True, slots=True)
class TaskContext:
    """A frozen view of the running attempt."""

    task_id: uuid.UUID
    agent_type: str
    priority: Priority
    payload: dict[str, JSON]
    attempt: int  # claims so far, this one included
    retry_count: int  # failures before this attempt
    max_retries: int
    worker_id: str


class Retry(Exception):
    """Raise from an agent to fail this attempt and retry after `delay` seconds (default: backoff)."""

    def __init__(self, reason: str = "retry requested", *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class Abort(Exception):
    """Raise from an agent to fail for good now: no more retries, straight to the dead letter."""
