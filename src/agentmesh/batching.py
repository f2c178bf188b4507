"""Group commit: coalesce concurrent writes into one backend statement per round.

Thousands of tasks in flight each finishing on their own would cost one commit each; here
a caller awaits `submit(item)`, and everything that arrives while one flush is in flight
goes into the next. An idle batcher flushes its first item at once, so a lone call pays no
added latency; under load, batches grow by themselves to what the backend can absorb.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Callers submit one item each; `flush` writes a list of them and returns one result per item.

    An error in `isolate` (one bad item, say a value the store cannot hold) must not fail the
    others: the batch is then flushed one item at a time, so only the bad one gets the error.
    Any other error (the backend is down) reaches every caller of the batch.
    """

    def __init__(
        self,
        flush: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int = 500,
        isolate: tuple[type[Exception], ...] = (),
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._isolate = isolate
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Write `item` with whatever else is waiting. A cancelled caller's item may still be written."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_queue(), name="group-commit")
        return await future

    async def _flush_queue(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._flush_batch(batch)
        except BaseException:
            for _, future in self._queue:
                future.cancel()
            self._queue = []
            raise
        finally:
            self._flusher = None

    async def _flush_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except self._isolate as exc:
            if len(batch) == 1:
                _reject(batch[0][1], exc)
                return
            for entry in batch:
                await self._flush_batch([entry])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                _reject(future, exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                _resolve(future, result)


def _resolve(future: asyncio.Future[Result], result: Result) -> None:
    if not future.done():  # done: the caller was cancelled meanwhile
        future.set_result(result)


def _reject(future: asyncio.Future[Result], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
