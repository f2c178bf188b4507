"""Prometheus metrics of this process. Workers serve theirs on `--metrics-port`.

Under `agentmesh api --processes N` the API processes write their metrics to a shared
`PROMETHEUS_MULTIPROC_DIR`, and a scrape of any of them reads all (`render`).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

SUBMITTED = Counter("agentmesh_tasks_submitted", "Tasks committed by this API process", ["agent_type"])
COMPLETED = Counter("agentmesh_tasks_completed", "Tasks completed by this worker process", ["agent_type"])
FAILED = Counter("agentmesh_task_attempts_failed", "Failed attempts (retried or dead-lettered)", ["agent_type"])
RETRIED = Counter("agentmesh_tasks_retried", "Failed attempts scheduled for a retry", ["agent_type"])
DEAD_LETTERED = Counter("agentmesh_tasks_dead_lettered", "Tasks that exhausted their retries", ["agent_type"])
DURATION = Histogram(
    "agentmesh_task_duration_seconds",
    "Run time of an attempt, claim to outcome",
    ["agent_type", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
IN_FLIGHT = Gauge("agentmesh_worker_in_flight", "Tasks running in this worker process", multiprocess_mode="livesum")
# Read from the backends at scrape time: the latest reading is the truth, whichever process took it.
LANE_DEPTH = Gauge("agentmesh_lane_depth", "Task ids waiting in a broker lane", ["lane"],
                   multiprocess_mode="mostrecent")  # fmt: skip
TASKS_BY_STATUS = Gauge("agentmesh_tasks", "Tasks in the store by status", ["status"], multiprocess_mode="mostrecent")


MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported


def render() -> bytes:
    """The Prometheus text of this process, or of all the API processes sharing a metrics directory."""
    if MULTIPROCESS_DIR_ENV not in os.environ:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)
