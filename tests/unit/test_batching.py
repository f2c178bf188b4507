"""The group-commit batcher on its own: what callers see when a flush succeeds, fails or is refused."""

from __future__ import annotations

import asyncio

import pytest

from agentmesh.batching import GroupCommit
from agentmesh.errors import InvalidInput


async def test_group_commit_isolates_a_bad_item_and_shares_the_backend_error() -> None:
    flushes: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        flushes.append(items)
        if -1 in items:
            raise InvalidInput("negative")
        if 0 in items:
            raise ConnectionError("down")
        return [item * 2 for item in items]

    batcher: GroupCommit[int, int] = GroupCommit(flush, isolate=(InvalidInput,))
    results = await asyncio.gather(*(batcher.submit(n) for n in (1, 2, -1, 3)), return_exceptions=True)
    assert results[0] == 2 and results[1] == 4 and results[3] == 6 and isinstance(results[2], InvalidInput)
    assert flushes == [[1, 2, -1, 3], [1], [2], [-1], [3]]  # one shared flush, refused, then one by one
    with pytest.raises(ConnectionError):
        await asyncio.gather(batcher.submit(5), batcher.submit(0))
