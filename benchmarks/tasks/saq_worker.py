"""SAQ worker settings: `saq benchmarks.tasks.saq_worker.settings`."""

from __future__ import annotations

import os
from typing import Any

from saq import Queue

from benchmarks.tasks.common import run_async

CONCURRENCY = 100


async def bench_task(ctx: dict[str, Any], *, stamp: float | None, pause: float) -> None:
    await run_async(stamp, pause)


settings = {
    "queue": Queue.from_url(os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")),
    "functions": [bench_task],
    "concurrency": CONCURRENCY,
}
