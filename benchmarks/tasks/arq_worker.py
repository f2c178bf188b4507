"""arq worker settings: `arq benchmarks.tasks.arq_worker.WorkerSettings`."""

from __future__ import annotations

import os
from typing import Any

from arq.connections import RedisSettings

from benchmarks.tasks.common import run_async

MAX_JOBS = 100
# arq logs every job at INFO; keep it at WARNING like every other system's workers.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "level": "WARNING"}},
    "loggers": {"arq": {"handlers": ["stderr"], "level": "WARNING"}},
}


async def bench_task(ctx: dict[str, Any], stamp: float | None, sleep: float) -> None:
    await run_async(stamp, sleep)


class WorkerSettings:
    functions = [bench_task]
    redis_settings = RedisSettings.from_dsn(os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"))
    max_jobs = MAX_JOBS
    keep_result = 0
    poll_delay = 0.1  # default 0.5 s: arq polls its sorted set, this keeps its start latency comparable
    max_tries = 1
