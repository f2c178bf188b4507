"""The store interface: the source of truth for every task and transition.

Backends (PostgreSQL, SQLite) implement these primitives; orchestration lives above them
in `agentmesh.mesh`. Every write that follows a claim names the attempt it belongs to
and the state it leaves, so a stale or duplicate write changes nothing (fencing).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from agentmesh.domain.retry import FailureDecision
from agentmesh.domain.task import JSON, NewTask, Priority, Task, TaskEvent, TaskStatus
from agentmesh.domain.workflow import NewWorkflow, Workflow, WorkflowStatus


@dataclass(frozen=True, slots=True)
class Submitted:
    task: Task
    created: bool  # False: an earlier request with the same idempotency key and body


@dataclass(frozen=True, slots=True)
class Promotion:
    """Outcome of `Store.promote` for a batch of delayed ids."""

    ready: list[tuple[uuid.UUID, Priority]]  # PENDING and due: push to their lanes
    drop: list[uuid.UUID]  # gone, running or finished: forget the timer


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """A workflow step's completion: whether it was recorded, and the steps it made ready."""

    done: bool
    ready: list[tuple[uuid.UUID, Priority]]


@dataclass(frozen=True, slots=True)
class Completion:
    """A successful outcome to record: fenced by the attempt that produced it."""

    task_id: uuid.UUID
    attempt: int
    result: JSON


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    concurrency: int
    in_flight: int
    started_at: datetime
    last_seen: datetime


