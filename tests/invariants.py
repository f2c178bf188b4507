"""One checker for the guarantees of the spec, shared by end-to-end and chaos tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from agentmesh.domain.task import Task, TaskEvent, TaskStatus
from agentmesh.domain.transitions import RESUMES, is_allowed, is_refusal
from agentmesh.domain.workflow import Workflow
from agentmesh.store import Store

S = TaskStatus


@dataclass
class Report:
    tasks: dict[uuid.UUID, Task] = field(default_factory=dict)
    events: dict[uuid.UUID, list[TaskEvent]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def by_status(self) -> dict[TaskStatus, int]:
        counts = dict.fromkeys(TaskStatus, 0)
        for task in self.tasks.values():
            counts[task.status] += 1
        return counts


async def collect(store: Store, task_ids: Iterable[uuid.UUID]) -> Report:
    report = Report()
    for task_id in task_ids:
        task = await store.get(task_id)
        if task is None:
            report.violations.append(f"{task_id}: lost (not in the store)")
            continue
        report.tasks[task_id] = task
        report.events[task_id] = await store.events(task_id)
    return report


def check_task(task: Task, events: list[TaskEvent]) -> list[str]:
    """Every rule one task's record must satisfy; returns the violations."""
    problems: list[str] = []
    if not task.status.terminal:
        problems.append(f"not terminal: {task.status}")
    if not events or events[0].from_status is not None or events[0].to_status not in (S.PENDING, S.WAITING):
        problems.append("audit log does not start with submission")
    previous: TaskStatus | None = None
    last_attempt = 0
    completions = 0
    failures = 0
    for event in events:
        if is_refusal(event.from_status, event.to_status, event.detail):
            if event.from_status != previous:
                problems.append(f"refusal {event.id} records {event.from_status} but the task was {previous}")
            continue
        if event.from_status != previous:
            problems.append(f"event {event.id} leaves {event.from_status} but the task was {previous}")
        if not is_allowed(event.from_status, event.to_status):
            problems.append(f"event {event.id}: transition {event.from_status} → {event.to_status} not allowed")
        if previous is not None and previous.terminal and (previous, event.to_status) not in RESUMES:
            problems.append(f"event {event.id}: transition out of terminal {previous}")
        if event.to_status is S.RUNNING:
            if event.attempt <= last_attempt:
                problems.append(f"event {event.id}: attempt {event.attempt} not above {last_attempt}")
            last_attempt = event.attempt
        if event.to_status is S.COMPLETED:
            completions += 1
        if event.from_status is S.RUNNING and event.to_status in (S.RETRYING, S.PERMANENT_FAILURE):
            failures += 1
        if (event.from_status, event.to_status) == (S.PERMANENT_FAILURE, S.PENDING):
            failures = 0  # a requeue resets the counter
        previous = event.to_status
    if previous != task.status:
        problems.append(f"last event ends in {previous} but the task is {task.status}")
    if completions > 1:
        problems.append(f"COMPLETED {completions} times")
    if failures != task.retry_count:
        problems.append(f"retry_count {task.retry_count} but {failures} failures recorded")
    return problems


def check_all(report: Report, dead_letter_ids: Iterable[uuid.UUID] | None = None) -> list[str]:
    violations = list(report.violations)
    for task_id, task in report.tasks.items():
        violations += [f"{task_id}: {problem}" for problem in check_task(task, report.events[task_id])]
    if dead_letter_ids is not None:
        dead = {task_id for task_id, task in report.tasks.items() if task.status is S.PERMANENT_FAILURE}
        listed = set(dead_letter_ids) & set(report.tasks)
        if dead != listed:
            violations.append(f"dead-letter list differs: missing {dead - listed}, extra {listed - dead}")
    return violations


def check_dependencies(workflow: Workflow, events: dict[uuid.UUID, list[TaskEvent]]) -> list[str]:
    """No step ran before every one of its dependencies had completed (audit ids are causally ordered)."""
    by_step = {step.step_id: step.id for step in workflow.steps}
    problems = []
    for step, dependency in workflow.dependencies:
        done = [e.id for e in events[by_step[dependency]] if (e.from_status, e.to_status) == (S.RUNNING, S.COMPLETED)]
        for start in (e.id for e in events[by_step[step]] if (e.from_status, e.to_status) == (S.PENDING, S.RUNNING)):
            if not done or start < done[0]:
                problems.append(f"workflow {workflow.id}: {step} started (event {start}) before {dependency} completed")
    return problems
