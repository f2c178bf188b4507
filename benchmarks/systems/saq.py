"""SAQ on Redis: 2 worker processes, concurrency 100 each, one retry (its default), results kept 600 s."""

from __future__ import annotations

from saq import Job as SaqJob
from saq import Queue

from benchmarks.env import BenchEnv, venv_bin
from benchmarks.systems.base import AsyncProducer
from benchmarks.tasks.saq_worker import CONCURRENCY


class SaqSystem(AsyncProducer):
    name = "saq"
    durable = "no (Redis only)"
    workers = f"2 x `saq` worker, concurrency={CONCURRENCY}"
    batch_api = None  # no enqueue_many: concurrent single enqueues are already the single column

    def __init__(self, env: BenchEnv) -> None:
        super().__init__(env)
        self.queue = Queue.from_url(env.broker_url)

    async def send(self, stamp: float | None, sleep: float) -> None:
        await self.queue.enqueue(SaqJob(function="bench_task", kwargs={"stamp": stamp, "pause": sleep}))

    async def close(self) -> None:
        await self.queue.disconnect()
        await super().close()

    def worker_commands(self, procs: int) -> list[list[str]]:
        return [[venv_bin("saq"), "benchmarks.tasks.saq_worker.settings", "--quiet"] for _ in range(procs)]
