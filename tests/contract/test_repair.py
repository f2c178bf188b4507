"""Reaper and reconciler on every backend pair: the store is the truth, the broker is rebuilt."""

from __future__ import annotations

import asyncio
import time

from agentmesh.broker import Broker
from agentmesh.domain.retry import FailureDecision, RetryPolicy
from agentmesh.domain.task import NewTask, Priority, TaskStatus
from agentmesh.repair import adopt_broker, reap_expired, reconcile
from agentmesh.store import Store
from tests.factories import new_task

S = TaskStatus
POLICY = RetryPolicy(base=1.2, jitter=0)




def new(**options: object) -> NewTask:
    return new_task(**{"priority": Priority.LOW, **options})


async def test_expired_lease_is_a_failed_attempt_and_the_late_result_is_refused(store: Store, broker: Broker) -> None:
    (item,) = await store.submit([new()])
    claimed = await store.claim(item.task.id, "frozen-worker", 0.2)
    assert claimed is not None
    assert await reap_expired(store, broker, POLICY) == 0  # lease still valid
    await asyncio.sleep(0.3)
    assert await reap_expired(store, broker, POLICY) == 1
    assert await reap_expired(store, broker, POLICY) == 0  # reaped once, however many reapers
    task = await store.get(item.task.id)
    assert task is not None and (task.status, task.retry_count) == (S.RETRYING, 1)
    assert "lease expired" in (task.last_error or "")
    assert [task_id for task_id, _ in await broker.due(time.time() + 60, 10)] == [task.id]
    assert await store.complete(task.id, claimed.attempt, "frozen-worker", {"late": True}) is False
    events = await store.events(task.id)
    assert events[-1].detail == "refused: late COMPLETED from attempt 1, current is 1"
    assert (events[-1].from_status, events[-1].to_status) == (S.RETRYING, S.RETRYING)


async def test_expired_lease_past_the_limit_is_dead_lettered(store: Store, broker: Broker) -> None:
    (item,) = await store.submit([new(max_retries=0)])
    assert await store.claim(item.task.id, "w", 0.05) is not None
    await asyncio.sleep(0.1)
    assert await reap_expired(store, broker, POLICY) == 1
    task = await store.get(item.task.id)
    assert task is not None and task.status is S.PERMANENT_FAILURE
    assert await broker.dead_letter_ids() == [task.id]


async def test_first_pass_on_an_empty_broker_rebuilds_it_from_the_store(store: Store, broker: Broker) -> None:
    due = [item.task for item in await store.submit([new(priority=Priority.HIGH), new()])]
    (delayed,) = [item.task for item in await store.submit([new(delay_seconds=60)])]
    (failing,) = [item.task for item in await store.submit([new()])]
    assert await store.claim(failing.id, "w", 30) is not None
    await store.fail(failing.id, 1, "w", "boom", FailureDecision(S.RETRYING, 1, 30))
    repairs = await reconcile(store, broker, grace=60)
    assert repairs.rebuilt == 4
    assert await broker.pop(10, timeout=0) == [(due[0].id, Priority.HIGH), (due[1].id, Priority.LOW)]
    timers = {task_id for task_id, _ in await broker.due(time.time() + 120, 10)}
    assert timers == {delayed.id, failing.id}
    assert not await reconcile(store, broker, grace=60)  # nothing lost since


async def test_adopting_a_broker_rebuilds_it_once_so_no_backlog_is_pushed_twice(store: Store, broker: Broker) -> None:
    queued = [item.task for item in await store.submit([new(), new(), new()])]
    assert await adopt_broker(store, broker) == 3
    assert await adopt_broker(store, broker) is None  # marked: in step from now on
    assert not await reconcile(store, broker, grace=60)  # a reconciler does not rebuild it again
    assert sorted(task_id for task_id, _ in await broker.pop(10, timeout=0)) == sorted(t.id for t in queued)


async def test_ids_never_pushed_or_lost_come_back_after_the_grace(store: Store, broker: Broker) -> None:
    await reconcile(store, broker, grace=0.2)  # the broker's epoch is set: from now on, diff only
    stranded = [item.task for item in await store.submit([new(), new()])]  # committed, never pushed
    kept = [item.task for item in await store.submit([new()])]
    await broker.push([(kept[0].id, kept[0].priority)])
    assert not await reconcile(store, broker, grace=0.2)  # too recent to call lost
    await asyncio.sleep(0.3)
    repairs = await reconcile(store, broker, grace=0.2)
    assert repairs.pushed == 2
    popped = {task_id for task_id, _ in await broker.pop(10, timeout=0)}
    assert popped == {task.id for task in stranded + kept}


async def test_a_vanished_retry_timer_is_set_again(store: Store, broker: Broker) -> None:
    await reconcile(store, broker, grace=0.2)
    (item,) = await store.submit([new()])
    assert await store.claim(item.task.id, "w", 30) is not None
    await store.fail(item.task.id, 1, "w", "boom", FailureDecision(S.RETRYING, 1, 0.05))  # timer never set
    await asyncio.sleep(0.3)
    repairs = await reconcile(store, broker, grace=0.2)
    assert repairs.timers == 1
    assert [task_id for task_id, _ in await broker.due(time.time(), 10)] == [item.task.id]
