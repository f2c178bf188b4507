"""Dispatch index of task ids: `create_broker` picks Redis or the in-process broker."""

from __future__ import annotations

from agentmesh.broker.base import Broker, QueueDepths
from agentmesh.config import Settings

__all__ = ["Broker", "QueueDepths", "create_broker"]


def create_broker(settings: Settings) -> Broker:
    """An unopened broker: Redis when configured, else the in-process one (embedded only)."""
    if settings.redis_url:
        from agentmesh.broker.redis import RedisBroker

        return RedisBroker(settings.redis_url, prefix=settings.redis_prefix)
    from agentmesh.broker.memory import MemoryBroker

    return MemoryBroker()
