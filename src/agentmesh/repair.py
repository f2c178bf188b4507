"""Repairs that keep the broker in step with the store, which is the truth.

- the reaper turns expired leases (a worker killed, frozen or cut off) into failed attempts;
- the reconciler puts back what the broker lost: every id after a restart or flush (the
  epoch marker is gone), timers that vanished, and ids that never reached a lane or were
  popped by a worker that died before claiming them.

Every repair is safe to run in many processes at once: outcome writes are fenced by the
attempt, claims are compare-and-set, so a duplicate id or timer is harmless.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from agentmesh.broker import Broker
from agentmesh.domain.retry import RetryPolicy, decide_failure
from agentmesh.domain.task import Priority, Task, TaskStatus
from agentmesh.mesh import all_with_status
from agentmesh.store import Store

log = logging.getLogger("agentmesh.repair")

BATCH = 10_000
PRECISE_LANE_LIMIT = 50_000  # up to this many ids in the lanes, always compare exactly


@dataclass(frozen=True, slots=True)
class Repairs:
    rebuilt: int = 0
    timers: int = 0
    pushed: int = 0
    dead_letter: int = 0

    def __bool__(self) -> bool:
        return bool(self.rebuilt or self.timers or self.pushed or self.dead_letter)


async def rebuild_broker(store: Store, broker: Broker) -> int:
    """Push every due PENDING task and set a timer for every other waiting one; return how many."""
    pending = await all_with_status(store, TaskStatus.PENDING)
    retrying = await all_with_status(store, TaskStatus.RETRYING)
    now = time.time()
    due = [task for task in pending if task.run_after.timestamp() <= now]
    later = [task for task in pending if task.run_after.timestamp() > now] + retrying
    await broker.push([(task.id, task.priority) for task in due])
    await broker.schedule([(task.id, task.run_after.timestamp()) for task in later])
    await sync_dead_letter(store, broker)
    return len(due) + len(later)


async def sync_dead_letter(store: Store, broker: Broker) -> int:
    """Make the broker's dead-letter list mirror the store's PERMANENT_FAILURE tasks."""
    dead = {task.id for task in await all_with_status(store, TaskStatus.PERMANENT_FAILURE)}
    listed = set(await broker.dead_letter_ids())
    missing, extra = dead - listed, listed - dead
    await broker.add_dead_letter(sorted(missing))
    await broker.remove_dead_letter(sorted(extra))
    return len(missing) + len(extra)


async def fail_orphans(store: Store, broker: Broker, tasks: list[Task], policy: RetryPolicy, reason: str) -> int:
    """Count each orphaned RUNNING attempt as a failure, by the normal retry rule (fenced)."""
    failed = 0
    for task in tasks:
        decision = decide_failure(task.retry_count, task.max_retries, policy)
        updated = await store.fail(task.id, task.attempt, "reaper", reason, decision)
        if updated is None:
            continue  # finished, cancelled or reaped by someone else meanwhile
        failed += 1
        if updated.status is TaskStatus.RETRYING:
            await broker.schedule([(updated.id, updated.run_after.timestamp())])
        else:
            await broker.add_dead_letter([updated.id])
    return failed


async def reap_expired(store: Store, broker: Broker, policy: RetryPolicy) -> int:
    expired = await store.expired_leases(500)
    reaped = await fail_orphans(store, broker, expired, policy, "lease expired: the worker stopped heartbeating")
    if reaped:
        log.warning("reaped %d tasks whose lease expired", reaped)
    return reaped


async def adopt_broker(store: Store, broker: Broker) -> int | None:
    """Rebuild a new, restarted or flushed broker from the store and mark it; None if it was in step.

    The API does this at start, before taking submissions: otherwise the first reconciler pass
    would see an unmarked broker and push the whole backlog a second time.
    """
    if not await broker.mark_epoch():
        return None
    return await rebuild_broker(store, broker)


async def reconcile(store: Store, broker: Broker, grace: float) -> Repairs:
    """One pass of store → broker repair; `grace` is how long a task may wait before it counts as lost."""
    rebuilt = await adopt_broker(store, broker)
    if rebuilt is not None:
        repairs = Repairs(rebuilt=rebuilt)
    else:
        timers = await store.stale_retrying(grace, BATCH)
        await broker.schedule(timers)
        missing = await _missing_from_lanes(store, broker, grace)
        await broker.push(missing)
        dead_letter = 0
        if await store.count_with_status(TaskStatus.PERMANENT_FAILURE) != (await broker.depths()).dead_letter:
            dead_letter = await sync_dead_letter(store, broker)
        repairs = Repairs(timers=len(timers), pushed=len(missing), dead_letter=dead_letter)
    if repairs:
        log.warning("reconciled broker with store: %s", repairs)
    return repairs


async def _missing_from_lanes(store: Store, broker: Broker, grace: float) -> list[tuple[uuid.UUID, Priority]]:
    """Stale PENDING tasks whose id is in no lane.

    A deep backlog is compared by count first, so a healthy mesh with a million queued ids
    is not read in full every pass; small lanes are always compared id by id.
    """
    stale = await store.count_stale_pending(grace)
    if not stale:
        return []
    depths = await broker.depths()
    queued = depths.high + depths.medium + depths.low
    if queued > PRECISE_LANE_LIMIT and stale <= queued:
        return []
    candidates = await store.stale_pending(grace, BATCH)
    present = await broker.lane_ids()
    return [(task_id, lane) for task_id, lane in candidates if task_id not in present]


async def recover_single_process(store: Store, broker: Broker, policy: RetryPolicy) -> None:
    """Embedded start-up: no other process can hold a lease, so every RUNNING task is an orphan."""
    orphans = await all_with_status(store, TaskStatus.RUNNING)
    failed = await fail_orphans(store, broker, orphans, policy, "worker died: the process was restarted")
    await broker.mark_epoch()
    restored = await rebuild_broker(store, broker)
    if failed or restored:
        log.info("recovered from the store: %d tasks re-enqueued, %d interrupted attempts failed", restored, failed)
