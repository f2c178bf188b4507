"""Dramatiq on Redis: 2 worker processes x 8 threads (its defaults), no retries, no result backend."""

from __future__ import annotations

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from benchmarks.env import BenchEnv, venv_bin
from benchmarks.systems.base import SyncProducer


class DramatiqSystem(SyncProducer):
    name = "dramatiq"
    durable = "no (Redis only)"
    workers = "1 `dramatiq` command, --processes 2 --threads 8"
    batch_api = None  # group() sends one message per call; no bulk enqueue

    def __init__(self, env: BenchEnv) -> None:
        super().__init__(env)
        self.broker = RedisBroker(url=env.broker_url)

    def send(self, stamp: float | None, sleep: float) -> None:
        """Build the message by hand so the driver never imports the worker module (which sets a global broker)."""
        self.broker.enqueue(Message(queue_name="default", actor_name="bench_task", args=(stamp, sleep), kwargs={},
                                    options={}))  # fmt: skip

    def worker_commands(self, procs: int) -> list[list[str]]:
        return [[venv_bin("dramatiq"), "benchmarks.tasks.dramatiq_actors", "--processes", str(procs),
                 "--threads", "8"]]  # fmt: skip
