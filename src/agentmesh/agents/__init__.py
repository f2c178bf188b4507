"""Agent registry, the decorator users register with, and the built-in personas."""

from __future__ import annotations

from agentmesh.agents.context import Abort, Retry, TaskContext
from agentmesh.agents.personas import register_personas
from agentmesh.agents.registry import AgentRegistry, AgentSpec, load_agent_modules

__all__ = ["Abort", "AgentRegistry", "AgentSpec", "Retry", "TaskContext", "agent", "load_agent_modules", "registry"]

registry = AgentRegistry()
register_personas(registry)

agent = registry.agent
"""Register a function as an agent: `@agent("SUMMARIZER", lane="high", timeout=60)`."""
