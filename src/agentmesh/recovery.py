"""Rebuilding the broker from the store, and failing attempts whose worker is gone.

The store is the truth: after an in-process broker starts empty (embedded mode) or a
Redis loses its data, every PENDING and RETRYING task is put back from the store.
"""

from __future__ import annotations

import logging
import time

from agentmesh.broker import Broker
from agentmesh.domain.retry import RetryPolicy, decide_failure
from agentmesh.domain.task import Task, TaskStatus
from agentmesh.mesh import all_with_status
from agentmesh.store import Store

log = logging.getLogger("agentmesh.recovery")


async def rebuild_broker(store: Store, broker: Broker) -> int:
    """Push every PENDING task and set a timer for every RETRYING one; return how many."""
    pending = await all_with_status(store, TaskStatus.PENDING)
    retrying = await all_with_status(store, TaskStatus.RETRYING)
    now = time.time()
    due = [task for task in pending if task.run_after.timestamp() <= now]
    later = [task for task in pending if task.run_after.timestamp() > now] + retrying
    await broker.push([(task.id, task.priority) for task in due])
    await broker.schedule([(task.id, task.run_after.timestamp()) for task in later])
    return len(due) + len(later)


async def fail_orphans(store: Store, broker: Broker, tasks: list[Task], policy: RetryPolicy, reason: str) -> int:
    """Count each orphaned RUNNING attempt as a failure, by the normal retry rule (fenced)."""
    failed = 0
    for task in tasks:
        decision = decide_failure(task.retry_count, task.max_retries, policy)
        updated = await store.fail(task.id, task.attempt, "recovery", reason, decision)
        if updated is None:
            continue
        failed += 1
        if updated.status is TaskStatus.RETRYING:
            await broker.schedule([(updated.id, updated.run_after.timestamp())])
        else:
            await broker.add_dead_letter([updated.id])
    return failed


async def recover_single_process(store: Store, broker: Broker, policy: RetryPolicy) -> None:
    """Embedded start-up: no other process can hold a lease, so every RUNNING task is an orphan."""
    orphans = await all_with_status(store, TaskStatus.RUNNING)
    failed = await fail_orphans(store, broker, orphans, policy, "worker died: the process was restarted")
    restored = await rebuild_broker(store, broker)
    if failed or restored:
        log.info("recovered from the store: %d tasks re-enqueued, %d interrupted attempts failed", restored, failed)
