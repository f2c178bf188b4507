"""Agents for the chaos suite, loaded with AGENTMESH_AGENTS=tests.chaos.agents."""

from __future__ import annotations

import time
from typing import Any

from agentmesh import agent


@agent("HANGING_SLEEPER", lane="high")
async def hanging_sleeper(payload: dict[str, Any]) -> dict[str, Any]:
    """Blocks its worker's event loop on purpose: a hung worker that cannot heartbeat."""
    time.sleep(payload["seconds"])  # noqa: ASYNC251 - the point of this agent
    return {"slept": payload["seconds"]}
