"""In-process broker for embedded mode: the Redis broker's semantics in plain Python objects.

It lives and dies with its process, which is safe because the store is the truth: the
reconciler rebuilds it after a restart. Every method runs without awaiting in between
reading and changing state, so each is atomic on the event loop, like a Lua script.
"""

from __future__ import annotations

import asyncio
import heapq
import uuid
from collections import deque
from collections.abc import Sequence

from agentmesh.broker.base import Broker, QueueDepths
from agentmesh.domain.task import Priority
from agentmesh.errors import BrokerUnavailable

LANES = (Priority.HIGH, Priority.MEDIUM, Priority.LOW)


class MemoryBroker(Broker):
    kind = "memory"

    def __init__(self) -> None:
        self._lanes: tuple[deque[uuid.UUID], ...] = tuple(deque() for _ in LANES)
        self._timers: dict[uuid.UUID, float] = {}  # id → Unix time due
        self._dead_letter: deque[uuid.UUID] = deque()  # newest first, like LPUSH
        self._arrived = asyncio.Condition()
        self._open = False
        self._epoch = False

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    def _check(self) -> None:
        if not self._open:
            raise BrokerUnavailable("broker is not open")

    async def ping(self) -> None:
        self._check()

    async def push(self, entries: Sequence[tuple[uuid.UUID, Priority]]) -> None:
        self._check()
        for task_id, priority in entries:
            self._lanes[priority.rank].append(task_id)
        if entries:
            await self._wake()

    async def _wake(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def pop(self, max_items: int, timeout: float) -> list[tuple[uuid.UUID, Priority]]:
        self._check()
        if max_items > 0 and timeout > 0 and not any(self._lanes):
            async with self._arrived:
                try:
                    await asyncio.wait_for(self._arrived.wait_for(lambda: any(self._lanes)), timeout)
                except TimeoutError:
                    return []
        return self._take(max_items)

    def _take(self, max_items: int) -> list[tuple[uuid.UUID, Priority]]:
        """Strict priority: drain `high` before touching `medium`, `medium` before `low`."""
        taken: list[tuple[uuid.UUID, Priority]] = []
        for lane, priority in zip(self._lanes, LANES, strict=True):
            while lane and len(taken) < max_items:
                taken.append((lane.popleft(), priority))
        return taken

    async def schedule(self, entries: Sequence[tuple[uuid.UUID, float]]) -> None:
        self._check()
        self._timers.update(entries)

    async def due(self, now: float, limit: int) -> list[tuple[uuid.UUID, float]]:
        """Oldest first, ties by id as a sorted set orders them."""
        self._check()
        ready = ((at, str(task_id), task_id) for task_id, at in self._timers.items() if at <= now)
        return [(task_id, at) for at, _, task_id in heapq.nsmallest(limit, ready)]

    async def move_due(self, entries: Sequence[tuple[uuid.UUID, Priority, float]]) -> None:
        """Only the caller that removes a timer pushes its id: a racing scheduler pushes nothing."""
        self._check()
        moved = [(task_id, priority) for task_id, priority, at in entries if self._remove_timer(task_id, at)]
        await self.push(moved)

    async def drop_timers(self, entries: Sequence[tuple[uuid.UUID, float]]) -> None:
        self._check()
        for task_id, at in entries:
            self._remove_timer(task_id, at)

    def _remove_timer(self, task_id: uuid.UUID, at: float) -> bool:
        """Remove the timer only if it is still the one seen (same time)."""
        if self._timers.get(task_id) != at:
            return False
        del self._timers[task_id]
        return True

    async def unschedule(self, task_ids: Sequence[uuid.UUID]) -> None:
        self._check()
        for task_id in task_ids:
            self._timers.pop(task_id, None)

    async def add_dead_letter(self, task_ids: Sequence[uuid.UUID]) -> None:
        self._check()
        await self.remove_dead_letter(task_ids)
        self._dead_letter.extendleft(task_ids)

    async def remove_dead_letter(self, task_ids: Sequence[uuid.UUID]) -> None:
        self._check()
        gone = set(task_ids)
        self._dead_letter = deque(task_id for task_id in self._dead_letter if task_id not in gone)

    async def dead_letter_ids(self) -> list[uuid.UUID]:
        self._check()
        return list(self._dead_letter)

    async def depths(self) -> QueueDepths:
        self._check()
        high, medium, low = map(len, self._lanes)
        return QueueDepths(high, medium, low, len(self._timers), len(self._dead_letter))

    async def lane_ids(self) -> set[uuid.UUID]:
        self._check()
        return {task_id for lane in self._lanes for task_id in lane}

    async def mark_epoch(self) -> bool:
        self._check()
        missing, self._epoch = not self._epoch, True
        return missing

    async def try_lead(self, role: str, seconds: float) -> bool:
        self._check()
        return True  # one process: it always leads