class Store(ABC):
    """Durable task state. All methods raise `StoreUnavailable` when the backend is down."""

    kind: str

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def migrate(self) -> list[int]:
        """Apply pending migrations in order; return the versions applied (empty: up to date)."""

    @abstractmethod
    async def pending_migrations(self) -> list[int]:
        """Versions not applied yet; non-empty means `agentmesh migrate` must run first."""

    @abstractmethod
    async def ping(self) -> None: ...

    # -- producer ---------------------------------------------------------------------
    @abstractmethod
    async def submit(self, tasks: Sequence[NewTask]) -> list[Submitted]:
        """Insert all tasks as PENDING in one transaction, or none.

        Raises `IdempotencyConflict` when a key was used before with another body.
        """

    # -- reading ----------------------------------------------------------------------
    @abstractmethod
    async def get(self, task_id: uuid.UUID) -> Task | None: ...

    @abstractmethod
    async def list_tasks(
        self,
        *,
        status: TaskStatus | None = None,
        agent_type: str | None = None,
        limit: int = 100,
        before: uuid.UUID | None = None,
    ) -> list[Task]:
        """Newest first; `before` is the cursor (an id from the previous page)."""

    @abstractmethod
    async def events(self, task_id: uuid.UUID) -> list[TaskEvent]:
        """The audit trail of one task, oldest first."""

    @abstractmethod
    async def count_by_status(self) -> dict[TaskStatus, int]: ...

    @abstractmethod
    async def count_with_status(self, status: TaskStatus) -> int:
        """Tasks in one status, read from the status index alone (not a pass over every task)."""

    # -- worker -----------------------------------------------------------------------
    @abstractmethod
    async def claim_many(self, task_ids: Sequence[uuid.UUID], worker_id: str, lease_seconds: float) -> list[Task]:
        """PENDING and due → RUNNING with attempt + 1 and a lease, for every claimable id, in one commit."""

    async def claim(self, task_id: uuid.UUID, worker_id: str, lease_seconds: float) -> Task | None:
        """Claim one task; None if not claimable."""
        claimed = await self.claim_many([task_id], worker_id, lease_seconds)
        return claimed[0] if claimed else None

    @abstractmethod
    async def extend_leases(
        self, worker_id: str, leases: Sequence[tuple[uuid.UUID, int]], lease_seconds: float
    ) -> set[uuid.UUID]:
        """Extend the leases of (id, attempt) pairs still RUNNING; return the ids still held."""

    @abstractmethod
    async def complete_many(self, completions: Sequence[Completion], worker_id: str) -> set[uuid.UUID]:
        """RUNNING → COMPLETED for each whose attempt is current, in one commit; return the ids completed.

        A fenced-off outcome changes nothing but leaves a `refused` row in the audit log.
        Raises `InvalidInput` (nothing written) when a result cannot be stored.
        """

    async def complete(self, task_id: uuid.UUID, attempt: int, worker_id: str, result: JSON) -> bool:
        """RUNNING → COMPLETED if `attempt` is current; False when fenced off."""
        return task_id in await self.complete_many([Completion(task_id, attempt, result)], worker_id)

    @abstractmethod
    async def fail(
        self, task_id: uuid.UUID, attempt: int, worker_id: str, error: str, decision: FailureDecision
    ) -> Task | None:
        """RUNNING → RETRYING (run_after = now + delay) or PERMANENT_FAILURE; None when fenced off."""

    @abstractmethod
    async def release(self, task_id: uuid.UUID, attempt: int, worker_id: str) -> bool:
        """RUNNING → PENDING without counting a failure (a draining worker gives it back)."""

    @abstractmethod
    async def promote(self, task_ids: Sequence[uuid.UUID]) -> Promotion:
        """RETRYING tasks whose backoff elapsed → PENDING; classify every id given."""

    # -- repair (reaper and reconciler) ------------------------------------------------
    @abstractmethod
    async def expired_leases(self, limit: int) -> list[Task]:
        """RUNNING tasks whose lease ran out, oldest expiry first."""

    @abstractmethod
    async def stale_pending(self, older_than: float, limit: int) -> list[tuple[uuid.UUID, Priority]]:
        """PENDING tasks due and unchanged for more than `older_than` seconds, oldest first."""

    @abstractmethod
    async def count_stale_pending(self, older_than: float) -> int: ...

    @abstractmethod
    async def stale_retrying(self, older_than: float, limit: int) -> list[tuple[uuid.UUID, float]]:
        """(id, run_after as Unix time) of RETRYING tasks whose backoff ended `older_than` seconds ago."""

    # -- operator ---------------------------------------------------------------------
    @abstractmethod
    async def cancel(self, task_id: uuid.UUID) -> Task:
        """→ CANCELLED; raises `TaskNotFound` or `InvalidTransition` (already terminal)."""

    @abstractmethod
    async def requeue(self, task_id: uuid.UUID) -> Task:
        """PERMANENT_FAILURE → PENDING with counters reset; raises like `cancel`."""

    # -- workflows --------------------------------------------------------------------
    @abstractmethod
    async def submit_workflow(self, workflow: NewWorkflow) -> tuple[Workflow, bool]:
        """Insert the workflow and its steps in one transaction; False: an earlier identical request.

        Steps without dependencies are PENDING, the others WAITING. Raises
        `IdempotencyConflict` when the key was used with another body.
        """

    @abstractmethod
    async def complete_step(
        self, task_id: uuid.UUID, attempt: int, worker_id: str, result: JSON, new_steps: Sequence[NewTask]
    ) -> StepOutcome:
        """Complete a workflow step (fenced), add the steps it created and promote ready dependents, atomically.

        Raises `InvalidWorkflow` (nothing written) when the new steps do not fit the workflow.
        """

    @abstractmethod
    async def dependency_results(self, task_id: uuid.UUID) -> dict[str, JSON]:
        """Results of a step's dependencies, by step id."""

    @abstractmethod
    async def get_workflow(self, workflow_id: uuid.UUID) -> Workflow | None:
        """The workflow with every step and dependency edge."""

    @abstractmethod
    async def list_workflows(
        self, *, status: WorkflowStatus | None = None, limit: int = 100, before: uuid.UUID | None = None
    ) -> list[Workflow]:
        """Newest first, without steps."""

    @abstractmethod
    async def cancel_workflow(self, workflow_id: uuid.UUID) -> list[uuid.UUID]:
        """Cancel every unfinished step; return their ids. Raises `WorkflowNotFound` / `InvalidTransition`."""

    # -- worker registry --------------------------------------------------------------
    @abstractmethod
    async def record_worker(self, worker_id: str, host: str, pid: int, concurrency: int, in_flight: int) -> None:
        """Insert or refresh a worker's heartbeat row."""

    @abstractmethod
    async def remove_worker(self, worker_id: str) -> None: ...

    @abstractmethod
    async def list_workers(self, seen_within: float) -> list[WorkerInfo]: ...
