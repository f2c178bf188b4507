"""AgentMesh: a distributed task orchestrator for fleets of AI agents."""

from __future__ import annotations

from agentmesh.agents import Abort, Retry, TaskContext, agent

__all__ = ["Abort", "Retry", "TaskContext", "agent"]
__version__ = "0.1.0"
