"""Define workflows in code: a small builder that produces the body of `POST /workflows`.

    flow = WorkflowSpec("launch")
    plan = flow.step("plan", "MAGNUS_STRATEGIST", {"topic": "v2 launch"})
    drafts = [flow.step(f"draft-{i}", "CEDRIC_WRITER", {"section": i}, after=plan) for i in range(3)]
    flow.step("audit", "LYRA_AUDITOR", after=drafts)
    Client(url).submit_workflow(flow)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentmesh.domain.task import JSON, NewTask, Priority
from agentmesh.domain.workflow import check_dag


@dataclass
class WorkflowSpec:
    name: str
    idempotency_key: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def step(
        self,
        step_id: str,
        agent_type: str,
        payload: dict[str, JSON] | None = None,
        *,
        after: str | Iterable[str] = (),
        priority: Priority | str | None = None,
        max_retries: int | None = None,
    ) -> str:
        """Add a step that runs once every step in `after` completed; returns its id."""
        depends_on = [after] if isinstance(after, str) else list(after)
        step: dict[str, Any] = {"id": step_id, "agent_type": agent_type, "payload": payload or {}}
        if depends_on:
            step["depends_on"] = depends_on
        if priority is not None:
            step["priority"] = Priority(priority).value
        if max_retries is not None:
            step["max_retries"] = max_retries
        self.steps.append(step)
        return step_id

    def to_json(self) -> dict[str, Any]:
        """The request body; checks the graph first so mistakes surface where they were made."""
        check_dag([
            NewTask(s["agent_type"], Priority.MEDIUM, {}, 0, step_id=s["id"], depends_on=tuple(s.get("depends_on", ())))
            for s in self.steps
        ])  # fmt: skip
        body: dict[str, Any] = {"name": self.name, "steps": self.steps}
        if self.idempotency_key:
            body["idempotency_key"] = self.idempotency_key
        return body
