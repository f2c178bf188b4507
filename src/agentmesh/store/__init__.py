"""Durable task state: `open_store` picks the backend from the DSN."""

from __future__ import annotations

from agentmesh.config import Settings
from agentmesh.store.base import Completion, Promotion, StepOutcome, Store, Submitted, WorkerInfo

__all__ = ["Completion", "Promotion", "StepOutcome", "Store", "Submitted", "WorkerInfo", "create_store"]


def create_store(settings: Settings) -> Store:
    """An unopened store for `settings.db_dsn`; call `await store.open()`."""
    if settings.store_kind == "postgres":
        from agentmesh.store.postgres import PostgresStore

        return PostgresStore(settings.db_dsn, pool_size=settings.db_pool_size)
    from agentmesh.store.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path)
