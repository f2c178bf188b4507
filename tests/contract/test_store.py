"""The store contract, run against every backend: the same behaviour, PostgreSQL or SQLite."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from agentmesh.domain.retry import FailureDecision
from agentmesh.domain.task import Priority, TaskStatus
from agentmesh.errors import IdempotencyConflict, InvalidInput, InvalidTransition, TaskNotFound
from agentmesh.store import Store
from tests.factories import new_task as new

S = TaskStatus
WORKER = "w1"




async def submitted(store: Store, **options: object) -> uuid.UUID:
    (item,) = await store.submit([new(**options)])
    return item.task.id


async def test_migrate_is_idempotent(store: Store) -> None:
    assert await store.migrate() == []
    assert await store.pending_migrations() == []


async def test_submit_commits_pending_with_a_submission_event(store: Store) -> None:
    (item,) = await store.submit([new(payload={"text": "héllo 🌍", "n": [1, 2.5, None, True]})])
    assert item.created and item.task.status is S.PENDING
    task = await store.get(item.task.id)
    assert task is not None
    assert task.payload == {"text": "héllo 🌍", "n": [1, 2.5, None, True]}
    assert (task.retry_count, task.attempt, task.max_retries) == (0, 0, 3)
    assert task.created_at.tzinfo is not None and task.run_after <= task.created_at
    (event,) = await store.events(task.id)
    assert (event.from_status, event.to_status, event.attempt) == (None, S.PENDING, 0)


async def test_unstorable_json_is_invalid_input_and_stores_nothing(store: Store) -> None:
    with pytest.raises(InvalidInput):
        await store.submit([new(), new(payload={"n": 2**64})])
    assert sum((await store.count_by_status()).values()) == 0


async def test_claim_is_a_compare_and_set(store: Store) -> None:
    task_id = await submitted(store)
    claims = await asyncio.gather(*(store.claim(task_id, f"w{i}", 30) for i in range(5)))
    winners = [claim for claim in claims if claim is not None]
    assert len(winners) == 1
    assert (winners[0].status, winners[0].attempt) == (S.RUNNING, 1)
    assert winners[0].lease_expires_at is not None
    assert await store.claim(task_id, WORKER, 30) is None


async def test_complete_is_fenced_by_attempt(store: Store) -> None:
    task_id = await submitted(store)
    claimed = await store.claim(task_id, WORKER, 30)
    assert claimed is not None
    assert await store.complete(task_id, claimed.attempt + 1, WORKER, {"stale": True}) is False
    assert await store.complete(task_id, claimed.attempt, WORKER, {"ok": 1}) is True
    assert await store.complete(task_id, claimed.attempt, WORKER, {"twice": 1}) is False
    task = await store.get(task_id)
    assert task is not None and task.status is S.COMPLETED and task.result == {"ok": 1}
    events = await store.events(task_id)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, S.PENDING), (S.PENDING, S.RUNNING), (S.RUNNING, S.RUNNING),
        (S.RUNNING, S.COMPLETED), (S.COMPLETED, S.COMPLETED),
    ]  # fmt: skip
    refused = [e for e in events if e.from_status == e.to_status]
    assert [e.detail for e in refused] == [
        "refused: late COMPLETED from attempt 2, current is 1",
        "refused: late COMPLETED from attempt 1, current is 1",
    ]


async def test_fail_retry_promote_and_dead_letter(store: Store) -> None:
    task_id = await submitted(store, max_retries=1)
    claimed = await store.claim(task_id, WORKER, 30)
    assert claimed is not None
    retry = await store.fail(task_id, 1, WORKER, "boom", FailureDecision(S.RETRYING, 1, 0.3))
    assert retry is not None and retry.status is S.RETRYING and retry.retry_count == 1
    assert retry.run_after > retry.updated_at
    assert await store.fail(task_id, 1, WORKER, "late", FailureDecision(S.RETRYING, 2, 0)) is None
    early = await store.promote([task_id])
    assert early.ready == [] and early.drop == []
    await asyncio.sleep(0.35)
    promoted = await store.promote([task_id])
    assert promoted.ready == [(task_id, Priority.MEDIUM)]
    again = await store.claim(task_id, WORKER, 30)
    assert again is not None and again.attempt == 2
    dead = await store.fail(task_id, 2, WORKER, "boom again", FailureDecision(S.PERMANENT_FAILURE, 2, 0))
    assert dead is not None and dead.status is S.PERMANENT_FAILURE and dead.completed_at is not None
    assert dead.last_error == "boom again"
    gone = await store.promote([task_id, uuid.uuid4()])
    assert gone.ready == [] and len(gone.drop) == 2


async def test_delayed_submission_is_not_claimable_early(store: Store) -> None:
    task_id = await submitted(store, delay_seconds=0.3)
    assert await store.claim(task_id, WORKER, 30) is None
    await asyncio.sleep(0.35)
    assert (await store.promote([task_id])).ready == [(task_id, Priority.MEDIUM)]
    assert await store.claim(task_id, WORKER, 30) is not None


async def test_release_returns_to_pending_without_a_failure(store: Store) -> None:
    task_id = await submitted(store)
    claimed = await store.claim(task_id, WORKER, 30)
    assert claimed is not None
    assert await store.release(task_id, claimed.attempt, WORKER) is True
    task = await store.get(task_id)
    assert task is not None and (task.status, task.retry_count) == (S.PENDING, 0)
    assert await store.claim(task_id, WORKER, 30) is not None


async def test_extend_leases_reports_lost_ones(store: Store) -> None:
    kept, cancelled = await submitted(store), await submitted(store)
    for task_id in (kept, cancelled):
        assert await store.claim(task_id, WORKER, 30) is not None
    await store.cancel(cancelled)
    alive = await store.extend_leases(WORKER, [(kept, 1), (cancelled, 1)], 30)
    assert alive == {kept}
    assert await store.extend_leases(WORKER, [(kept, 7)], 30) == set()


async def test_cancel_and_requeue_rules(store: Store) -> None:
    with pytest.raises(TaskNotFound):
        await store.cancel(uuid.uuid4())
    task_id = await submitted(store, max_retries=0)
    with pytest.raises(InvalidTransition):
        await store.requeue(task_id)
    assert await store.claim(task_id, WORKER, 30) is not None
    await store.fail(task_id, 1, WORKER, "x", FailureDecision(S.PERMANENT_FAILURE, 1, 0))
    with pytest.raises(InvalidTransition):
        await store.cancel(task_id)
    requeued = await store.requeue(task_id)
    assert (requeued.status, requeued.retry_count, requeued.result) == (S.PENDING, 0, None)
    cancelled = await store.cancel(task_id)
    assert cancelled.status is S.CANCELLED
    with pytest.raises(InvalidTransition):
        await store.cancel(task_id)
    transitions = [(e.from_status, e.to_status) for e in await store.events(task_id)]
    assert transitions[-2:] == [(S.PERMANENT_FAILURE, S.PENDING), (S.PENDING, S.CANCELLED)]


async def test_idempotency_keys(store: Store) -> None:
    first = await store.submit([new(idempotency_key="k1", request_hash="h1")])
    again = await store.submit([new(idempotency_key="k1", request_hash="h1")])
    assert first[0].created and not again[0].created
    assert again[0].task.id == first[0].task.id
    with pytest.raises(IdempotencyConflict):
        await store.submit([new(), new(idempotency_key="k1", request_hash="other")])
    assert sum((await store.count_by_status()).values()) == 1  # the whole batch rolled back


async def test_listing_is_newest_first_with_a_cursor(store: Store) -> None:
    ids = [item.task.id for item in await store.submit([new(agent_type="LYRA_AUDITOR") for _ in range(5)])]
    await store.submit([new(agent_type="CEDRIC_WRITER")])
    page1 = await store.list_tasks(agent_type="LYRA_AUDITOR", limit=3)
    page2 = await store.list_tasks(agent_type="LYRA_AUDITOR", limit=3, before=page1[-1].id)
    assert [t.id for t in page1 + page2] == sorted(ids, reverse=True)
    assert all(t.status is S.PENDING for t in await store.list_tasks(status=S.PENDING))
    assert await store.list_tasks(status=S.COMPLETED) == []


async def test_worker_registry(store: Store) -> None:
    await store.record_worker("w-a", "host", 123, 8, 2)
    await store.record_worker("w-a", "host", 123, 8, 5)
    (worker,) = await store.list_workers(seen_within=30)
    assert (worker.id, worker.concurrency, worker.in_flight) == ("w-a", 8, 5)
    await store.remove_worker("w-a")
    assert await store.list_workers(seen_within=30) == []


async def test_count_with_status_agrees_with_the_counts_by_status(store: Store) -> None:
    submitted = await store.submit([new(), new(), new()])
    assert await store.claim(submitted[0].task.id, "w", 30) is not None
    by_status = await store.count_by_status()
    for status in S:
        assert await store.count_with_status(status) == by_status[status]
    assert by_status[S.PENDING] == 2 and by_status[S.RUNNING] == 1
