"""Prometheus metrics of this process. Workers serve theirs on `--metrics-port`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
IN_FLIGHT = Gauge("agentmesh_worker_in_flight", "Tasks running in this worker process")
LANE_DEPTH = Gauge("agentmesh_lane_depth", "Task ids waiting in a broker lane", ["lane"])
TASKS_BY_STATUS = Gauge("agentmesh_tasks", "Tasks in the store by status", ["status"])
