"""PostgreSQL store on asyncpg: the production source of truth."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson

from agentmesh.config import redact
from agentmesh.domain.retry import FailureDecision
from agentmesh.domain.task import JSON, NewTask, Priority, Task, TaskEvent, TaskStatus
from agentmesh.domain.transitions import CANCELLABLE
from agentmesh.domain.workflow import NewWorkflow, Workflow, WorkflowStatus, check_dag
from agentmesh.errors import (
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    StoreUnavailable,
    TaskNotFound,
    WorkflowNotFound,
)
from agentmesh.migrations import load_migrations
from agentmesh.store._queries import load_queries
from agentmesh.store.base import Completion, Promotion, StepOutcome, Store, Submitted, WorkerInfo

Q = load_queries("postgres.sql")

# Errors that mean "the server is not there right now", as opposed to a bad query.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.InternalClientError,  # protocol state broken by a server that went away mid-query
)


class PostgresStore(Store):
    kind = "postgres"

    def __init__(self, dsn: str, *, pool_size: int = 10) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                init=_init_connection,
                reset=_keep_session,
                command_timeout=60,
                timeout=10,
            )
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"cannot reach PostgreSQL at {redact(self._dsn)}: {exc}") from None
        except asyncpg.PostgresError as exc:
            raise StoreUnavailable(f"PostgreSQL at {redact(self._dsn)} refused: {exc}") from None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def _conn(self, *, transaction: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection with driver errors translated at the boundary."""
        if self._pool is None:
            raise StoreUnavailable("store is not open")
        conn: asyncpg.Connection | None = None
        try:
            conn = await self._pool.acquire()
            if transaction:
                async with conn.transaction():
                    yield conn
            else:
                yield conn
        except _UNAVAILABLE as exc:
            if conn is not None:
                _terminate(conn)  # never hand a connection in an unknown state back to the pool
            raise StoreUnavailable(f"PostgreSQL unavailable: {type(exc).__name__}: {exc}") from None
        except (asyncpg.UntranslatableCharacterError, asyncpg.CharacterNotInRepertoireError) as exc:
            raise InvalidInput(f"the store cannot hold this value: {exc.args[0] if exc.args else exc}") from None
        except asyncpg.DataError as exc:  # a parameter our codecs refused, e.g. a 65-bit integer
            reason = str(exc).rsplit("(", 1)[-1].rstrip(")") if "(" in str(exc) else str(exc)
            raise InvalidInput(reason) from None
        finally:
            if conn is not None:
                await self._release(conn)

    async def _release(self, conn: asyncpg.Connection) -> None:
        assert self._pool is not None
        try:
            await self._pool.release(conn)
        except _UNAVAILABLE:
            _terminate(conn)

    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._conn(transaction=True) as conn:
            await conn.execute(Q["migration_lock"])
            await conn.execute(Q["create_migrations_table"])
        for migration in load_migrations("postgres"):
            async with self._conn(transaction=True) as conn:
                await conn.execute(Q["migration_lock"])
                done = {row["version"] for row in await conn.fetch(Q["applied_versions"])}
                if migration.version in done:
                    continue
                await conn.execute(migration.sql)
                await conn.execute(Q["record_migration"], migration.version, migration.name)
                applied.append(migration.version)
        return applied

    async def pending_migrations(self) -> list[int]:
        async with self._conn() as conn:
            exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
            done = {row["version"] for row in await conn.fetch(Q["applied_versions"])} if exists else set()
        return [m.version for m in load_migrations("postgres") if m.version not in done]

    async def ping(self) -> None:
        async with self._conn() as conn:
            await conn.fetchval("SELECT 1")

    # -- producer ---------------------------------------------------------------------
    async def submit(self, tasks: Sequence[NewTask]) -> list[Submitted]:
        columns: list[list[Any]] = [[] for _ in range(8)]
        by_id = {task.id: task for task in tasks}
        for task in tasks:
            values = (
                task.id, task.agent_type, task.priority.value, task.payload, task.max_retries,
                task.idempotency_key, task.request_hash, task.delay_seconds,
            )  # fmt: skip
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        # One statement is atomic with its audit rows; a transaction is needed only to undo the batch
        # when an idempotency key turns out to conflict, and BEGIN/COMMIT cost two more round trips.
        keyed = any(task.idempotency_key is not None for task in tasks)
        async with self._conn(transaction=keyed) as conn:
            rows = await conn.fetch(Q["insert_tasks"], *columns)
            inserted = {row["id"]: _pending_task(by_id[row["id"]], row) for row in rows}
            existing = await self._existing_for_keys(conn, [t for t in tasks if t.id not in inserted])
        return [
            Submitted(inserted[t.id], True) if t.id in inserted else Submitted(existing[t.idempotency_key or ""], False)
            for t in tasks
        ]

    async def _existing_for_keys(self, conn: asyncpg.Connection, skipped: list[NewTask]) -> dict[str, Task]:
        """Tasks that won an idempotency key before us; a different body is a conflict."""
        if not skipped:
            return {}
        rows = await conn.fetch(Q["tasks_by_idempotency_key"], [t.idempotency_key for t in skipped])
        existing = {row["idempotency_key"]: _task(row) for row in rows}
        for task in skipped:
            found = existing.get(task.idempotency_key or "")
            if found is None or found.request_hash != task.request_hash:
                raise IdempotencyConflict(
                    f"idempotency key {task.idempotency_key!r} was already used with a different request"
                )
        return existing

    # -- reading ----------------------------------------------------------------------
    async def get(self, task_id: uuid.UUID) -> Task | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(Q["get_task"], task_id)
        return _task(row) if row else None

    async def list_tasks(
        self,
        *,
        status: TaskStatus | None = None,
        agent_type: str | None = None,
        limit: int = 100,
        before: uuid.UUID | None = None,
    ) -> list[Task]:
        conditions: list[str] = []
        args: list[Any] = []
        for clause, value in (("status = ", status), ("agent_type = ", agent_type), ("id < ", before)):
            if value is not None:
                args.append(value.value if isinstance(value, TaskStatus) else value)
                conditions.append(f"{clause}${len(args)}")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        args.append(limit)
        async with self._conn() as conn:
            rows = await conn.fetch(f"SELECT * FROM tasks {where} ORDER BY id DESC LIMIT ${len(args)}", *args)
        return [_task(row) for row in rows]

    async def events(self, task_id: uuid.UUID) -> list[TaskEvent]:
        async with self._conn() as conn:
            rows = await conn.fetch(Q["task_events"], task_id)
        return [_event(row) for row in rows]

    async def count_by_status(self) -> dict[TaskStatus, int]:
        async with self._conn() as conn:
            rows = await conn.fetch(Q["count_by_status"])
        counts = dict.fromkeys(TaskStatus, 0)
        counts.update({TaskStatus(row["status"]): row["n"] for row in rows})
        return counts

    async def count_with_status(self, status: TaskStatus) -> int:
        async with self._conn() as conn:
            return int(await conn.fetchval(Q["count_with_status"], status.value))

    # -- worker -----------------------------------------------------------------------
    async def claim_many(self, task_ids: Sequence[uuid.UUID], worker_id: str, lease_seconds: float) -> list[Task]:
        async with self._conn() as conn:
            rows = await conn.fetch(Q["claim_many"], sorted(set(task_ids)), worker_id, lease_seconds)
        return [_task(row) for row in rows]

    async def extend_leases(
        self, worker_id: str, leases: Sequence[tuple[uuid.UUID, int]], lease_seconds: float
    ) -> set[uuid.UUID]:
        if not leases:
            return set()
        ids, attempts = zip(*sorted(dict(leases).items()), strict=True)  # one per id, in lock order
        async with self._conn() as conn:
            rows = await conn.fetch(Q["extend_leases"], list(ids), list(attempts), lease_seconds)
        return {row["id"] for row in rows}

    async def complete_many(self, completions: Sequence[Completion], worker_id: str) -> set[uuid.UUID]:
        ordered = sorted({c.task_id: c for c in completions}.values(), key=lambda c: c.task_id)  # lock order
        ids = [c.task_id for c in ordered]
        attempts = [c.attempt for c in ordered]
        results = [c.result for c in ordered]
        async with self._conn() as conn:
            rows = await conn.fetch(Q["complete_many"], ids, attempts, results, worker_id)
        return {row["id"] for row in rows}

    async def fail(
        self, task_id: uuid.UUID, attempt: int, worker_id: str, error: str, decision: FailureDecision
    ) -> Task | None:
        async with self._conn(transaction=True) as conn:
            row = await conn.fetchrow(
                Q["fail"], task_id, attempt, worker_id, error, decision.status.value,
                decision.retry_count, decision.delay,
            )  # fmt: skip
            if row and row["workflow_id"] and row["status"] == TaskStatus.PERMANENT_FAILURE:
                await conn.execute(Q["settle_dependents"], task_id, "SKIPPED", "a dependency failed for good")
        return _task(row) if row else None

    async def release(self, task_id: uuid.UUID, attempt: int, worker_id: str) -> bool:
        async with self._conn() as conn:
            return bool(await conn.fetchval(Q["release"], task_id, attempt, worker_id))

    async def promote(self, task_ids: Sequence[uuid.UUID]) -> Promotion:
        async with self._conn() as conn:
            rows = await conn.fetch(Q["promote"], sorted(set(task_ids)))
        ready, drop = [], []
        found = set()
        for row in rows:
            found.add(row["id"])
            if row["status"] == TaskStatus.PENDING and row["due"]:
                ready.append((row["id"], Priority(row["priority"])))
            elif row["status"] not in (TaskStatus.PENDING, TaskStatus.RETRYING):
                drop.append(row["id"])
        drop.extend(task_id for task_id in task_ids if task_id not in found)
        return Promotion(ready, drop)

    # -- repair -----------------------------------------------------------------------
    async def expired_leases(self, limit: int) -> list[Task]:
        async with self._conn() as conn:
            return [_task(row) for row in await conn.fetch(Q["expired_leases"], limit)]

    async def stale_pending(self, older_than: float, limit: int) -> list[tuple[uuid.UUID, Priority]]:
        async with self._conn() as conn:
            rows = await conn.fetch(Q["stale_pending"], older_than, limit)
        return [(row["id"], Priority(row["priority"])) for row in rows]

    async def count_stale_pending(self, older_than: float) -> int:
        async with self._conn() as conn:
            return int(await conn.fetchval(Q["count_stale_pending"], older_than))

    async def stale_retrying(self, older_than: float, limit: int) -> list[tuple[uuid.UUID, float]]:
        async with self._conn() as conn:
            rows = await conn.fetch(Q["stale_retrying"], older_than, limit)
        return [(row["id"], row["run_after"].timestamp()) for row in rows]

    # -- operator ---------------------------------------------------------------------
    async def cancel(self, task_id: uuid.UUID) -> Task:
        async with self._conn(transaction=True) as conn:
            current = await self._locked(conn, task_id)
            if current.status not in CANCELLABLE:
                raise InvalidTransition(f"task {task_id} is already {current.status}")
            row = await conn.fetchrow(Q["set_cancelled"], task_id)
            await conn.execute(
                Q["log_event"], task_id, current.status.value, "CANCELLED", current.attempt, None, "cancelled"
            )
            if current.workflow_id:
                await conn.execute(Q["settle_dependents"], task_id, "CANCELLED", "a dependency was cancelled")
        return _task(row)

    async def requeue(self, task_id: uuid.UUID) -> Task:
        async with self._conn(transaction=True) as conn:
            current = await self._locked(conn, task_id)
            if current.status is not TaskStatus.PERMANENT_FAILURE:
                raise InvalidTransition(f"task {task_id} is {current.status}, not in the dead-letter queue")
            row = await conn.fetchrow(Q["set_requeued"], task_id)
            await conn.execute(
                Q["log_event"], task_id, "PERMANENT_FAILURE", "PENDING", current.attempt, None,
                "requeued from the dead-letter queue",
            )  # fmt: skip
            if current.workflow_id:
                await conn.execute(Q["resume_dependents"], task_id)
        return _task(row)

    async def _locked(self, conn: asyncpg.Connection, task_id: uuid.UUID) -> Task:
        row = await conn.fetchrow(Q["lock_task"], task_id)
        if row is None:
            raise TaskNotFound(f"no task {task_id}")
        return _task(row)

    # -- workflows --------------------------------------------------------------------
    async def submit_workflow(self, workflow: NewWorkflow) -> tuple[Workflow, bool]:
        workflow = workflow.with_id()
        assert workflow.id is not None
        async with self._conn(transaction=True) as conn:
            created = await conn.fetchval(
                Q["insert_workflow"], workflow.id, workflow.name, workflow.idempotency_key, workflow.request_hash
            )
            if created is None:
                earlier = await conn.fetchrow(Q["workflow_by_idempotency_key"], workflow.idempotency_key)
                if earlier["request_hash"] != workflow.request_hash:
                    raise IdempotencyConflict(
                        f"idempotency key {workflow.idempotency_key!r} was already used with a different workflow"
                    )
                workflow_id = earlier["id"]
            else:
                workflow_id = workflow.id
                await _insert_steps(conn, workflow_id, workflow.steps, {})
        found = await self.get_workflow(workflow_id)
        assert found is not None
        return found, created is not None

    async def complete_step(
        self, task_id: uuid.UUID, attempt: int, worker_id: str, result: JSON, new_steps: Sequence[NewTask]
    ) -> StepOutcome:
        async with self._conn(transaction=True) as conn:
            if not await conn.fetch(Q["complete_many"], [task_id], [attempt], [result], worker_id):
                return StepOutcome(False, [])
            released = await conn.fetch(Q["release_dependents"], task_id)
            ready = [(row["id"], Priority(row["priority"])) for row in released]
            if new_steps:
                workflow_id = await conn.fetchval("SELECT workflow_id FROM tasks WHERE id = $1", task_id)
                existing = {row["step_id"]: row for row in await conn.fetch(Q["workflow_steps"], workflow_id)}
                check_dag(new_steps, existing)
                referenced = sorted({existing[d]["id"] for step in new_steps for d in step.depends_on if d in existing})
                locked = await conn.fetch(Q["lock_tasks"], referenced)  # their status cannot change under us now
                statuses = {row["step_id"]: TaskStatus(row["status"]) for row in locked}
                added = await _insert_steps(conn, workflow_id, new_steps, {
                    step_id: (row["id"], statuses.get(step_id, TaskStatus(row["status"])))
                    for step_id, row in existing.items()
                })  # fmt: skip
                ready += [(task.id, task.priority) for task in added if task.status is TaskStatus.PENDING]
        return StepOutcome(True, ready)

    async def dependency_results(self, task_id: uuid.UUID) -> dict[str, JSON]:
        async with self._conn() as conn:
            rows = await conn.fetch(Q["dependency_results"], task_id)
        return {row["step_id"]: row["result"] for row in rows}

    async def get_workflow(self, workflow_id: uuid.UUID) -> Workflow | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(Q["workflow_rows"], workflow_id, None, None, 1)
            if row is None:
                return None
            steps = await conn.fetch(Q["workflow_steps"], workflow_id)
            edges = await conn.fetch(Q["workflow_edges"], workflow_id)
        return _workflow(row, [_task(step) for step in steps], [(e["step"], e["depends_on"]) for e in edges])

    async def list_workflows(
        self, *, status: WorkflowStatus | None = None, limit: int = 100, before: uuid.UUID | None = None
    ) -> list[Workflow]:
        async with self._conn() as conn:
            rows = await conn.fetch(Q["workflow_rows"], None, before, status.value if status else None, limit)
        return [_workflow(row, [], []) for row in rows]

    async def cancel_workflow(self, workflow_id: uuid.UUID) -> list[uuid.UUID]:
        async with self._conn(transaction=True) as conn:
            row = await conn.fetchrow("SELECT id FROM workflows WHERE id = $1 FOR UPDATE", workflow_id)
            current = await conn.fetchrow(Q["workflow_rows"], workflow_id, None, None, 1)
            if row is None or current is None:
                raise WorkflowNotFound(f"no workflow {workflow_id}")
            if current["status"] in (WorkflowStatus.CANCELLED, WorkflowStatus.COMPLETED):
                raise InvalidTransition(f"workflow {workflow_id} is already {current['status']}")
            cancelled = [r["id"] for r in await conn.fetch(Q["cancel_workflow_steps"], workflow_id)]
            await conn.execute(Q["mark_workflow_cancelled"], workflow_id)
        return cancelled

    # -- worker registry --------------------------------------------------------------
    async def record_worker(self, worker_id: str, host: str, pid: int, concurrency: int, in_flight: int) -> None:
        async with self._conn() as conn:
            await conn.execute(Q["record_worker"], worker_id, host, pid, concurrency, in_flight)

    async def remove_worker(self, worker_id: str) -> None:
        async with self._conn() as conn:
            await conn.execute(Q["remove_worker"], worker_id)

    async def list_workers(self, seen_within: float) -> list[WorkerInfo]:
        async with self._conn() as conn:
            rows = await conn.fetch(Q["list_workers"], seen_within)
        return [WorkerInfo(**dict(row)) for row in rows]


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Hand a connection back as it is: our queries leave no session state (only transaction-scoped
    locks), so the driver's default reset (four statements and a round trip per release) buys nothing.
    The driver still ends any open transaction first."""


def _terminate(conn: asyncpg.Connection) -> None:
    """Close a broken connection; the pool may have detached it already, which is as good."""
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


async def _init_connection(conn: asyncpg.Connection) -> None:
    """jsonb in binary format through orjson: no text round trip, no float surprises."""
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        format="binary",
    )


def _encode_jsonb(value: JSON) -> bytes:
    try:
        return b"\x01" + orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise InvalidInput(f"value cannot be stored as JSON: {exc}") from None


def _decode_jsonb(data: bytes) -> JSON:
    return orjson.loads(data[1:])


def _pending_task(new: NewTask, row: asyncpg.Record) -> Task:
    """A task just inserted, from what was sent plus the times the store set: no need to read it all back."""
    created_at = row["created_at"]
    return Task(
        id=new.id, agent_type=new.agent_type, priority=new.priority, payload=new.payload,
        status=TaskStatus.PENDING, result=None, last_error=None, retry_count=0, max_retries=new.max_retries,
        attempt=0, idempotency_key=new.idempotency_key, created_at=created_at, updated_at=created_at,
        started_at=None, completed_at=None, run_after=row["run_after"], request_hash=new.request_hash,
    )  # fmt: skip


def _task(row: asyncpg.Record) -> Task:
    return Task(
        id=row["id"],
        agent_type=row["agent_type"],
        priority=Priority(row["priority"]),
        payload=row["payload"],
        status=TaskStatus(row["status"]),
        result=row["result"],
        last_error=row["last_error"],
        retry_count=row["retry_count"],
        max_retries=row["max_retries"],
        attempt=row["attempt"],
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        run_after=row["run_after"],
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        request_hash=row["request_hash"],
        workflow_id=row["workflow_id"],
        step_id=row["step_id"],
    )


async def _insert_steps(
    conn: asyncpg.Connection,
    workflow_id: uuid.UUID,
    steps: Sequence[NewTask],
    existing: dict[str, tuple[uuid.UUID, TaskStatus]],
) -> list[Task]:
    """Insert steps and their dependency edges; a step waits for every dependency not COMPLETED."""
    ids = {step_id: task_id for step_id, (task_id, _) in existing.items()}
    ids.update({step.step_id or "": step.id for step in steps})
    done = {step_id for step_id, (_, status) in existing.items() if status is TaskStatus.COMPLETED}
    columns: list[list[Any]] = [[] for _ in range(8)]
    for step in steps:
        pending = sum(1 for dependency in step.depends_on if dependency not in done)
        values = (step.id, step.agent_type, step.priority.value, step.payload, step.max_retries, step.step_id,
                  step.delay_seconds, pending)  # fmt: skip
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    rows = await conn.fetch(Q["insert_steps"], workflow_id, *columns)
    edges = [(step.id, ids[dependency]) for step in steps for dependency in step.depends_on]
    if edges:
        await conn.execute(Q["insert_dependencies"], [a for a, _ in edges], [b for _, b in edges])
    return [_task(row) for row in rows]


def _workflow(row: asyncpg.Record, steps: list[Task], edges: list[tuple[str, str]]) -> Workflow:
    return Workflow(
        id=row["id"],
        name=row["name"],
        status=WorkflowStatus(row["status"]),
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        cancelled_at=row["cancelled_at"],
        steps=tuple(steps),
        dependencies=tuple(sorted(edges)),
    )


def _event(row: asyncpg.Record) -> TaskEvent:
    return TaskEvent(
        id=row["id"],
        task_id=row["task_id"],
        from_status=TaskStatus(row["from_status"]) if row["from_status"] else None,
        to_status=TaskStatus(row["to_status"]),
        attempt=row["attempt"],
        worker_id=row["worker_id"],
        at=row["at"],
        detail=row["detail"],
    )
