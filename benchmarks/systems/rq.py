"""RQ on Redis: 2 `rq worker` processes with SimpleWorker (runs jobs in-process, no fork per job), result_ttl=0."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from benchmarks.env import BenchEnv, venv_bin
from benchmarks.systems.base import Job, SyncProducer

FUNC = "benchmarks.tasks.rq_jobs.bench_task"


class RqSystem(SyncProducer):
    name = "rq"
    durable = "no (Redis only)"
    workers = "2 x `rq worker --worker-class SimpleWorker` (1 job at a time each), result_ttl=0"
    batch_api = "Queue.enqueue_many (1000 per call, one pipeline)"

    def __init__(self, env: BenchEnv) -> None:
        super().__init__(env)
        self.queue = Queue("bench", connection=Redis.from_url(env.broker_url))

    def send(self, stamp: float | None, sleep: float) -> None:
        self.queue.enqueue(FUNC, stamp, sleep, result_ttl=0)

    def send_many(self, count: int, job: Job) -> None:
        self.queue.enqueue_many(
            [Queue.prepare_data(FUNC, (job.stamp(), job.sleep), result_ttl=0) for _ in range(count)]
        )

    def worker_commands(self, procs: int) -> list[list[str]]:
        return [
            [venv_bin("rq"), "worker", "--url", self.env.broker_url, "--worker-class", "rq.worker.SimpleWorker",
             "--logging_level", "WARNING", "--disable-job-desc-logging", "bench"]
            for _ in range(procs)
        ]  # fmt: skip
