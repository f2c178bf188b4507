"""Workflows: a DAG of steps, each a task. Validation is pure and names the offending step."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from agentmesh.domain.task import NewTask, Task, new_task_id
from agentmesh.errors import InvalidInput

MAX_STEPS = 1000


class WorkflowStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class InvalidWorkflow(InvalidInput):
    """The graph is not a valid DAG; `step` names the offending step."""

    def __init__(self, step: str | None, message: str) -> None:
        super().__init__(f"step {step!r}: {message}" if step is not None else message)
        self.step = step


@dataclass(frozen=True, slots=True)
class NewWorkflow:
    name: str
    steps: tuple[NewTask, ...]  # each with step_id and depends_on
    idempotency_key: str | None = None
    request_hash: str | None = None
    id: uuid.UUID | None = None

    def with_id(self) -> NewWorkflow:
        return self if self.id else NewWorkflow(self.name, self.steps, self.idempotency_key, self.request_hash,
                                                 new_task_id())  # fmt: skip


@dataclass(frozen=True, slots=True)
class Workflow:
    id: uuid.UUID
    name: str
    status: WorkflowStatus
    idempotency_key: str | None
    created_at: datetime
    cancelled_at: datetime | None
    steps: tuple[Task, ...] = ()
    dependencies: tuple[tuple[str, str], ...] = ()  # (step, depends on step)


def check_dag(steps: Sequence[NewTask], existing: Iterable[str] = ()) -> None:
    """Unique step ids, every dependency known (new or `existing`), no cycle, a size limit."""
    known = set(existing)
    if not steps and not known:
        raise InvalidWorkflow(None, "a workflow needs at least one step")
    if len(steps) + len(known) > MAX_STEPS:
        raise InvalidWorkflow(None, f"a workflow has at most {MAX_STEPS} steps")
    ids: set[str] = set()
    for step in steps:
        if not step.step_id:
            raise InvalidWorkflow(step.step_id, "every step needs an id")
        if step.step_id in ids or step.step_id in known:
            raise InvalidWorkflow(step.step_id, "duplicate step id")
        ids.add(step.step_id)
    for step in steps:
        for dependency in step.depends_on:
            if dependency not in ids and dependency not in known:
                raise InvalidWorkflow(step.step_id, f"depends on unknown step {dependency!r}")
            if dependency == step.step_id:
                raise InvalidWorkflow(step.step_id, "depends on itself")
    _check_acyclic(steps)


def _check_acyclic(steps: Sequence[NewTask]) -> None:
    """Kahn's algorithm over the new steps (existing ones cannot depend on new ones)."""
    new_ids = {step.step_id for step in steps}
    waiting_on = {step.step_id: {d for d in step.depends_on if d in new_ids} for step in steps}
    ready = [step_id for step_id, deps in waiting_on.items() if not deps]
    done: set[str | None] = set()
    while ready:
        current = ready.pop()
        done.add(current)
        for step_id, deps in waiting_on.items():
            if current in deps:
                deps.discard(current)
                if not deps and step_id not in done:
                    ready.append(step_id)
    stuck = sorted(str(step_id) for step_id in waiting_on if step_id not in done)
    if stuck:
        raise InvalidWorkflow(stuck[0], f"is part of a dependency cycle ({', '.join(stuck)})")
