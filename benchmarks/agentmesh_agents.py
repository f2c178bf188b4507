"""The benchmark's AgentMesh agent, loaded with `AGENTMESH_AGENTS=benchmarks.agentmesh_agents`.

It does not count itself: AgentMesh's completion is the COMPLETED row the worker commits after the agent
returns, and the runner counts those rows in PostgreSQL.
"""

from __future__ import annotations

from agentmesh.agents import agent
from benchmarks.tasks.common import run_async

AGENT_TYPE = "BENCH_TASK"


@agent(AGENT_TYPE, lane="high", max_retries=0)
async def bench_task(payload: dict[str, object]) -> None:
    stamp, sleep = payload.get("stamp"), payload.get("sleep")
    await run_async(
        float(stamp) if isinstance(stamp, int | float) else None,
        float(sleep) if isinstance(sleep, int | float) else 0.0,
        count=False,
    )
