"""One exception tree for the whole package.

Driver errors (asyncpg, sqlite3, redis) are translated where they enter, so callers
only ever see these.
"""

from __future__ import annotations


class AgentMeshError(Exception):
    """Root of every error AgentMesh raises on purpose."""


class ConfigError(AgentMeshError):
    """Configuration is invalid; the message is one line naming the variable."""


class BackendUnavailable(AgentMeshError):
    """A store or broker cannot be reached right now; retrying later may work."""


class StoreUnavailable(BackendUnavailable):
    """The store (PostgreSQL or SQLite) cannot be reached."""


class BrokerUnavailable(BackendUnavailable):
    """The broker (Redis) cannot be reached."""


class TaskNotFound(AgentMeshError):
    """No task with that id."""


class WorkflowNotFound(AgentMeshError):
    """No workflow with that id."""


class InvalidTransition(AgentMeshError):
    """The task is in a state that does not allow the requested change."""


class IdempotencyConflict(AgentMeshError):
    """An idempotency key was reused with a different request body."""


class UnknownAgent(AgentMeshError):
    """No agent is registered under that type."""


class InvalidInput(AgentMeshError):
    """A value is well-formed JSON but not acceptable (a limit, a reserved character)."""
