"""Procrastinate app: `procrastinate --app benchmarks.tasks.procrastinate_app.app worker --concurrency 100`."""

from __future__ import annotations

import os

import procrastinate

from benchmarks.tasks.common import run_async

CONCURRENCY = 100

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=os.environ.get("BENCH_DB_DSN", "")))


@app.task(name="bench_task", queue="bench")
async def bench_task(stamp: float | None, sleep: float) -> None:
    await run_async(stamp, sleep, count=False)  # completion is procrastinate's own `succeeded` row
