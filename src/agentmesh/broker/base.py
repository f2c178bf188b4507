"""The broker interface: a fast dispatch index of task ids, rebuilt from the store.

The broker may lose data (a Redis restart, a flush); nothing here is the truth. It holds
three strict-priority lanes, a timer set for delayed work, and a dead-letter list that
mirrors the store's PERMANENT_FAILURE tasks for operators who look at Redis directly.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from agentmesh.domain.task import Priority


@dataclass(frozen=True, slots=True)
class QueueDepths:
    high: int
    medium: int
    low: int
    delayed: int
    dead_letter: int


class Broker(ABC):
    """All methods raise `BrokerUnavailable` when the backend is down."""

    kind: str

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None: ...

    @abstractmethod
    async def push(self, entries: Sequence[tuple[uuid.UUID, Priority]]) -> None:
        """Append ids to the tail of their lanes."""

    @abstractmethod
    async def pop(self, max_items: int, timeout: float) -> list[tuple[uuid.UUID, Priority]]:
        """Up to `max_items` (id, lane) pairs, all of `high` before any `medium`, `medium` before `low`.

        Waits up to `timeout` seconds for the first id; returns [] if none came. A pop that may wait
        can stop at the end of a lane (Redis: one BLMPOP); the next pop goes on with the lane below.
        """

    @abstractmethod
    async def schedule(self, entries: Sequence[tuple[uuid.UUID, float]]) -> None:
        """Set a timer for each id at a Unix time; the scheduler promotes them when due."""

    @abstractmethod
    async def due(self, now: float, limit: int) -> list[tuple[uuid.UUID, float]]:
        """(id, time) of timers at or before `now`, oldest first; they stay until moved or dropped.

        The time identifies the timer: the calls below act only on a timer still set to the
        time seen, so a scheduler acting on a stale read never touches a newer timer of the
        same task (set by a later failure).
        """

    @abstractmethod
    async def move_due(self, entries: Sequence[tuple[uuid.UUID, Priority, float]]) -> None:
        """Atomically remove each timer still at the time given and push its id to its lane.

        Several schedulers racing on the same id therefore push it once.
        """

    @abstractmethod
    async def drop_timers(self, entries: Sequence[tuple[uuid.UUID, float]]) -> None:
        """Remove each timer that is still at the time given (the task no longer needs it)."""

    @abstractmethod
    async def unschedule(self, task_ids: Sequence[uuid.UUID]) -> None:
        """Remove timers whatever their time (the task was cancelled)."""

    @abstractmethod
    async def add_dead_letter(self, task_ids: Sequence[uuid.UUID]) -> None:
        """Put ids at the head of the dead-letter list, each at most once (an id already there moves)."""

    @abstractmethod
    async def remove_dead_letter(self, task_ids: Sequence[uuid.UUID]) -> None: ...

    @abstractmethod
    async def dead_letter_ids(self) -> list[uuid.UUID]: ...

    @abstractmethod
    async def depths(self) -> QueueDepths: ...

    # -- for the reconciler -------------------------------------------------------------
    @abstractmethod
    async def lane_ids(self) -> set[uuid.UUID]:
        """Every id waiting in any lane (a full read: the reconciler calls it sparingly)."""

    @abstractmethod
    async def mark_epoch(self) -> bool:
        """Set the broker's epoch marker; True if it was missing (new, restarted or flushed broker)."""

    @abstractmethod
    async def try_lead(self, role: str, seconds: float) -> bool:
        """Hold `role` for `seconds` if nobody else does: one reconciler per mesh at a time."""
