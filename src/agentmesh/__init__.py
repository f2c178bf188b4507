"""AgentMesh: a distributed task orchestrator for fleets of AI agents."""

from __future__ import annotations

from agentmesh.agents import Abort, Retry, TaskContext, agent
from agentmesh.client import Client
from agentmesh.flow import WorkflowSpec

__all__ = ["Abort", "Client", "Retry", "TaskContext", "WorkflowSpec", "agent"]
__version__ = "0.1.0"
