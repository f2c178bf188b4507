"""Group commits on every backend pair: many concurrent writes share one commit, yet each
caller gets its own answer and a bad item fails alone."""

from __future__ import annotations

import asyncio
import uuid

from agentmesh.domain.task import TaskStatus
from agentmesh.errors import IdempotencyConflict
from agentmesh.mesh import Mesh, TaskRequest
from agentmesh.store import Completion, Store
from tests.factories import new_task

S = TaskStatus


def request(key: str | None = None, **payload: object) -> TaskRequest:
    return TaskRequest(agent_type="CEDRIC_WRITER", payload=dict(payload), idempotency_key=key)


async def test_concurrent_single_submissions_share_commits_and_each_gets_its_task(any_mesh: Mesh) -> None:
    store_calls: list[int] = []
    submit = any_mesh.store.submit

    async def counting(tasks):  # type: ignore[no-untyped-def]
        store_calls.append(len(tasks))
        return await submit(tasks)

    any_mesh.store.submit = counting  # type: ignore[method-assign]
    results = await asyncio.gather(*(any_mesh.submit_one(request(n=n)) for n in range(200)))
    assert len({item.task.id for item in results}) == 200 and all(item.created for item in results)
    assert [item.task.payload for item in results] == [{"n": n} for n in range(200)]  # each caller its own task
    assert sum(store_calls) == 200 and len(store_calls) < 200  # shared commits
    stored = {task.id: task for task in [await any_mesh.store.get(item.task.id) for item in results] if task}
    assert len(stored) == 200 and {task.status for task in stored.values()} == {S.PENDING}


async def test_a_conflicting_key_fails_alone_and_a_repeated_one_gets_the_original(any_mesh: Mesh) -> None:
    (first,) = await any_mesh.submit([request("taken", v=1)])
    outcomes = await asyncio.gather(
        any_mesh.submit_one(request("taken", v=2)),  # same key, other body: 409 for this caller only
        any_mesh.submit_one(request("taken", v=1)),  # same key and body: the original task
        *(any_mesh.submit_one(request(n=n)) for n in range(20)),
        any_mesh.submit_one(request("twice", w=1)),
        any_mesh.submit_one(request("twice", w=1)),  # the same new key twice in one round: one task
        return_exceptions=True,
    )
    conflict, repeat, *fresh, twice_a, twice_b = outcomes
    assert isinstance(conflict, IdempotencyConflict)
    assert not isinstance(repeat, BaseException) and repeat.task.id == first.task.id and not repeat.created
    assert all(not isinstance(item, BaseException) and item.created for item in fresh)
    assert not isinstance(twice_a, BaseException) and not isinstance(twice_b, BaseException)
    assert twice_a.task.id == twice_b.task.id and [twice_a.created, twice_b.created].count(True) == 1


async def test_group_completion_is_fenced_per_task_and_logs_refusals(store: Store) -> None:
    submitted = await store.submit([new_task() for _ in range(5)])
    claimed = await store.claim_many([item.task.id for item in submitted], "w1", 30)
    assert len(claimed) == 5
    stale = claimed[0]
    await store.release(stale.id, stale.attempt, "w1")  # its attempt is no longer current
    done = await store.complete_many(
        [Completion(task.id, task.attempt, {"i": i}) for i, task in enumerate(claimed)], "w1"
    )
    assert done == {task.id for task in claimed[1:]}
    for i, task in enumerate(claimed[1:], start=1):
        found = await store.get(task.id)
        assert found is not None and found.status is S.COMPLETED and found.result == {"i": i}
    events = await store.events(stale.id)
    assert events[-1].detail is not None and events[-1].detail.startswith("refused: late COMPLETED")
    assert (await store.get(stale.id)).status is S.PENDING  # type: ignore[union-attr]


async def test_claim_many_claims_only_what_is_claimable(store: Store) -> None:
    ready, later = await store.submit([new_task(), new_task(delay_seconds=60)])
    unknown = uuid.uuid4()
    claimed = await store.claim_many([ready.task.id, ready.task.id, later.task.id, unknown], "w1", 30)
    assert [task.id for task in claimed] == [ready.task.id]
    assert claimed[0].status is S.RUNNING and claimed[0].attempt == 1
    assert await store.claim_many([ready.task.id], "w2", 30) == []  # already running: compare-and-set
