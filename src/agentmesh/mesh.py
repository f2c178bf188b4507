"""Orchestration above the store and the broker, shared by the API, the CLI and workers.

The order of writes is the guarantee: the store commits first, the broker is told after.
A broker failure after a commit is logged and left to the reconciler; it never turns a
committed task into an error for the caller.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from agentmesh.agents import AgentRegistry
from agentmesh.batching import GroupCommit
from agentmesh.broker import Broker, QueueDepths
from agentmesh.config import Settings
from agentmesh.domain.task import JSON, NewTask, Priority, Task, TaskStatus
from agentmesh.domain.workflow import NewWorkflow, Workflow, check_dag
from agentmesh.errors import BackendUnavailable, IdempotencyConflict, InvalidInput
from agentmesh.metrics import SUBMITTED
from agentmesh.store import Store, Submitted

log = logging.getLogger("agentmesh.mesh")


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """A submission as callers phrase it; `Mesh.prepare` validates and completes it."""

    agent_type: str
    payload: dict[str, JSON]
    priority: Priority | None = None
    max_retries: int | None = None
    delay_seconds: float = 0.0
    idempotency_key: str | None = None
    step_id: str | None = None  # workflow steps only
    depends_on: tuple[str, ...] = ()


class Mesh:
    def __init__(self, store: Store, broker: Broker, agents: AgentRegistry, settings: Settings) -> None:
        self.store = store
        self.broker = broker
        self.agents = agents
        self.settings = settings
        self._singles = GroupCommit(self._commit_and_dispatch, isolate=(InvalidInput, IdempotencyConflict))

    def prepare(self, request: TaskRequest) -> NewTask:
        """Resolve defaults from the agent's registration; raise UnknownAgent / InvalidInput."""
        spec = self.agents.get(request.agent_type)
        if spec.check_payload is not None:
            try:
                spec.check_payload(request.payload)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from None
        max_retries = request.max_retries
        if max_retries is None:
            max_retries = spec.max_retries if spec.max_retries is not None else self.settings.max_retries
        priority = request.priority or spec.lane
        return NewTask(
            agent_type=request.agent_type,
            priority=priority,
            payload=request.payload,
            max_retries=max_retries,
            delay_seconds=request.delay_seconds,
            idempotency_key=request.idempotency_key,
            request_hash=_fingerprint(request) if request.idempotency_key else None,
            step_id=request.step_id,
            depends_on=request.depends_on,
        )

    async def submit(self, requests: Sequence[TaskRequest]) -> list[Submitted]:
        """Validate all, commit all in one transaction, then hand the new ones to the broker."""
        return await self._commit_and_dispatch([self.prepare(request) for request in requests])

    async def submit_one(self, request: TaskRequest) -> Submitted:
        """Validate one task and commit it together with the other single submissions arriving meanwhile.

        Many clients posting one task each then share a commit (group commit) instead of paying
        one each. A task whose idempotency key conflicts fails alone: its batch is retried one by one.
        """
        return await self._singles.submit(self.prepare(request))

    async def _commit_and_dispatch(self, tasks: list[NewTask]) -> list[Submitted]:
        submitted = await self.store.submit(tasks)
        if self.settings.fault_injection == "crash_after_commit":
            log.critical("fault injection: crashing between the store commit and the broker push")
            os._exit(70)
        created = [item.task for item in submitted if item.created]
        for agent_type, count in Counter(task.agent_type for task in created).items():
            SUBMITTED.labels(agent_type).inc(count)
        await self.dispatch(created)
        return submitted

    async def submit_workflow(
        self, name: str, steps: Sequence[TaskRequest], idempotency_key: str | None = None
    ) -> tuple[Workflow, bool]:
        """Validate every step and the graph, commit it all at once, then push the steps ready to run."""
        prepared = tuple(self.prepare(step) for step in steps)
        check_dag(prepared)
        request_hash = _workflow_fingerprint(name, steps) if idempotency_key else None
        workflow, created = await self.store.submit_workflow(NewWorkflow(name, prepared, idempotency_key, request_hash))
        if created:
            await self.dispatch([step for step in workflow.steps if step.status is TaskStatus.PENDING])
        return workflow, created

    async def cancel_workflow(self, workflow_id: uuid.UUID) -> Workflow:
        cancelled = await self.store.cancel_workflow(workflow_id)
        await self._quietly(self.broker.unschedule(cancelled))
        workflow = await self.store.get_workflow(workflow_id)
        assert workflow is not None
        return workflow

    async def dispatch(self, tasks: Sequence[Task]) -> None:
        """Push due tasks to their lanes and set timers for delayed ones; never raises."""
        due = [(task.id, task.priority) for task in tasks if task.run_after <= task.created_at]
        later = [(task.id, task.run_after.timestamp()) for task in tasks if task.run_after > task.created_at]
        try:
            await self.broker.push(due)
            await self.broker.schedule(later)
        except BackendUnavailable as exc:
            log.warning("broker push failed after commit; the reconciler will re-enqueue: %s", exc)

    async def cancel(self, task_id: uuid.UUID) -> Task:
        task = await self.store.cancel(task_id)
        await self._quietly(self.broker.unschedule([task_id]))
        return task

    async def requeue(self, task_id: uuid.UUID) -> Task:
        task = await self.store.requeue(task_id)
        await self._quietly(self.broker.remove_dead_letter([task_id]))
        await self._quietly(self.broker.push([(task.id, task.priority)]))
        return task

    async def queues(self) -> dict[str, Any]:
        counts = await self.store.count_by_status()
        depths: QueueDepths = await self.broker.depths()
        return {
            "lanes": {"high": depths.high, "medium": depths.medium, "low": depths.low},
            "delayed": depths.delayed,
            "running": counts[TaskStatus.RUNNING],
            "dead_letter": counts[TaskStatus.PERMANENT_FAILURE],
            "dead_letter_list": depths.dead_letter,
            "by_status": {status.value: n for status, n in counts.items()},
        }

    @staticmethod
    async def _quietly(operation: Any) -> None:
        """Broker follow-ups after a commit: best effort, the reconciler repairs misses."""
        try:
            await operation
        except BackendUnavailable as exc:
            log.warning("broker update failed after commit: %s", exc)


def _workflow_fingerprint(name: str, steps: Sequence[TaskRequest]) -> str:
    body = [name, *(
        [step.step_id, step.depends_on, _fingerprint(step)] for step in steps
    )]  # fmt: skip
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


def _fingerprint(request: TaskRequest) -> str:
    """Hash of everything that defines a request, for idempotency-key comparison."""
    body = {
        "agent_type": request.agent_type,
        "payload": request.payload,
        "priority": request.priority.value if request.priority else None,
        "max_retries": request.max_retries,
        "delay_seconds": request.delay_seconds,
    }
    try:
        encoded = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise InvalidInput(f"payload cannot be stored as JSON: {exc}") from None
    return hashlib.sha256(encoded).hexdigest()


async def all_with_status(store: Store, status: TaskStatus) -> list[Task]:
    """Every task in `status`, oldest first (pages through the store's cursor)."""
    found: list[Task] = []
    cursor: uuid.UUID | None = None
    while True:
        page = await store.list_tasks(status=status, limit=1000, before=cursor)
        found += page
        if len(page) < 1000:
            return found[::-1]
        cursor = page[-1].id
