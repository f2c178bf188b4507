"""Procrastinate on PostgreSQL (durable): 2 worker processes, concurrency 100 each, LISTEN/NOTIFY on."""

from __future__ import annotations

import procrastinate

from benchmarks.env import venv_bin
from benchmarks.systems.base import AsyncProducer, DatabaseBacked, Job
from benchmarks.tasks.procrastinate_app import CONCURRENCY


class ProcrastinateSystem(DatabaseBacked, AsyncProducer):
    name = "procrastinate"
    durable = "yes (PostgreSQL)"
    workers = f"2 x `procrastinate worker --concurrency {CONCURRENCY}`"
    completion = "its own job rows: status = 'succeeded' (PostgreSQL)"
    batch_api = "batch_defer_async (1000 per call, one INSERT)"
    count_sql = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"

    app: procrastinate.App | None = None

    async def prepare_database(self) -> None:
        await self._close_app()
        assert self.dsn is not None
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=self.dsn, max_size=16))
        await self.app.open_async()
        await self.app.schema_manager.apply_schema_async()

    async def send(self, stamp: float | None, sleep: float) -> None:
        assert self.app is not None
        await self.app.configure_task("bench_task", queue="bench").defer_async(stamp=stamp, sleep=sleep)

    async def send_many(self, count: int, job: Job) -> None:
        assert self.app is not None
        deferrer = self.app.configure_task("bench_task", queue="bench")
        await deferrer.batch_defer_async(*({"stamp": job.stamp(), "sleep": job.sleep} for _ in range(count)))

    async def _close_app(self) -> None:
        if self.app is not None:
            await self.app.close_async()
            self.app = None

    async def reset(self) -> None:
        await self._close_app()
        await super().reset()

    async def close(self) -> None:
        await self._close_app()
        await super().close()

    def worker_commands(self, procs: int) -> list[list[str]]:
        return [[venv_bin("procrastinate"), "--app", "benchmarks.tasks.procrastinate_app.app", "--log-level",
                 "warning", "worker", "--concurrency", str(CONCURRENCY), "--queues", "bench"]
                for _ in range(procs)]  # fmt: skip
