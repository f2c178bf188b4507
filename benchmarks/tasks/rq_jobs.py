"""RQ job function, run by `rq worker --worker-class rq.worker.SimpleWorker bench`."""

from __future__ import annotations

from benchmarks.tasks.common import run_sync


def bench_task(stamp: float | None, sleep: float) -> None:
    run_sync(stamp, sleep)
