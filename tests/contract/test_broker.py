"""The broker contract, run against Redis and the in-process broker."""

from __future__ import annotations

import asyncio
import time
import uuid

from agentmesh.broker import Broker
from agentmesh.domain.task import Priority

P = Priority


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


async def test_lanes_are_fifo_with_strict_priority(broker: Broker) -> None:
    low, medium, high = ids(3), ids(3), ids(3)
    await broker.push([(i, P.LOW) for i in low])
    await broker.push([(i, P.MEDIUM) for i in medium])
    await broker.push([(i, P.HIGH) for i in high])
    popped = await broker.pop(4, timeout=0)
    assert popped == [(i, P.HIGH) for i in high] + [(medium[0], P.MEDIUM)]
    rest = await broker.pop(10, timeout=0)
    assert rest == [(i, P.MEDIUM) for i in medium[1:]] + [(i, P.LOW) for i in low]
    assert await broker.pop(10, timeout=0) == []


async def test_pop_waits_for_the_first_id(broker: Broker) -> None:
    task_id = uuid.uuid4()

    async def later() -> None:
        await asyncio.sleep(0.2)
        await broker.push([(task_id, P.LOW)])

    pusher = asyncio.create_task(later())
    assert await broker.pop(5, timeout=3) == [(task_id, P.LOW)]
    await pusher
    started = time.monotonic()
    assert await broker.pop(5, timeout=1) == []
    assert time.monotonic() - started >= 0.9


async def test_waiting_pops_keep_strict_priority_and_fifo(broker: Broker) -> None:
    low, medium, high = ids(3), ids(3), ids(3)
    await broker.push([(i, P.LOW) for i in low])
    await broker.push([(i, P.MEDIUM) for i in medium])
    await broker.push([(i, P.HIGH) for i in high])
    taken: list[tuple[uuid.UUID, Priority]] = []
    while len(taken) < 9:
        popped = await broker.pop(4, timeout=1)
        assert 0 < len(popped) <= 4
        taken += popped
    assert taken == [(i, P.HIGH) for i in high] + [(i, P.MEDIUM) for i in medium] + [(i, P.LOW) for i in low]


async def test_a_waiting_pop_takes_all_that_one_push_brought(broker: Broker) -> None:
    batch = ids(5)

    async def later() -> None:
        await asyncio.sleep(0.2)
        await broker.push([(i, P.MEDIUM) for i in batch])

    pusher = asyncio.create_task(later())
    assert await broker.pop(10, timeout=3) == [(i, P.MEDIUM) for i in batch]
    await pusher


async def test_timers_move_once(broker: Broker) -> None:
    soon, later = uuid.uuid4(), uuid.uuid4()
    now = time.time()
    await broker.schedule([(soon, now - 1), (later, now + 60)])
    assert await broker.due(now, 10) == [(soon, now - 1)]
    await broker.move_due([(soon, P.HIGH, now - 1)])
    await broker.move_due([(soon, P.HIGH, now - 1)])  # a racing scheduler: must not push twice
    assert await broker.pop(10, timeout=0) == [(soon, P.HIGH)]
    assert await broker.due(now, 10) == []
    await broker.unschedule([later])
    assert (await broker.depths()).delayed == 0


async def test_a_stale_read_never_touches_a_newer_timer(broker: Broker) -> None:
    """A scheduler that read timer t1 must not move or drop t2, set later by another failure."""
    task_id = uuid.uuid4()
    t1 = time.time() - 2
    await broker.schedule([(task_id, t1)])
    (seen,) = await broker.due(time.time(), 10)
    t2 = time.time() + 30
    await broker.schedule([(task_id, t2)])  # the task ran again, failed again: new timer
    await broker.move_due([(task_id, P.LOW, seen[1])])
    await broker.drop_timers([(task_id, seen[1])])
    assert await broker.pop(10, timeout=0) == []
    assert (await broker.depths()).delayed == 1
    assert await broker.due(t2, 10) == [(task_id, t2)]
    await broker.drop_timers([(task_id, t2)])
    assert (await broker.depths()).delayed == 0


async def test_dead_letter_and_depths(broker: Broker) -> None:
    dead = ids(2)
    await broker.add_dead_letter(dead)
    await broker.add_dead_letter(dead[:1])  # twice: still listed once
    await broker.push([(uuid.uuid4(), P.MEDIUM)])
    depths = await broker.depths()
    assert (depths.high, depths.medium, depths.low, depths.dead_letter) == (0, 1, 0, 2)
    assert sorted(await broker.dead_letter_ids()) == sorted(dead)
    await broker.remove_dead_letter([dead[0]])
    assert await broker.dead_letter_ids() == [dead[1]]
