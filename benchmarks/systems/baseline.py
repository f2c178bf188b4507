"""The raw ceiling: hand-written asyncpg + redis-py, durable and batched (see benchmarks.tasks.baseline_worker)."""

from __future__ import annotations

import sys

import orjson
import redis.asyncio as aredis

from benchmarks.env import BenchEnv
from benchmarks.systems.base import AsyncProducer, DatabaseBacked, Job
from benchmarks.tasks.baseline_worker import BATCH, COUNT_SQL, INSERT_SQL, LOOPS, QUEUE_KEY, SCHEMA


class BaselineSystem(DatabaseBacked, AsyncProducer):
    name = "baseline"
    durable = "yes (PostgreSQL)"
    workers = f"2 x `python -m benchmarks.tasks.baseline_worker`, {LOOPS} loops x {BATCH} ids in flight each"
    completion = "COMPLETED rows in PostgreSQL"
    batch_api = "one INSERT ... unnest of 1000 rows + audit rows, one LPUSH"
    count_sql = COUNT_SQL
    pool_size = 16

    def __init__(self, env: BenchEnv) -> None:
        super().__init__(env)
        self.broker = aredis.Redis.from_url(env.broker_url)

    async def prepare_database(self) -> None:
        assert self._pool is not None
        await self._pool.execute(SCHEMA)

    async def _insert(self, payloads: list[bytes]) -> None:
        """Commit first, then push: the same order AgentMesh follows (a 201 means committed)."""
        assert self._pool is not None
        ids = await self._pool.fetch(INSERT_SQL, [p.decode() for p in payloads])
        await self.broker.lpush(QUEUE_KEY, *(row["id"] for row in ids))

    async def send(self, stamp: float | None, sleep: float) -> None:
        await self._insert([orjson.dumps({"stamp": stamp, "sleep": sleep})])

    async def send_many(self, count: int, job: Job) -> None:
        await self._insert([orjson.dumps({"stamp": job.stamp(), "sleep": job.sleep}) for _ in range(count)])

    async def close(self) -> None:
        await self.broker.aclose()
        await super().close()

    def worker_commands(self, procs: int) -> list[list[str]]:
        return [[sys.executable, "-m", "benchmarks.tasks.baseline_worker"] for _ in range(procs)]
