"""SQLite store on aiosqlite: the embedded source of truth, one file and no server.

Two connections, each with its own thread so the event loop never blocks: a writer that
runs one `BEGIN IMMEDIATE` transaction at a time, and a query-only reader that WAL lets
run beside it. Timestamps are computed here once per transaction, the counterpart of
PostgreSQL's `now()`, and stored as fixed-width ISO-8601 UTC text that sorts as it reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
import orjson

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

Q = load_queries("sqlite.sql")

MIN_VERSION = (3, 35, 0)  # RETURNING
BUSY_TIMEOUT_MS = 10_000
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_MEMORY = ":memory:"

# Primary result codes that mean "the file cannot be used right now", as opposed to a bad query.
_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_NOTADB,
    }
)

Params = dict[str, Any]


class SqliteStore(Store):
    kind = "sqlite"

    def __init__(self, path: str) -> None:
        self._path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        # An in-memory database exists once per connection: reads share the writer and its lock.
        self._read_lock: contextlib.AbstractAsyncContextManager[Any] = (
            self._write_lock if path == _MEMORY else contextlib.nullcontext()
        )

    async def open(self) -> None:
        if sqlite3.sqlite_version_info < MIN_VERSION:
            needed = ".".join(map(str, MIN_VERSION))
            raise StoreUnavailable(f"SQLite {needed}+ is required, this Python has {sqlite3.sqlite_version}")
        try:
            # Probe with plain sqlite3 first: a failed aiosqlite.connect leaves its thread to report
            # to an event loop that may be gone by then.
            await asyncio.to_thread(_probe, self._path)
            self._writer = await aiosqlite.connect(self._path, isolation_level=None)
            await _prepare(self._writer)
            await _enable_wal(self._writer)
            # Fail now rather than at the first write when the file is read-only.
            await self._writer.execute("BEGIN IMMEDIATE")
            await self._writer.execute("ROLLBACK")
            if self._path == _MEMORY:
                self._reader = self._writer
            else:
                self._reader = await aiosqlite.connect(self._path, isolation_level=None)
                await _prepare(self._reader, "PRAGMA query_only=ON")
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise StoreUnavailable(f"cannot open SQLite database {self._path!r}: {exc}") from None

    async def close(self) -> None:
        async with self._write_lock:  # let a transaction in progress finish
            if self._reader is not None and self._reader is not self._writer:
                await self._reader.close()
            if self._writer is not None:
                await self._writer.close()
            self._reader = self._writer = None

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Driver errors translated at the boundary: outages and values the file cannot hold."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if _code(exc) in _UNAVAILABLE:
                raise StoreUnavailable(f"SQLite database {self._path!r} unavailable: {exc}") from None
            raise
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"the store cannot hold this value: {exc.reason}") from None

    def _open_connection(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise StoreUnavailable("store is not open")
        return conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[tuple[aiosqlite.Connection, datetime]]:
        """One write transaction at a time, with the time it happens at.

        `BEGIN IMMEDIATE` takes SQLite's write lock up front, so a read-then-write sequence
        cannot interleave with another writer, in this process or another one.
        """
        async with self._write_lock, self._guard():
            conn = self._open_connection(self._writer)
            try:
                await conn.execute("BEGIN IMMEDIATE")
                yield conn, datetime.now(UTC)
                await conn.commit()
            except BaseException:
                await conn.rollback()  # queued behind any statement still running, even when cancelled
                raise

    async def _read(self, query: str, params: Params | None = None) -> list[sqlite3.Row]:
        async with self._read_lock, self._guard():
            return list(await self._open_connection(self._reader).execute_fetchall(query, params))

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[aiosqlite.Connection]:
        """Several reads that see one state of the file: a read transaction on the reader."""
        async with self._read_lock, self._guard():
            conn = self._open_connection(self._reader)
            await conn.execute("BEGIN")
            try:
                yield conn
            finally:
                await conn.rollback()

    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._write() as (conn, _):
            await conn.execute(Q["create_migrations_table"])
        for migration in load_migrations("sqlite"):
            async with self._write() as (conn, now):
                if migration.version in await _applied_versions(conn):
                    continue
                for statement in _statements(migration.sql):
                    await conn.execute(statement)
                params = {"version": migration.version, "name": migration.name, "now": _text(now)}
                await conn.execute(Q["record_migration"], params)
                applied.append(migration.version)
        return applied

    async def pending_migrations(self) -> list[int]:
        done: set[int] = set()
        if await self._read(Q["migrations_table_exists"]):
            done = {row["version"] for row in await self._read(Q["applied_versions"])}
        return [m.version for m in load_migrations("sqlite") if m.version not in done]

    async def ping(self) -> None:
        await self._read("SELECT 1")

    # -- producer ---------------------------------------------------------------------
    async def submit(self, tasks: Sequence[NewTask]) -> list[Submitted]:
        async with self._write() as (conn, now):
            batch = _json([_new_task_row(task, now) for task in tasks])
            rows = await conn.execute_fetchall(Q["insert_tasks"], {"batch": batch, "now": _text(now)})
            inserted = {task.id: task for task in map(_task, rows)}
            events = [
                _event_params(now, t.id, None, TaskStatus.PENDING, 0, detail="submitted")
                for t in tasks
                if t.id in inserted
            ]
            await conn.executemany(Q["log_event"], events)
            existing = await _existing_for_keys(conn, [t for t in tasks if t.id not in inserted])
        return [
            Submitted(inserted[t.id], True) if t.id in inserted else Submitted(existing[t.idempotency_key or ""], False)
            for t in tasks
        ]

    # -- reading ----------------------------------------------------------------------
    async def get(self, task_id: uuid.UUID) -> Task | None:
        rows = await self._read(Q["get_task"], {"id": str(task_id)})
        return _task(rows[0]) if rows else None

    async def list_tasks(
        self,
        *,
        status: TaskStatus | None = None,
        agent_type: str | None = None,
        limit: int = 100,
        before: uuid.UUID | None = None,
    ) -> list[Task]:
        clauses = {"status": "status = :status", "agent_type": "agent_type = :agent_type", "before": "id < :before"}
        values = {
            "status": status.value if status is not None else None,
            "agent_type": agent_type,
            "before": str(before) if before is not None else None,
        }
        params: Params = {name: value for name, value in values.items() if value is not None}
        where = f"WHERE {' AND '.join(clauses[name] for name in params)}" if params else ""
        params["limit"] = limit
        rows = await self._read(f"SELECT * FROM tasks {where} ORDER BY id DESC LIMIT :limit", params)
        return [_task(row) for row in rows]

    async def events(self, task_id: uuid.UUID) -> list[TaskEvent]:
        return [_event(row) for row in await self._read(Q["task_events"], {"id": str(task_id)})]

    async def count_by_status(self) -> dict[TaskStatus, int]:
        counts = dict.fromkeys(TaskStatus, 0)
        counts.update({TaskStatus(row["status"]): row["n"] for row in await self._read(Q["count_by_status"])})
        return counts

    async def count_with_status(self, status: TaskStatus) -> int:
        rows = await self._read(Q["count_with_status"], {"status": status.value})
        return int(rows[0][0])

    # -- worker -----------------------------------------------------------------------
    async def claim_many(self, task_ids: Sequence[uuid.UUID], worker_id: str, lease_seconds: float) -> list[Task]:
        claimed = []
        async with self._write() as (conn, now):
            lease_until = _text(now + timedelta(seconds=lease_seconds))
            for task_id in task_ids:
                params = {"id": str(task_id), "worker_id": worker_id, "now": _text(now), "lease_until": lease_until}
                task = _first(await conn.execute_fetchall(Q["claim"], params))
                if task is not None:
                    event = _event_params(now, task_id, TaskStatus.PENDING, TaskStatus.RUNNING, task.attempt, worker_id)
                    await conn.execute(Q["log_event"], event)
                    claimed.append(task)
        return claimed

    async def extend_leases(
        self, worker_id: str, leases: Sequence[tuple[uuid.UUID, int]], lease_seconds: float
    ) -> set[uuid.UUID]:
        if not leases:
            return set()
        held = _json([[str(task_id), attempt] for task_id, attempt in leases])
        async with self._write() as (conn, now):
            params = {"held": held, "lease_until": _text(now + timedelta(seconds=lease_seconds))}
            rows = await conn.execute_fetchall(Q["extend_leases"], params)
        return {uuid.UUID(row["id"]) for row in rows}

    async def complete_many(self, completions: Sequence[Completion], worker_id: str) -> set[uuid.UUID]:
        stored = [None if c.result is None else _json(c.result) for c in completions]  # refuse before writing
        done = set()
        async with self._write() as (conn, now):
            for completion, result in zip(completions, stored, strict=True):
                if await _complete(conn, now, completion.task_id, completion.attempt, worker_id, result):
                    done.add(completion.task_id)
        return done

    async def fail(
        self, task_id: uuid.UUID, attempt: int, worker_id: str, error: str, decision: FailureDecision
    ) -> Task | None:
        async with self._write() as (conn, now):
            params = {
                "id": str(task_id),
                "attempt": attempt,
                "error": error,
                "status": decision.status.value,
                "retry_count": decision.retry_count,
                "now": _text(now),
                "run_after": _text(now + timedelta(seconds=decision.delay)),
            }
            task = _first(await conn.execute_fetchall(Q["fail"], params))
            if task is not None:
                event = _event_params(now, task_id, TaskStatus.RUNNING, task.status, attempt, worker_id, error)
                await conn.execute(Q["log_event"], event)
                if task.workflow_id and task.status is TaskStatus.PERMANENT_FAILURE:
                    await _settle_dependents(conn, now, task_id, TaskStatus.SKIPPED, "a dependency failed for good")
            else:
                await _log_refusal(conn, now, task_id, attempt, worker_id, "failure")
        return task

    async def release(self, task_id: uuid.UUID, attempt: int, worker_id: str) -> bool:
        params = {"id": str(task_id), "attempt": attempt}
        return await self._finish(Q["release"], params, TaskStatus.PENDING, worker_id, "released by a draining worker")

    async def _finish(self, query: str, params: Params, to: TaskStatus, worker_id: str, detail: str | None) -> bool:
        """A fenced RUNNING → `to` write and its event; False when the attempt is not current."""
        async with self._write() as (conn, now):
            rows = list(await conn.execute_fetchall(query, {**params, "now": _text(now)}))
            for row in rows:
                event = _event_params(now, row["id"], TaskStatus.RUNNING, to, row["attempt"], worker_id, detail)
                await conn.execute(Q["log_event"], event)
        return bool(rows)

    async def promote(self, task_ids: Sequence[uuid.UUID]) -> Promotion:
        params = {"ids": _json([str(task_id) for task_id in task_ids])}
        async with self._write() as (conn, now):
            params["now"] = _text(now)
            promoted = await conn.execute_fetchall(Q["promote"], params)
            events = [
                _event_params(
                    now, row["id"], TaskStatus.RETRYING, TaskStatus.PENDING, row["attempt"], detail="backoff elapsed"
                )
                for row in promoted
            ]
            await conn.executemany(Q["log_event"], events)
            rows = await conn.execute_fetchall(Q["promotion_states"], params)
        ready, drop = [], []
        found = set()
        for row in rows:
            task_id = uuid.UUID(row["id"])
            found.add(task_id)
            if row["status"] == TaskStatus.PENDING and row["due"]:
                ready.append((task_id, Priority(row["priority"])))
            elif row["status"] not in (TaskStatus.PENDING, TaskStatus.RETRYING):
                drop.append(task_id)
        drop.extend(task_id for task_id in task_ids if task_id not in found)
        return Promotion(ready, drop)

    # -- repair -----------------------------------------------------------------------
    async def expired_leases(self, limit: int) -> list[Task]:
        rows = await self._read(Q["expired_leases"], {"now": _text(datetime.now(UTC)), "limit": limit})
        return [_task(row) for row in rows]

    async def stale_pending(self, older_than: float, limit: int) -> list[tuple[uuid.UUID, Priority]]:
        rows = await self._read(Q["stale_pending"], {"cutoff": _cutoff(older_than), "limit": limit})
        return [(uuid.UUID(row["id"]), Priority(row["priority"])) for row in rows]

    async def count_stale_pending(self, older_than: float) -> int:
        rows = await self._read(Q["count_stale_pending"], {"cutoff": _cutoff(older_than)})
        return int(rows[0]["n"])

    async def stale_retrying(self, older_than: float, limit: int) -> list[tuple[uuid.UUID, float]]:
        rows = await self._read(Q["stale_retrying"], {"cutoff": _cutoff(older_than), "limit": limit})
        return [(uuid.UUID(row["id"]), _time(row["run_after"]).timestamp()) for row in rows]

    # -- operator ---------------------------------------------------------------------
    async def cancel(self, task_id: uuid.UUID) -> Task:
        async with self._write() as (conn, now):
            current = await _one(conn, Q["get_task"], task_id, now)
            if current.status not in CANCELLABLE:
                raise InvalidTransition(f"task {task_id} is already {current.status}")
            task = await _one(conn, Q["set_cancelled"], task_id, now)
            event = _event_params(
                now, task_id, current.status, TaskStatus.CANCELLED, current.attempt, detail="cancelled"
            )
            await conn.execute(Q["log_event"], event)
            if current.workflow_id:
                await _settle_dependents(conn, now, task_id, TaskStatus.CANCELLED, "a dependency was cancelled")
        return task

    async def requeue(self, task_id: uuid.UUID) -> Task:
        async with self._write() as (conn, now):
            current = await _one(conn, Q["get_task"], task_id, now)
            if current.status is not TaskStatus.PERMANENT_FAILURE:
                raise InvalidTransition(f"task {task_id} is {current.status}, not in the dead-letter queue")
            task = await _one(conn, Q["set_requeued"], task_id, now)
            event = _event_params(
                now,
                task_id,
                TaskStatus.PERMANENT_FAILURE,
                TaskStatus.PENDING,
                current.attempt,
                None,
                "requeued from the dead-letter queue",
            )
            await conn.execute(Q["log_event"], event)
            if current.workflow_id:
                await _resume_dependents(conn, now, task_id)
        return task

    # -- workflows --------------------------------------------------------------------
    async def submit_workflow(self, workflow: NewWorkflow) -> tuple[Workflow, bool]:
        workflow = workflow.with_id()
        assert workflow.id is not None
        async with self._write() as (conn, now):
            params = {
                "id": str(workflow.id),
                "name": workflow.name,
                "idempotency_key": workflow.idempotency_key,
                "request_hash": workflow.request_hash,
                "now": _text(now),
            }
            created = bool(list(await conn.execute_fetchall(Q["insert_workflow"], params)))
            if created:
                workflow_id = workflow.id
                await _insert_steps(conn, now, workflow_id, workflow.steps, {})
            else:
                key = {"idempotency_key": workflow.idempotency_key}
                earlier = next(iter(await conn.execute_fetchall(Q["workflow_by_idempotency_key"], key)))
                if earlier["request_hash"] != workflow.request_hash:
                    raise IdempotencyConflict(
                        f"idempotency key {workflow.idempotency_key!r} was already used with a different workflow"
                    )
                workflow_id = uuid.UUID(earlier["id"])
        found = await self.get_workflow(workflow_id)
        assert found is not None
        return found, created

    async def complete_step(
        self, task_id: uuid.UUID, attempt: int, worker_id: str, result: JSON, new_steps: Sequence[NewTask]
    ) -> StepOutcome:
        stored = None if result is None else _json(result)
        async with self._write() as (conn, now):
            if not await _complete(conn, now, task_id, attempt, worker_id, stored):
                return StepOutcome(False, [])
            ready = await _release_dependents(conn, now, task_id)
            if new_steps:
                step = await _one(conn, Q["get_task"], task_id, now)
                params = {"workflow_id": str(step.workflow_id) if step.workflow_id else None}
                existing = {
                    row["step_id"]: (uuid.UUID(row["id"]), TaskStatus(row["status"]))
                    for row in await conn.execute_fetchall(Q["workflow_steps"], params)
                }  # the write lock is held: their status cannot change under us
                check_dag(new_steps, existing)  # InvalidWorkflow rolls back the completion too
                added = await _insert_steps(conn, now, step.workflow_id, new_steps, existing)
                ready += [(task.id, task.priority) for task in added if task.status is TaskStatus.PENDING]
        return StepOutcome(True, ready)

    async def dependency_results(self, task_id: uuid.UUID) -> dict[str, JSON]:
        rows = await self._read(Q["dependency_results"], {"id": str(task_id)})
        return {row["step_id"]: None if row["result"] is None else orjson.loads(row["result"]) for row in rows}

    async def get_workflow(self, workflow_id: uuid.UUID) -> Workflow | None:
        params = {"id": str(workflow_id), "workflow_id": str(workflow_id)}
        async with self._snapshot() as conn:
            rows = list(await conn.execute_fetchall(Q["workflow_row"], params))
            if not rows:
                return None
            steps = await conn.execute_fetchall(Q["workflow_steps"], params)
            edges = await conn.execute_fetchall(Q["workflow_edges"], params)
        return _workflow(rows[0], [_task(step) for step in steps], [(e["step"], e["depends_on"]) for e in edges])

    async def list_workflows(
        self, *, status: WorkflowStatus | None = None, limit: int = 100, before: uuid.UUID | None = None
    ) -> list[Workflow]:
        params = {
            "status": status.value if status is not None else None,
            "before": str(before) if before is not None else None,
            "limit": limit,
        }
        return [_workflow(row, [], []) for row in await self._read(Q["workflow_rows"], params)]

    async def cancel_workflow(self, workflow_id: uuid.UUID) -> list[uuid.UUID]:
        params = {"id": str(workflow_id), "workflow_id": str(workflow_id)}
        async with self._write() as (conn, now):
            rows = list(await conn.execute_fetchall(Q["workflow_row"], params))
            if not rows:
                raise WorkflowNotFound(f"no workflow {workflow_id}")
            status = rows[0]["status"]
            if status in (WorkflowStatus.CANCELLED, WorkflowStatus.COMPLETED):
                raise InvalidTransition(f"workflow {workflow_id} is already {status}")
            unfinished = list(await conn.execute_fetchall(Q["unfinished_workflow_steps"], params))
            ids = _json([row["id"] for row in unfinished])
            await conn.execute(Q["cancel_workflow_steps"], {"ids": ids, "now": _text(now)})
            previous = [(row["id"], TaskStatus(row["status"]), row["attempt"]) for row in unfinished]
            events = [
                _event_params(now, step, status, TaskStatus.CANCELLED, attempt, detail="workflow cancelled")
                for step, status, attempt in previous
            ]
            await conn.executemany(Q["log_event"], events)
            await conn.execute(Q["mark_workflow_cancelled"], {"id": str(workflow_id), "now": _text(now)})
        return [uuid.UUID(row["id"]) for row in unfinished]

    # -- worker registry --------------------------------------------------------------
    async def record_worker(self, worker_id: str, host: str, pid: int, concurrency: int, in_flight: int) -> None:
        async with self._write() as (conn, now):
            params = {
                "id": worker_id,
                "host": host,
                "pid": pid,
                "concurrency": concurrency,
                "in_flight": in_flight,
                "now": _text(now),
            }
            await conn.execute(Q["record_worker"], params)

    async def remove_worker(self, worker_id: str) -> None:
        async with self._write() as (conn, _):
            await conn.execute(Q["remove_worker"], {"id": worker_id})

    async def list_workers(self, seen_within: float) -> list[WorkerInfo]:
        since = _text(datetime.now(UTC) - timedelta(seconds=seen_within))
        rows = await self._read(Q["list_workers"], {"since": since})
        return [_worker(row) for row in rows]


def _probe(path: str) -> None:
    sqlite3.connect(path).close()


async def _prepare(conn: aiosqlite.Connection, *statements: str) -> None:
    """Rows by name, WAL-friendly durability, a wait instead of an instant "database is locked"."""
    conn.row_factory = sqlite3.Row
    for statement in (
        "PRAGMA synchronous=NORMAL",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
        "PRAGMA foreign_keys=ON",
        *statements,
    ):
        await conn.execute(statement)


async def _enable_wal(conn: aiosqlite.Connection) -> None:
    """Switch to WAL, retrying within the busy timeout.

    The switch can fail with "database is locked" at once, bypassing the busy handler, while
    another process creates the file or checkpoints it on close.
    """
    deadline = asyncio.get_running_loop().time() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if _code(exc) != sqlite3.SQLITE_BUSY or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.02)


def _code(exc: sqlite3.DatabaseError) -> int:
    """The primary result code (extended codes carry detail in the high bits)."""
    return int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF


# -- inside a write transaction ----------------------------------------------------------
async def _applied_versions(conn: aiosqlite.Connection) -> set[int]:
    return {row["version"] for row in await conn.execute_fetchall(Q["applied_versions"])}


async def _existing_for_keys(conn: aiosqlite.Connection, skipped: list[NewTask]) -> dict[str, Task]:
    """Tasks that won an idempotency key before us; a different body is a conflict."""
    if not skipped:
        return {}
    keys = _json([task.idempotency_key for task in skipped])
    rows = await conn.execute_fetchall(Q["tasks_by_idempotency_key"], {"keys": keys})
    existing = {row["idempotency_key"]: _task(row) for row in rows}
    for task in skipped:
        found = existing.get(task.idempotency_key or "")
        if found is None or found.request_hash != task.request_hash:
            raise IdempotencyConflict(
                f"idempotency key {task.idempotency_key!r} was already used with a different request"
            )
    return existing


async def _complete(
    conn: aiosqlite.Connection, now: datetime, task_id: uuid.UUID, attempt: int, worker_id: str, result: str | None
) -> bool:
    """The fenced RUNNING → COMPLETED write and its event, or the refusal row; `result` is JSON text."""
    params = {"id": str(task_id), "attempt": attempt, "result": result, "now": _text(now)}
    rows = list(await conn.execute_fetchall(Q["complete"], params))
    if rows:
        event = _event_params(now, task_id, TaskStatus.RUNNING, TaskStatus.COMPLETED, attempt, worker_id)
        await conn.execute(Q["log_event"], event)
    else:
        await _log_refusal(conn, now, task_id, attempt, worker_id, "COMPLETED")
    return bool(rows)


async def _insert_steps(
    conn: aiosqlite.Connection,
    now: datetime,
    workflow_id: uuid.UUID | None,
    steps: Sequence[NewTask],
    existing: dict[str, tuple[uuid.UUID, TaskStatus]],
) -> list[Task]:
    """Insert steps, their events and dependency edges; a step waits for every dependency not COMPLETED."""
    ids = {step_id: task_id for step_id, (task_id, _) in existing.items()}
    ids.update({step.step_id or "": step.id for step in steps})
    done = {step_id for step_id, (_, status) in existing.items() if status is TaskStatus.COMPLETED}
    batch = [
        {
            **_new_task_row(step, now),
            "step_id": step.step_id,
            "pending_deps": sum(1 for dependency in step.depends_on if dependency not in done),
        }
        for step in steps
    ]
    params = {"batch": _json(batch), "workflow_id": str(workflow_id) if workflow_id else None, "now": _text(now)}
    added = [_task(row) for row in await conn.execute_fetchall(Q["insert_steps"], params)]
    events = [_event_params(now, task.id, None, task.status, 0, detail="submitted") for task in added]
    await conn.executemany(Q["log_event"], events)
    edges = [[str(step.id), str(ids[dependency])] for step in steps for dependency in step.depends_on]
    if edges:
        await conn.execute(Q["insert_dependencies"], {"edges": _json(edges)})
    return added


async def _release_dependents(
    conn: aiosqlite.Connection, now: datetime, task_id: uuid.UUID
) -> list[tuple[uuid.UUID, Priority]]:
    """Step `task_id` completed: each WAITING dependent loses a pending dependency; at zero it is PENDING."""
    rows = await conn.execute_fetchall(Q["release_dependents"], {"id": str(task_id), "now": _text(now)})
    ready = sorted((row for row in rows if row["status"] == TaskStatus.PENDING), key=lambda row: str(row["id"]))
    events = [
        _event_params(
            now, row["id"], TaskStatus.WAITING, TaskStatus.PENDING, row["attempt"], detail="dependencies completed"
        )
        for row in ready
    ]
    await conn.executemany(Q["log_event"], events)
    return [(uuid.UUID(row["id"]), Priority(row["priority"])) for row in ready]


async def _settle_dependents(
    conn: aiosqlite.Connection, now: datetime, task_id: uuid.UUID, to: TaskStatus, detail: str
) -> None:
    """Every step downstream of `task_id` still WAITING becomes `to` (SKIPPED or CANCELLED)."""
    params = {"id": str(task_id), "status": to.value, "now": _text(now)}
    rows = await conn.execute_fetchall(Q["settle_dependents"], params)
    events = [_event_params(now, row["id"], TaskStatus.WAITING, to, row["attempt"], detail=detail) for row in rows]
    await conn.executemany(Q["log_event"], events)


async def _resume_dependents(conn: aiosqlite.Connection, now: datetime, task_id: uuid.UUID) -> None:
    """The failed step `task_id` was requeued: SKIPPED steps downstream wait again for what is unfinished."""
    rows = await conn.execute_fetchall(Q["resume_dependents"], {"id": str(task_id), "now": _text(now)})
    events = [
        _event_params(
            now, row["id"], TaskStatus.SKIPPED, TaskStatus.WAITING, row["attempt"], detail="dependency requeued"
        )
        for row in rows
    ]
    await conn.executemany(Q["log_event"], events)


async def _one(conn: aiosqlite.Connection, query: str, task_id: uuid.UUID, now: datetime) -> Task:
    """The task `query` reads or writes; `BEGIN IMMEDIATE` already holds the write lock, so no FOR UPDATE."""
    task = _first(await conn.execute_fetchall(query, {"id": str(task_id), "now": _text(now)}))
    if task is None:
        raise TaskNotFound(f"no task {task_id}")
    return task


# -- values in and out ---------------------------------------------------------------------
def _statements(script: str) -> list[str]:
    """Split a migration into statements; `complete_statement` knows a trigger body holds `;`."""
    statements: list[str] = []
    pending = ""
    for piece in re.split(r"(?<=;)", script):
        pending += piece
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    if pending.strip():
        statements.append(pending)  # no final `;`: let SQLite judge it
    return statements


def _new_task_row(task: NewTask, now: datetime) -> dict[str, Any]:
    return {
        "id": str(task.id),
        "agent_type": task.agent_type,
        "priority": task.priority.value,
        "payload": _json(task.payload),
        "max_retries": task.max_retries,
        "idempotency_key": task.idempotency_key,
        "request_hash": task.request_hash,
        "run_after": _text(now + timedelta(seconds=task.delay_seconds)),
    }


def _event_params(
    now: datetime,
    task_id: uuid.UUID | str,
    from_status: TaskStatus | None,
    to_status: TaskStatus,
    attempt: int,
    worker_id: str | None = None,
    detail: str | None = None,
) -> Params:
    return {
        "task_id": str(task_id),
        "from_status": from_status.value if from_status else None,
        "to_status": to_status.value,
        "attempt": attempt,
        "worker_id": worker_id,
        "now": _text(now),
        "detail": detail,
    }


async def _log_refusal(
    conn: aiosqlite.Connection, now: datetime, task_id: uuid.UUID, attempt: int, worker_id: str, outcome: str
) -> None:
    """A late outcome (lease expired, task cancelled) changes nothing but is recorded."""
    rows = list(await conn.execute_fetchall(Q["get_task"], {"id": str(task_id)}))
    if rows:
        current = TaskStatus(rows[0]["status"])
        detail = f"refused: late {outcome} from attempt {attempt}, current is {rows[0]['attempt']}"
        await conn.execute(Q["log_event"], _event_params(now, task_id, current, current, attempt, worker_id, detail))


def _cutoff(older_than: float) -> str:
    return _text(datetime.now(UTC) - timedelta(seconds=older_than))


def _json(value: JSON) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as exc:
        raise InvalidInput(f"value cannot be stored as JSON: {exc}") from None


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _maybe_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _first(rows: Iterable[sqlite3.Row]) -> Task | None:
    return next((_task(row) for row in rows), None)


def _task(row: sqlite3.Row) -> Task:
    return Task(
        id=uuid.UUID(row["id"]),
        agent_type=row["agent_type"],
        priority=Priority(row["priority"]),
        payload=orjson.loads(row["payload"]),
        status=TaskStatus(row["status"]),
        result=None if row["result"] is None else orjson.loads(row["result"]),
        last_error=row["last_error"],
        retry_count=row["retry_count"],
        max_retries=row["max_retries"],
        attempt=row["attempt"],
        idempotency_key=row["idempotency_key"],
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        started_at=_maybe_time(row["started_at"]),
        completed_at=_maybe_time(row["completed_at"]),
        run_after=_time(row["run_after"]),
        worker_id=row["worker_id"],
        lease_expires_at=_maybe_time(row["lease_expires_at"]),
        request_hash=row["request_hash"],
        workflow_id=None if row["workflow_id"] is None else uuid.UUID(row["workflow_id"]),
        step_id=row["step_id"],
    )


def _workflow(row: sqlite3.Row, steps: list[Task], edges: list[tuple[str, str]]) -> Workflow:
    return Workflow(
        id=uuid.UUID(row["id"]),
        name=row["name"],
        status=WorkflowStatus(row["status"]),
        idempotency_key=row["idempotency_key"],
        created_at=_time(row["created_at"]),
        cancelled_at=_maybe_time(row["cancelled_at"]),
        steps=tuple(steps),
        dependencies=tuple(sorted(edges)),
    )


def _worker(row: sqlite3.Row) -> WorkerInfo:
    return WorkerInfo(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        concurrency=row["concurrency"],
        in_flight=row["in_flight"],
        started_at=_time(row["started_at"]),
        last_seen=_time(row["last_seen"]),
    )


def _event(row: sqlite3.Row) -> TaskEvent:
    return TaskEvent(
        id=row["id"],
        task_id=uuid.UUID(row["task_id"]),
        from_status=TaskStatus(row["from_status"]) if row["from_status"] else None,
        to_status=TaskStatus(row["to_status"]),
        attempt=row["attempt"],
        worker_id=row["worker_id"],
        at=_time(row["at"]),
        detail=row["detail"],
    )
