"""What an agent function sees, and the exceptions it may raise to steer retries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from agentmesh.domain.task import JSON, Priority


@dataclass(frozen=True, slots=True)
class StepRequest:
    """A step an agent adds to its own workflow; committed with the agent's result, or not at all."""

    step_id: str
    agent_type: str
    payload: dict[str, JSON]
    depends_on: tuple[str, ...]
    priority: Priority | None = None
    max_retries: int | None = None


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
    workflow_id: uuid.UUID | None = None
    step_id: str | None = None
    results: dict[str, JSON] = field(default_factory=dict)  # results of the dependencies, by step id
    new_steps: list[StepRequest] = field(default_factory=list)

    def add_step(
        self,
        step_id: str,
        agent_type: str,
        payload: dict[str, JSON] | None = None,
        *,
        depends_on: tuple[str, ...] | list[str] = (),
        priority: Priority | str | None = None,
        max_retries: int | None = None,
    ) -> str:
        """Add a step to this step's workflow (e.g. fan out to writers); returns its id for `depends_on`."""
        if self.workflow_id is None:
            raise RuntimeError("add_step is only available to workflow steps")
        self.new_steps.append(StepRequest(
            step_id, agent_type, payload or {}, tuple(depends_on), Priority(priority) if priority else None,
            max_retries,
        ))  # fmt: skip
        return step_id


class Retry(Exception):
    """Raise from an agent to fail this attempt and retry after `delay` seconds (default: backoff)."""

    def __init__(self, reason: str = "retry requested", *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class Abort(Exception):
    """Raise from an agent to fail for good now: no more retries, straight to the dead letter."""
