"""Celery 5 on Redis: prefork pool of 2 processes, results ignored, default acks (early) and prefetch (4)."""

from __future__ import annotations

from celery import Celery

from benchmarks.env import BenchEnv, venv_bin
from benchmarks.systems.base import SyncProducer


class CelerySystem(SyncProducer):
    name = "celery"
    durable = "no (Redis only)"
    workers = "1 `celery worker`, prefork pool --concurrency 2 (2 worker processes), ignore_result"
    batch_api = None  # a group is apply_async in a loop: no bulk enqueue

    def __init__(self, env: BenchEnv) -> None:
        super().__init__(env)
        self.app = Celery("bench-producer", broker=env.broker_url)
        self.app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)

    def send(self, stamp: float | None, sleep: float) -> None:
        self.app.send_task("bench.task", args=(stamp, sleep))

    def worker_commands(self, procs: int) -> list[list[str]]:
        return [[venv_bin("celery"), "-A", "benchmarks.tasks.celery_app", "worker", "--pool", "prefork",
                 "--concurrency", str(procs), "--loglevel", "WARNING",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"]]  # fmt: skip
