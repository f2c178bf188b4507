"""Dramatiq actors: `dramatiq benchmarks.tasks.dramatiq_actors --processes 2 --threads 8`."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchmarks.tasks.common import run_sync

dramatiq.set_broker(RedisBroker(url=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")))


@dramatiq.actor(actor_name="bench_task", max_retries=0)
def bench_task(stamp: float | None, sleep: float) -> None:
    run_sync(stamp, sleep)
