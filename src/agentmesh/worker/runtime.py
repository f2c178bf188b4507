"""The worker process: pull ids, claim, run many tasks at once, drain on a signal.

Side loops (heartbeat, scheduler) run beside the fetch loop under one supervisor: an
unexpected crash of any of them stops the worker rather than leaving it half alive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from agentmesh.agents import AgentRegistry
from agentmesh.broker import Broker
from agentmesh.config import Settings
from agentmesh.domain.retry import RetryPolicy
from agentmesh.domain.task import Priority, Task
from agentmesh.errors import BackendUnavailable
from agentmesh.mesh import Mesh
from agentmesh.metrics import IN_FLIGHT
from agentmesh.repair import reap_expired, reconcile
from agentmesh.store import Store
from agentmesh.worker.execution import Executor

log = logging.getLogger("agentmesh.worker")

POP_BATCH = 100
SCHEDULER_INTERVAL = 0.1
OUTAGE_BACKOFF_MAX = 5.0


@dataclass(slots=True)
class Slot:
    """A task in flight: its claimed snapshot and the asyncio task running it."""

    task: Task
    runner: asyncio.Task[None] | None = None
    lost: bool = False  # lease gone (cancelled, reaped): write nothing
    recording: bool = False  # the agent returned; its outcome is being written: never interrupt


@dataclass(slots=True)
class WorkerState:
    in_flight: dict[uuid.UUID, Slot] = field(default_factory=dict)
    claiming: int = 0


class Worker:
    def __init__(
        self,
        store: Store,
        broker: Broker,
        agents: AgentRegistry,
        settings: Settings,
        *,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.settings = settings
        self.concurrency = settings.concurrency
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        policy = RetryPolicy(settings.backoff_base, settings.backoff_max, settings.backoff_jitter)
        prepare = Mesh(store, broker, agents, settings).prepare
        self.executor = Executor(store, broker, agents, policy, self.id, prepare, settings.lease_seconds)
        self.state = WorkerState()
        self._slot_freed = asyncio.Event()
        self._stop = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------
    def stop(self) -> None:
        """Begin a graceful drain: take no more work, let in-flight tasks finish."""
        self._stop.set()
        self._slot_freed.set()  # wake a fetch loop waiting for a free slot

    async def run(self) -> None:
        """Run until `stop()`, then drain within the grace period and deregister.

        The fetch loop is never cancelled mid-claim (a claim committed but not seen would
        strand its task until the lease expires): it is asked to stop and finishes its
        batch. Heartbeats go on during the drain, so a grace period longer than a lease
        keeps the leases of the tasks still finishing.
        """
        log.info("worker %s starting with concurrency %d", self.id, self.concurrency)
        side_loops = {
            "heartbeat": self._heartbeat_loop,
            "scheduler": self._scheduler_loop,
            "reaper": self._reaper_loop,
            "reconciler": self._reconciler_loop,
        }
        fetch = asyncio.create_task(self._supervise("fetch", self._fetch_loop), name="fetch")
        sides = [asyncio.create_task(self._supervise(name, fn), name=name) for name, fn in side_loops.items()]
        stop_waiter = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait([fetch, *sides, stop_waiter], return_when=asyncio.FIRST_COMPLETED)
            crashed = [task for task in done if task is not stop_waiter and task.exception()]
        finally:
            self.stop()
            stop_waiter.cancel()
            await asyncio.gather(fetch, return_exceptions=True)
            await self._drain()
            await _cancel_until_done(sides)
            await self._release_leftovers()
            await self._quietly(self.store.remove_worker(self.id))
        if crashed:
            raise RuntimeError(f"worker loop {crashed[0].get_name()!r} crashed") from crashed[0].exception()

    async def _supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Keep a loop alive through backend outages; let any other error stop the worker."""
        delay = 0.1
        while True:
            try:
                await loop()
                return
            except BackendUnavailable as exc:
                log.warning("%s loop: backend unavailable, retrying in %.1fs: %s", name, delay, exc)
                await asyncio.sleep(delay)
                delay = min(OUTAGE_BACKOFF_MAX, delay * 2)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s loop crashed; stopping the worker", name)
                raise

    # -- fetching and running -----------------------------------------------------------
    def _free_slots(self) -> int:
        return self.concurrency - len(self.state.in_flight) - self.state.claiming

    async def _fetch_loop(self) -> None:
        while not self._stop.is_set():
            free = self._free_slots()
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            entries = await self.broker.pop(min(free, POP_BATCH), timeout=1.0)
            if not entries:
                continue
            await self._claim_and_start(entries)

    async def _claim_and_start(self, entries: list[tuple[uuid.UUID, Priority]]) -> None:
        """Claim a popped batch in one commit and start what was claimable.

        An id not claimed is a duplicate, a cancelled task or one not yet due: nothing to do.
        If the store cannot be asked, the ids go back to their lanes rather than being lost.
        """
        task_ids = [task_id for task_id, _ in entries]
        self.state.claiming += len(task_ids)
        try:
            claimed = await self.store.claim_many(task_ids, self.id, self.settings.lease_seconds)
        except BackendUnavailable:
            await self.broker.push(entries)
            raise
        finally:
            self.state.claiming -= len(task_ids)
        for task in claimed:
            slot = Slot(task)
            self.state.in_flight[task.id] = slot
            slot.runner = asyncio.create_task(self._run_slot(slot), name=f"task-{task.id}")
        IN_FLIGHT.set(len(self.state.in_flight))
        if len(claimed) < len(task_ids):
            self._slot_freed.set()

    async def _run_slot(self, slot: Slot) -> None:
        try:
            await self.executor.execute(slot.task, lambda: _recording(slot))
        except asyncio.CancelledError:
            pass  # lost lease, or drain past the grace period: handled by whoever cancelled
        except Exception:
            log.exception("unexpected error running %s", slot.task.id)
        finally:
            self.state.in_flight.pop(slot.task.id, None)
            IN_FLIGHT.set(len(self.state.in_flight))
            self._slot_freed.set()

    # -- side loops ---------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        """Extend leases of running tasks and stop the ones whose lease is gone."""
        interval = max(0.05, self.settings.lease_seconds / 3)
        host, pid = socket.gethostname(), os.getpid()
        while True:
            await self.store.record_worker(self.id, host, pid, self.concurrency, len(self.state.in_flight))
            held = [(slot.task.id, slot.task.attempt) for slot in self.state.in_flight.values()]
            if held:
                alive = await self.store.extend_leases(self.id, held, self.settings.lease_seconds)
                for task_id, _ in held:
                    slot = self.state.in_flight.get(task_id)
                    if task_id not in alive and slot and slot.runner and not slot.lost and not slot.recording:
                        log.info("lease of %s is gone (cancelled or reaped); stopping its agent", task_id)
                        slot.lost = True
                        slot.runner.cancel()
            await asyncio.sleep(interval)

    async def _scheduler_loop(self) -> None:
        """Move delayed tasks whose time has come into their lanes (store first, then broker)."""
        while True:
            due = dict(await self.broker.due(time.time(), 500))
            if due:
                promotion = await self.store.promote(list(due))
                await self.broker.move_due([(task_id, lane, due[task_id]) for task_id, lane in promotion.ready])
                await self.broker.drop_timers([(task_id, due[task_id]) for task_id in promotion.drop])
            if len(due) < 500:
                await asyncio.sleep(SCHEDULER_INTERVAL)

    async def _reaper_loop(self) -> None:
        """Expired leases become failed attempts; every worker reaps, the fence keeps it exact."""
        interval = min(5.0, max(0.2, self.settings.lease_seconds / 2))
        while True:
            await reap_expired(self.store, self.broker, self.executor.policy)
            await asyncio.sleep(interval)

    async def _reconciler_loop(self) -> None:
        """Repair store → broker gaps; one worker per mesh does it each period."""
        period = self.settings.reconcile_seconds
        while True:
            if await self.broker.try_lead("reconciler", period * 0.9):
                await reconcile(self.store, self.broker, self.settings.reconcile_grace)
            await asyncio.sleep(period)

    # -- drain --------------------------------------------------------------------------
    async def _drain(self) -> None:
        """Wait up to the grace period for in-flight tasks to finish."""
        running = [slot.runner for slot in self.state.in_flight.values() if slot.runner]
        if running:
            log.info("draining %d in-flight tasks (grace %.0fs)", len(running), self.settings.shutdown_grace)
            await asyncio.wait(running, timeout=self.settings.shutdown_grace)

    async def _release_leftovers(self) -> None:
        """Stop what did not finish in time and give it back to PENDING without counting a failure."""
        leftovers = list(self.state.in_flight.values())
        for slot in leftovers:
            slot.lost = True
        if leftovers:
            await _cancel_until_done([slot.runner for slot in leftovers if slot.runner])
            await self._quietly(self._release(leftovers))

    async def _release(self, slots: list[Slot]) -> None:
        released = []
        for slot in slots:
            if await self.store.release(slot.task.id, slot.task.attempt, self.id):
                released.append((slot.task.id, slot.task.priority))
        await self.broker.push(released)
        log.info("released %d unfinished tasks back to PENDING", len(released))

    @staticmethod
    async def _quietly(operation: Awaitable[None]) -> None:
        try:
            await operation
        except BackendUnavailable as exc:
            log.warning("during shutdown: %s", exc)


async def _cancel_until_done(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel until each task has ended, not just once.

    A cancellation can be swallowed on its way through a library (on Python 3.11 a timeout
    expiring at the same moment turns it into a TimeoutError, which a client then retries);
    the task then runs on, and a single cancel would leave shutdown waiting for it forever.
    anyio re-delivers cancellation for the same reason.
    """
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)


def _recording(slot: Slot) -> None:
    slot.recording = True
