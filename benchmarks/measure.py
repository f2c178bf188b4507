"""The phases every system goes through, measured by the same code for all of them.

Rates come from polling the system's finished-task count (`System.finished`) every POLL seconds. Worker
start-up is excluded from drain rates: the clock starts at the first poll that sees a finished task, and the
rate is (finished at the end - finished at that first poll) / elapsed.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.systems.base import Job, System
from benchmarks.tasks.common import LATENCY_KEY

POLL = 0.05
FIRST_POLL = 0.01  # finer while waiting for the first finished task: it starts the drain clock
STARTUP_TIMEOUT = 60.0
SETTLE_TIMEOUT = 30.0


@dataclass
class Rate:
    """A throughput figure; `complete` is False when the phase hit its time limit (rate is then partial)."""

    rate: float | None  # None: every task finished before the first poll (too few tasks to time)
    tasks: int
    seconds: float
    complete: bool


@dataclass
class Latency:
    """Submit→start latency at an offered load, in milliseconds."""

    offered: float  # the rate the producer actually achieved, tasks/s
    samples: int
    p50: float
    p99: float
    p999: float


class PhaseError(RuntimeError):
    """A phase could not be measured (workers died, nothing ever finished)."""


async def enqueue_rate(system: System, n: int, job: Job, budget: float, *, batch: bool) -> Rate:
    """Enqueue rate with no workers running, bounded to `budget` seconds."""
    start = time.monotonic()
    call = system.enqueue_batch if batch else system.enqueue_single
    sent = await call(n, job, start + budget)
    elapsed = time.monotonic() - start
    return Rate(sent / elapsed, sent, elapsed, sent >= n)


async def drain(system: System, expected: int, timeout: float) -> Rate:
    """Start the workers on a full queue; time from the first finished task until `expected` have finished."""
    system.start_workers()
    launch = time.monotonic()
    while (first := await system.finished()) == 0:
        _check_alive(system)
        if time.monotonic() - launch > STARTUP_TIMEOUT:
            raise PhaseError(f"no task finished within {STARTUP_TIMEOUT:.0f}s of starting the workers")
        await asyncio.sleep(FIRST_POLL)
    start = time.monotonic()
    if first >= expected:
        return Rate(None, first, 0.0, True)
    done, now = await _wait_for(system, expected, start + timeout)
    elapsed = now - start
    return Rate((done - first) / elapsed, done, elapsed, done >= expected)


async def end_to_end(system: System, n: int, job: Job, timeout: float) -> Rate:
    """Producer and running workers together: from the first enqueue until all n have finished."""
    before = await system.finished()
    start = time.monotonic()
    producer = asyncio.create_task(system.enqueue_fastest(n, job, start + timeout))
    done, now = await _wait_for(system, before + n, start + timeout, producer)
    sent = await producer
    done -= before
    elapsed = now - start
    return Rate(done / elapsed, done, elapsed, done >= n and sent >= n)


async def latency(system: System, rate: float, seconds: float) -> Latency:
    """Offer `rate` stamped tasks/s for `seconds` to running workers; each task records now - stamp at its start."""
    await system.stats.delete(LATENCY_KEY)
    before = await system.finished()
    start = time.monotonic()
    sent = await system.enqueue_paced(rate, seconds, Job(stamped=True))
    offered = sent / (time.monotonic() - start)
    await _wait_for(system, before + sent, time.monotonic() + SETTLE_TIMEOUT)
    samples = sorted(float(x) * 1000 for x in await system.stats.lrange(LATENCY_KEY, 0, -1))
    if len(samples) < 2:
        raise PhaseError(f"latency: only {len(samples)} of {sent} tasks started")
    cuts = statistics.quantiles(samples, n=1000, method="inclusive")
    return Latency(offered, len(samples), cuts[499], cuts[989], cuts[998])


async def _wait_for(
    system: System, target: int, deadline: float, producer: asyncio.Task[int] | None = None
) -> tuple[int, float]:
    """Poll until `target` tasks have finished or the deadline passes; return (finished, when)."""
    while True:
        done, now = await system.finished(), time.monotonic()
        if done >= target or now >= deadline:
            return done, now
        if producer is not None and producer.done() and producer.exception() is not None:
            raise producer.exception()  # type: ignore[misc]
        _check_alive(system)
        await asyncio.sleep(POLL)


def _check_alive(system: System) -> None:
    if not system.workers_alive():
        raise PhaseError(f"a worker process exited: {system.logs()}")


def as_dict(value: Rate | Latency | None) -> dict[str, Any] | None:
    return asdict(value) if value is not None else None
