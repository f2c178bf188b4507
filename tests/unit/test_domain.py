"""The state table and the agent registry."""

from __future__ import annotations

from typing import Any

import pytest

from agentmesh.agents import AgentRegistry
from agentmesh.agents.personas import check_simulation
from agentmesh.domain.task import TERMINAL, Priority, TaskStatus, new_task_id
from agentmesh.domain.transitions import ALLOWED, RESUMES, is_allowed
from agentmesh.errors import UnknownAgent
from agentmesh.migrations import load_migrations

S = TaskStatus


def test_only_requeue_and_workflow_resumption_leave_a_settled_state() -> None:
    leaving_terminal = {(a, b) for a, b in ALLOWED if a in TERMINAL}
    assert leaving_terminal == RESUMES
    assert RESUMES == {(S.PERMANENT_FAILURE, S.PENDING), (S.SKIPPED, S.WAITING), (S.SKIPPED, S.CANCELLED)}
    assert not is_allowed(S.COMPLETED, S.RUNNING)
    assert is_allowed(S.RETRYING, S.PENDING) and not is_allowed(S.RETRYING, S.RUNNING)


def test_ids_are_time_ordered_uuid7() -> None:
    ids = [new_task_id() for _ in range(100)]
    assert all(i.version == 7 for i in ids) and ids == sorted(ids)


def test_registry_decorator_and_lookup() -> None:
    agents = AgentRegistry()

    @agents.agent("SUMMARIZER", lane="high", timeout=5)
    async def summarize(payload: dict[str, Any]) -> str:
        return "ok"

    spec = agents.get("SUMMARIZER")
    assert (spec.lane, spec.timeout, spec.is_async, spec.takes_context) == (Priority.HIGH, 5, True, False)
    with pytest.raises(UnknownAgent, match="SUMMARIZER"):
        agents.get("NOBODY")
    with pytest.raises(ValueError):
        agents.register(summarize, name="X", lane="urgent")


@pytest.mark.parametrize("simulate", [
    {"duration_ms": -1}, {"fail_rate": 1.5}, {"fail_attempts": "2"}, {"unknown": 1}, [1], {"duration_ms": 1.5},
])  # fmt: skip
def test_persona_knobs_are_checked(simulate: Any) -> None:
    with pytest.raises(ValueError, match="simulate"):
        check_simulation({"simulate": simulate})


@pytest.mark.parametrize("plan", [{"writers": -1}, {"writers": "5"}, {"writers": 101}, {"audit": 1}, {"x": 1}, [1]])
def test_strategist_plan_is_checked(plan: Any) -> None:
    with pytest.raises(ValueError, match="plan"):
        check_simulation({"plan": plan})


def test_persona_knobs_accepted() -> None:
    check_simulation({})
    check_simulation({"simulate": {"duration_ms": 0, "fail_attempts": 2, "fail_rate": 0.5}})


def test_migrations_of_both_backends_are_kept_in_step() -> None:
    postgres, sqlite = load_migrations("postgres"), load_migrations("sqlite")
    assert [(m.version, m.name) for m in postgres] == [(m.version, m.name) for m in sqlite]
    assert [m.version for m in postgres] == list(range(1, len(postgres) + 1))
