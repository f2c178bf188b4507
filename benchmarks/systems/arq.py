"""arq on Redis: 2 worker processes, max_jobs=100 each, keep_result=0, poll_delay=0.1 s."""

from __future__ import annotations

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

from benchmarks.env import venv_bin
from benchmarks.systems.base import AsyncProducer
from benchmarks.tasks.arq_worker import MAX_JOBS


class ArqSystem(AsyncProducer):
    name = "arq"
    durable = "no (Redis only)"
    workers = f"2 x `arq` worker, max_jobs={MAX_JOBS}, poll_delay=0.1 s, keep_result=0"
    batch_api = None  # enqueue_job only

    _pool: ArqRedis | None = None

    async def _client(self) -> ArqRedis:
        if self._pool is None:
            self._pool = await create_pool(RedisSettings.from_dsn(self.env.broker_url))
        return self._pool

    async def send(self, stamp: float | None, sleep: float) -> None:
        await (await self._client()).enqueue_job("bench_task", stamp, sleep)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        await super().close()

    def worker_commands(self, procs: int) -> list[list[str]]:
        return [[venv_bin("arq"), "--custom-log-dict", "benchmarks.tasks.arq_worker.LOG_CONFIG",
                 "benchmarks.tasks.arq_worker.WorkerSettings"] for _ in range(procs)]  # fmt: skip
