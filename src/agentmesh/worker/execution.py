"""Run one claimed task and record its one outcome, fenced by the attempt number."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agentmesh.agents import Abort, AgentRegistry, Retry, TaskContext
from agentmesh.agents.context import StepRequest
from agentmesh.batching import GroupCommit
from agentmesh.broker import Broker
from agentmesh.domain.retry import RetryPolicy, decide_failure
from agentmesh.domain.task import JSON, NewTask, Task, TaskStatus
from agentmesh.errors import BackendUnavailable, InvalidInput, UnknownAgent
from agentmesh.mesh import TaskRequest
from agentmesh.metrics import COMPLETED, DEAD_LETTERED, DURATION, FAILED, RETRIED
from agentmesh.store import Completion, Store

log = logging.getLogger("agentmesh.worker")


@dataclass(frozen=True, slots=True)
class AgentFailure:
    error: str
    retry_delay: float | None = None
    give_up: bool = False


class Executor:
    """Everything between a claimed task and its recorded outcome."""

    def __init__(
        self,
        store: Store,
        broker: Broker,
        agents: AgentRegistry,
        policy: RetryPolicy,
        worker_id: str,
        prepare: Callable[[TaskRequest], NewTask],
        lease_seconds: float,
    ) -> None:
        self.store = store
        self.broker = broker
        self.agents = agents
        self.policy = policy
        self.worker_id = worker_id
        self.prepare = prepare  # validates dynamic steps like submitted ones (Mesh.prepare)
        self.lease_seconds = lease_seconds
        self._completions = GroupCommit(self._complete_batch, isolate=(InvalidInput,))

    async def execute(self, task: Task, on_outcome: Callable[[], None] = lambda: None) -> None:
        """Run the agent, then record its outcome; `on_outcome` fires between the two.

        From then on the attempt must not be interrupted: once the store has the outcome, the
        lease is gone, and a heartbeat that cancelled us would lose the broker follow-up
        (pushing released steps, setting a retry timer).
        """
        started = time.perf_counter()
        ctx = TaskContext(
            task_id=task.id, agent_type=task.agent_type, priority=task.priority, payload=task.payload,
            attempt=task.attempt, retry_count=task.retry_count, max_retries=task.max_retries,
            worker_id=self.worker_id, workflow_id=task.workflow_id, step_id=task.step_id,
            results=await self.store.dependency_results(task.id) if task.workflow_id else {},
        )  # fmt: skip
        outcome = await self._invoke(ctx)
        on_outcome()
        label = await self._through_outages(lambda: self._record(task, ctx, outcome))
        DURATION.labels(task.agent_type, label).observe(time.perf_counter() - started)

    async def _record(self, task: Task, ctx: TaskContext, outcome: JSON | AgentFailure) -> str:
        if isinstance(outcome, AgentFailure):
            await self._record_failure(task, outcome)
            return "failed"
        if task.workflow_id:
            return "completed" if await self._record_step_success(task, outcome, ctx.new_steps) else "fenced"
        return "completed" if await self._record_success(task, outcome) else "fenced"

    async def _through_outages(self, record: Callable[[], Awaitable[str]]) -> str:
        """Retry writing an outcome through a store outage, for as long as a lease lasts.

        Only the write is retried, never the agent. Past that, the lease has expired anyway and
        the reaper will count the attempt as failed.
        """
        deadline = time.monotonic() + self.lease_seconds
        delay = 0.1
        while True:
            try:
                return await record()
            except BackendUnavailable as exc:
                if time.monotonic() > deadline:
                    log.error("giving up recording an outcome; the lease will expire: %s", exc)
                    return "lost"
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)

    async def _invoke(self, ctx: TaskContext) -> JSON | AgentFailure:
        try:
            spec = self.agents.get(ctx.agent_type)
        except UnknownAgent as exc:
            return AgentFailure(f"UnknownAgent: {exc}")
        try:
            async with asyncio.timeout(spec.timeout):
                return await spec.invoke(ctx)
        except Retry as exc:
            return AgentFailure(f"Retry: {exc}", retry_delay=exc.delay)
        except Abort as exc:
            return AgentFailure(f"Abort: {exc}", give_up=True)
        except TimeoutError:
            return AgentFailure(f"TimeoutError: agent exceeded its {spec.timeout}s timeout")
        except Exception as exc:
            return AgentFailure(f"{type(exc).__name__}: {exc}"[:4000])

    async def _complete_batch(self, completions: list[Completion]) -> list[bool]:
        done = await self.store.complete_many(completions, self.worker_id)
        return [completion.task_id in done for completion in completions]

    async def _record_success(self, task: Task, result: JSON) -> bool:
        """Complete through the group commit: one statement for every outcome ready meanwhile."""
        try:
            done = await self._completions.submit(Completion(task.id, task.attempt, result))
        except InvalidInput as exc:
            await self._record_failure(task, AgentFailure(f"result cannot be stored: {exc}"))
            return False
        if done:
            COMPLETED.labels(task.agent_type).inc()
        else:
            log.info("outcome refused: attempt %s of %s is no longer current", task.attempt, task.id)
        return done

    async def _record_step_success(self, task: Task, result: JSON, requests: list[StepRequest]) -> bool:
        """Complete a workflow step with the steps it added, atomically, then push what became ready."""
        try:
            new_steps = [self.prepare(_as_task_request(request)) for request in requests]
            outcome = await self.store.complete_step(task.id, task.attempt, self.worker_id, result, new_steps)
        except (InvalidInput, UnknownAgent) as exc:  # a bad result or a bad dynamic step: the attempt failed
            await self._record_failure(task, AgentFailure(f"{type(exc).__name__}: {exc}"))
            return False
        if not outcome.done:
            log.info("outcome refused: attempt %s of %s is no longer current", task.attempt, task.id)
            return False
        COMPLETED.labels(task.agent_type).inc()
        try:
            await self.broker.push(outcome.ready)
        except BackendUnavailable as exc:
            log.warning("push of %d ready steps missed; the reconciler repairs it: %s", len(outcome.ready), exc)
        return True

    async def _record_failure(self, task: Task, failure: AgentFailure) -> None:
        decision = decide_failure(
            task.retry_count, task.max_retries, self.policy,
            retry_delay=failure.retry_delay, give_up=failure.give_up,
        )  # fmt: skip
        updated = await self.store.fail(task.id, task.attempt, self.worker_id, failure.error, decision)
        if updated is None:
            log.info("failure refused: attempt %s of %s is no longer current", task.attempt, task.id)
            return
        FAILED.labels(task.agent_type).inc()
        try:
            if updated.status is TaskStatus.RETRYING:
                RETRIED.labels(task.agent_type).inc()
                await self.broker.schedule([(task.id, updated.run_after.timestamp())])
            else:
                DEAD_LETTERED.labels(task.agent_type).inc()
                await self.broker.add_dead_letter([task.id])
        except BackendUnavailable as exc:
            log.warning("broker update after failure of %s missed; the reconciler repairs it: %s", task.id, exc)


def _as_task_request(step: StepRequest) -> TaskRequest:
    return TaskRequest(
        agent_type=step.agent_type, payload=step.payload, priority=step.priority, max_retries=step.max_retries,
        step_id=step.step_id, depends_on=step.depends_on,
    )  # fmt: skip
