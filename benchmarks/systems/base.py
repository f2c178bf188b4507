"""The one interface every benchmarked system implements, and the shared worker-process plumbing.

A driver enqueues with the library's own client (one task per call, or its bulk API), starts the library's
own worker CLI as real subprocesses, and says how many tasks have finished. The runner in `benchmarks.run`
only talks to this interface, so every system is measured by the same code.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil

from benchmarks.env import REPO_ROOT, BenchEnv
from benchmarks.tasks.common import DONE_KEY

ASYNC_CLIENTS = 64  # in-flight single enqueues for asyncio clients (AgentMesh over HTTP, arq, SAQ, ...)
STOP_TIMEOUT = 15.0
PACED_GRACE = 20.0  # how long a paced producer waits for submissions still in flight after its window


@dataclass(frozen=True)
class Job:
    """What one task does: sleep this long; carry a submit timestamp when latency is measured."""

    sleep: float = 0.0
    stamped: bool = False

    def stamp(self) -> float | None:
        return time.time() if self.stamped else None


class System(ABC):
    """A task queue under test. Subclasses fill in the class attributes and the abstract methods."""

    name: str = ""
    durable: str = ""  # where an accepted task survives a crash of Redis / the workers
    workers: str = ""  # worker settings, as printed in the notes
    completion: str = "task INCRs a Redis counter (stats db)"
    single_api: str = ""
    batch_api: str | None = None  # None: the library has no bulk enqueue

    def __init__(self, env: BenchEnv) -> None:
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logdir = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-"))
        self.stats = env.stats_client()

    # -- state ---------------------------------------------------------------------------------------------
    async def reset(self) -> None:
        """Empty every queue: FLUSHALL (subclasses with a database also recreate it)."""
        await self.env.flush_redis()

    async def close(self) -> None:
        """Release clients; called once after the system's last run."""
        await self.stats.aclose()

    async def finished(self) -> int:
        """How many tasks have finished since the last reset."""
        return int(await self.stats.get(DONE_KEY) or 0)

    # -- producers -----------------------------------------------------------------------------------------
    @abstractmethod
    async def enqueue_single(self, n: int, job: Job, deadline: float) -> int:
        """Enqueue up to n tasks one per call until `deadline` (monotonic); return how many were enqueued."""

    async def enqueue_batch(self, n: int, job: Job, deadline: float) -> int:
        """Enqueue with the bulk API; only called when `batch_api` is set."""
        raise NotImplementedError

    @abstractmethod
    async def enqueue_paced(self, rate: float, seconds: float, job: Job) -> int:
        """Offer `rate` tasks/s for `seconds`, one per call, each stamped when its call starts."""

    async def enqueue_fastest(self, n: int, job: Job, deadline: float) -> int:
        """The producer of the drain and end-to-end phases: the bulk API when there is one."""
        if self.batch_api:
            return await self.enqueue_batch(n, job, deadline)
        return await self.enqueue_single(n, job, deadline)

    # -- workers -------------------------------------------------------------------------------------------
    @abstractmethod
    def worker_commands(self, procs: int) -> list[list[str]]:
        """argv of each worker subprocess to start."""

    def worker_env(self) -> dict[str, str]:
        return self.env.child_env()

    def start_workers(self, procs: int = 2) -> None:
        """Start the library's worker CLI as real subprocesses, each in its own process group."""
        env = self.worker_env()
        for argv in self.worker_commands(procs):
            with open(self.logdir / f"worker-{len(self.procs)}.log", "ab") as log:
                self.procs.append(
                    subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
                )  # fmt: skip

    def peak_rss_mib(self) -> list[float]:
        """Peak RSS (VmHWM) of each worker process tree, children included (prefork pools, forked workers)."""
        return [_tree_hwm(proc.pid) / 2**20 for proc in self.procs if proc.poll() is None]

    def stop_workers(self) -> None:
        """SIGTERM our worker process groups, SIGKILL what is left after STOP_TIMEOUT."""
        for proc in self.procs:
            signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                signal_group(proc, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    def workers_alive(self) -> bool:
        return all(proc.poll() is None for proc in self.procs)

    def logs(self, tail: int = 1500) -> str:
        """The end of every worker log, for an error row."""
        return "\n".join(
            f"{p.name}: {p.read_text(errors='replace')[-tail:]}" for p in sorted(self.logdir.glob("*.log"))
        )


def signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass


def _tree_hwm(pid: int) -> int:
    """Sum of VmHWM over a process and its descendants, in bytes."""
    try:
        root = psutil.Process(pid)
        pids = [root.pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.NoSuchProcess:
        return 0
    return sum(_hwm(p) for p in pids)


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class SyncProducer(System):
    """A library whose client is blocking (Celery, Dramatiq, RQ): one producer thread, one call at a time."""

    single_api = "1 producer thread, 1 call at a time"

    @abstractmethod
    def send(self, stamp: float | None, sleep: float) -> None:
        """Enqueue one task."""

    def send_many(self, count: int, job: Job) -> None:
        """Enqueue `count` tasks in one bulk call (libraries with `batch_api`)."""
        raise NotImplementedError

    async def enqueue_single(self, n: int, job: Job, deadline: float) -> int:
        return await asyncio.to_thread(
            self._loop, n, job, deadline, 1, lambda _count: self.send(job.stamp(), job.sleep)
        )

    async def enqueue_batch(self, n: int, job: Job, deadline: float) -> int:
        return await asyncio.to_thread(self._loop, n, job, deadline, 1000, lambda count: self.send_many(count, job))

    @staticmethod
    def _loop(n: int, job: Job, deadline: float, chunk: int, call: Callable[[int], None]) -> int:
        done = 0
        while done < n and time.monotonic() < deadline:
            count = min(chunk, n - done)
            call(count)
            done += count
        return done

    async def enqueue_paced(self, rate: float, seconds: float, job: Job) -> int:
        return await asyncio.to_thread(self._paced, rate, seconds, job)

    def _paced(self, rate: float, seconds: float, job: Job) -> int:
        """Open-loop pacing: task i is due at t0 + i/rate; a late producer sends at once (no coordinated omission
        fix beyond that: the stamp is taken when the call starts)."""
        total, start, stop = int(rate * seconds), time.monotonic(), threading.Event()
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            elif -delay > PACED_GRACE:  # the client itself cannot keep up: stop, as the async producer does
                return i
            self.send(job.stamp(), job.sleep)
        return total


class AsyncProducer(System):
    """A library with an asyncio client (AgentMesh over HTTP, arq, SAQ, Procrastinate, the baseline)."""

    single_api = f"asyncio, {ASYNC_CLIENTS} calls in flight"

    @abstractmethod
    async def send(self, stamp: float | None, sleep: float) -> None:
        """Enqueue one task."""

    async def send_many(self, count: int, job: Job) -> None:
        """Enqueue `count` tasks in one bulk call (libraries with `batch_api`)."""
        raise NotImplementedError

    async def enqueue_single(self, n: int, job: Job, deadline: float) -> int:
        return await _in_flight(n, deadline, ASYNC_CLIENTS, lambda: self.send(job.stamp(), job.sleep))

    async def enqueue_batch(self, n: int, job: Job, deadline: float) -> int:
        done = 0
        while done < n and time.monotonic() < deadline:
            count = min(1000, n - done)
            await self.send_many(count, job)
            done += count
        return done

    async def enqueue_paced(self, rate: float, seconds: float, job: Job) -> int:
        total, start = int(rate * seconds), time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.send(job.stamp(), job.sleep))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:  # a system slower than the offered load: give its backlog PACED_GRACE, then give up
            _, late = await asyncio.wait(set(pending), timeout=PACED_GRACE)
            for task in late:
                task.cancel()
            return total - len(late)
        return total


async def _in_flight(n: int, deadline: float, width: int, call: Callable[[], Awaitable[None]]) -> int:
    """Run `call` n times with `width` in flight, stopping early at `deadline`; return how many ran."""
    counter = 0

    async def client() -> None:
        nonlocal counter
        while counter < n and time.monotonic() < deadline:
            counter += 1
            await call()

    await asyncio.gather(*(client() for _ in range(width)))
    return min(counter, n)


class DatabaseBacked(System):
    """A system whose tasks live in PostgreSQL: a new database per reset, completion counted by a query."""

    count_sql: str = ""
    pool_size: int = 2  # the runner's own connections: counting, and enqueueing for the baseline
    dsn: str | None = None
    _pool: asyncpg.Pool | None = None

    async def reset(self) -> None:
        await super().reset()
        await self._drop()
        self.dsn = await self.env.fresh_database(self.name)
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.pool_size)
        await self.prepare_database()

    async def prepare_database(self) -> None:
        """Create the schema in the fresh database."""

    async def finished(self) -> int:
        assert self._pool is not None
        return int(await self._pool.fetchval(self.count_sql))

    async def _drop(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self.dsn is not None:
            await self.env.drop_database(self.dsn)
            self.dsn = None

    async def close(self) -> None:
        await self._drop()
        await super().close()

    def worker_env(self) -> dict[str, str]:
        assert self.dsn is not None
        return self.env.child_env(BENCH_DB_DSN=self.dsn)
