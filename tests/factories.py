"""Builders for test data."""

from __future__ import annotations

from typing import Any

from agentmesh.domain.task import NewTask, Priority


def new_task(**options: Any) -> NewTask:
    """A valid `NewTask`; any field can be overridden."""
    fields: dict[str, Any] = {
        "agent_type": "CEDRIC_WRITER",
        "priority": Priority.MEDIUM,
        "payload": {"k": "v"},
        "max_retries": 3,
    }
    fields.update(options)
    return NewTask(**fields)
