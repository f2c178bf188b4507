"""Celery worker app: `celery -A benchmarks.tasks.celery_app worker --pool prefork --concurrency 2`."""

from __future__ import annotations

import os

from celery import Celery

from benchmarks.tasks.common import run_sync

app = Celery("bench", broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)


@app.task(name="bench.task")
def bench_task(stamp: float | None, sleep: float) -> None:
    run_sync(stamp, sleep)
