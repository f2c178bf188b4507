"""Agents are plain Python functions registered under a type name with a lane and limits."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from agentmesh.agents.context import TaskContext
from agentmesh.domain.task import JSON, Priority
from agentmesh.errors import ConfigError, UnknownAgent

AgentFn = Callable[..., Any]
F = TypeVar("F", bound=AgentFn)
PayloadCheck = Callable[[dict[str, JSON]], None]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """A registered agent. `fn(payload)` or `fn(payload, ctx)`, sync or async."""

    name: str
    fn: AgentFn
    lane: Priority
    timeout: float | None
    max_retries: int | None
    check_payload: PayloadCheck | None
    is_async: bool
    takes_context: bool

    async def invoke(self, ctx: TaskContext) -> JSON:
        """Run the function: coroutines on the loop, plain functions in a thread."""
        args: tuple[Any, ...] = (ctx.payload, ctx) if self.takes_context else (ctx.payload,)
        if self.is_async:
            return await self.fn(*args)
        return await asyncio.to_thread(self.fn, *args)


class AgentRegistry:
    def __init__(self) -> None:
        self._agents: dict[str, AgentSpec] = {}

    def register(
        self,
        fn: AgentFn,
        *,
        name: str | None = None,
        lane: Priority | str = Priority.MEDIUM,
        timeout: float | None = None,
        max_retries: int | None = None,
        check_payload: PayloadCheck | None = None,
    ) -> AgentSpec:
        agent_name = name or fn.__name__
        if not agent_name or len(agent_name) > 200 or not agent_name.isprintable():
            raise ValueError(f"invalid agent name {agent_name!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        spec = AgentSpec(
            name=agent_name,
            fn=fn,
            lane=Priority(lane),
            timeout=timeout,
            max_retries=max_retries,
            check_payload=check_payload,
            is_async=inspect.iscoroutinefunction(fn),
            takes_context=len(inspect.signature(fn).parameters) >= 2,
        )
        self._agents[agent_name] = spec
        return spec

    def agent(
        self,
        name: str | None = None,
        *,
        lane: Priority | str = Priority.MEDIUM,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> Callable[[F], F]:
        """Decorator form of `register`."""

        def decorate(fn: F) -> F:
            self.register(fn, name=name, lane=lane, timeout=timeout, max_retries=max_retries)
            return fn

        return decorate

    def get(self, name: str) -> AgentSpec:
        try:
            return self._agents[name]
        except KeyError:
            raise UnknownAgent(f"unknown agent type {name!r}; registered: {', '.join(sorted(self._agents))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._agents

    def __iter__(self) -> Iterator[AgentSpec]:
        return iter(sorted(self._agents.values(), key=lambda spec: (spec.lane.rank, spec.name)))


def load_agent_modules(modules: tuple[str, ...] | list[str]) -> None:
    """Import modules that register agents (`AGENTMESH_AGENTS` / `--agents`)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise ConfigError(f"AGENTMESH_AGENTS: cannot import {module!r}: {type(exc).__name__}: {exc}") from None
