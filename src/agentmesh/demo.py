"""The `agentmesh dev --demo` workload: the Rankup squad at work, some tasks failing on purpose."""

from __future__ import annotations

import asyncio
import random
import uuid

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agentmesh.domain.task import TaskStatus
from agentmesh.mesh import Mesh, TaskRequest

PERSONAS = ("MAGNUS_STRATEGIST", "CEDRIC_WRITER", "LYRA_AUDITOR")


def demo_requests(count: int = 60, seed: int = 42) -> list[TaskRequest]:
    """Mostly healthy work, a few flaky tasks that retry, a few doomed ones for the dead letter."""
    rng = random.Random(seed)
    requests = []
    for i in range(count):
        simulate: dict[str, float | int] = {"duration_ms": rng.randint(50, 600)}
        if i % 10 == 3:
            simulate["fail_attempts"] = rng.randint(1, 2)
        if i % 20 == 7:
            simulate["fail_rate"] = 1.0
        requests.append(TaskRequest(
            agent_type=PERSONAS[i % 3], payload={"job": i, "simulate": simulate},
            max_retries=2 if i % 20 == 7 else None,
        ))  # fmt: skip
    return requests


def summary_table(counts: dict[TaskStatus, int], total: int, workflows_done: int) -> Table:
    title = f"demo workload: {total} tasks, {workflows_done}/3 squad workflows settled"
    table = Table(title=title, min_width=44)
    table.add_column("status")
    table.add_column("tasks", justify="right")
    for status in TaskStatus:
        if counts.get(status):
            table.add_row(status.value, str(counts[status]))
    return table


def squad_pipeline(writers: int = 3) -> list[TaskRequest]:
    """The Rankup squad: the strategist plans and adds `writers` drafts and an audit of them all."""
    plan = {"writers": writers, "simulate": {"duration_ms": 300}}
    return [TaskRequest("MAGNUS_STRATEGIST", {"plan": plan, "simulate": {"duration_ms": 400}}, step_id="plan")]


async def run_demo(mesh: Mesh, console: Console) -> list[uuid.UUID]:
    """Submit the workload and squad pipelines; show a live summary until everything is terminal."""
    submitted = await mesh.submit(demo_requests())
    ids = [item.task.id for item in submitted]
    workflows = [(await mesh.submit_workflow(f"squad-{n}", squad_pipeline()))[0].id for n in range(3)]
    with Live(console=console, refresh_per_second=8) as live:
        while True:
            counts: dict[TaskStatus, int] = dict.fromkeys(TaskStatus, 0)
            for task_id in ids:
                task = await mesh.store.get(task_id)
                if task is not None:
                    counts[task.status] += 1
            flows = [await mesh.store.get_workflow(workflow_id) for workflow_id in workflows]
            for flow in flows:
                for step in flow.steps if flow else ():
                    counts[step.status] += 1
            total = sum(counts.values())
            live.update(summary_table(counts, total, sum(1 for f in flows if f and f.status != "RUNNING")))
            if sum(n for status, n in counts.items() if status.terminal) == total:
                return ids
            await asyncio.sleep(0.25)
