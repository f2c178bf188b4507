"""The "Rankup squad": built-in personas that simulate LLM work.

Their payload may carry `"simulate": {"duration_ms", "fail_attempts", "fail_rate"}`,
checked at submission so a bad knob is a 422, not a failed task.
"""

from __future__ import annotations

import asyncio
import random

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentmesh.agents.context import TaskContext
from agentmesh.agents.registry import AgentRegistry
from agentmesh.domain.task import JSON, Priority


class Simulation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    duration_ms: int | None = Field(None, ge=0, le=3_600_000)
    fail_attempts: int = Field(0, ge=0)
    fail_rate: float = Field(0.0, ge=0.0, le=1.0)


class SimulatedFailure(Exception):
    """The failure a persona was asked to simulate."""


class Plan(BaseModel):
    """The strategist's fan-out: `writers` drafting steps, then an audit of them all."""

    model_config = ConfigDict(extra="forbid", strict=True)

    writers: int = Field(0, ge=0, le=100)
    audit: bool = True
    simulate: Simulation | None = None


def check_simulation(payload: dict[str, JSON]) -> None:
    """Raise ValueError naming the bad knob; accept payloads without `simulate` or `plan`."""
    for knob, model in (("simulate", Simulation), ("plan", Plan)):
        raw = payload.get(knob)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise ValueError(f"payload.{knob} must be an object")
        try:
            model.model_validate(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise ValueError(f"payload.{knob}.{where}: {error['msg']}") from None


PERSONAS = {
    "MAGNUS_STRATEGIST": (Priority.HIGH, "strategic planning", "a three-step plan"),
    "CEDRIC_WRITER": (Priority.MEDIUM, "content generation", "a draft of 800 words"),
    "LYRA_AUDITOR": (Priority.LOW, "verification and auditing", "an audit with no findings"),
}


def _make_persona(name: str, role: str, output: str) -> object:
    async def persona(payload: dict[str, JSON], ctx: TaskContext) -> JSON:
        sim = Simulation.model_validate(payload.get("simulate") or {})
        duration = sim.duration_ms if sim.duration_ms is not None else random.randint(20, 120)
        await asyncio.sleep(duration / 1000)
        if ctx.retry_count < sim.fail_attempts:
            raise SimulatedFailure(f"simulated failure {ctx.retry_count + 1} of {sim.fail_attempts}")
        if sim.fail_rate and random.random() < sim.fail_rate:
            raise SimulatedFailure(f"simulated random failure (rate {sim.fail_rate})")
        plan = payload.get("plan")
        if isinstance(plan, dict) and ctx.workflow_id is not None:
            _fan_out(ctx, plan)
        return {"agent": name, "role": role, "attempt": ctx.attempt, "output": output, "inputs": sorted(ctx.results)}

    persona.__name__ = name
    return persona


def _fan_out(ctx: TaskContext, raw: dict[str, JSON]) -> None:
    """The strategist's plan: N writer steps after this one, and an auditor after all the writers."""
    plan = Plan.model_validate(raw)
    child: dict[str, JSON] = {"simulate": plan.simulate.model_dump(exclude_none=True)} if plan.simulate else {}
    after = [ctx.step_id or ""]
    drafts = [
        ctx.add_step(f"{ctx.step_id}.draft-{i}", "CEDRIC_WRITER", {"section": i, **child}, depends_on=after)
        for i in range(plan.writers)
    ]
    if drafts and plan.audit:
        ctx.add_step(f"{ctx.step_id}.audit", "LYRA_AUDITOR", dict(child), depends_on=drafts)


def register_personas(registry: AgentRegistry) -> None:
    for name, (lane, role, output) in PERSONAS.items():
        registry.register(_make_persona(name, role, output), name=name, lane=lane,  # type: ignore[arg-type]
                          check_payload=check_simulation)  # fmt: skip
