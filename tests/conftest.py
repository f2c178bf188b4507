"""Shared fixtures: throwaway servers, a fresh database and Redis prefix per test, a mesh.

Without the server binaries the affected tests skip locally; under `CI` they fail.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agentmesh.agents import registry
from agentmesh.broker import Broker, create_broker
from agentmesh.config import Settings
from agentmesh.mesh import Mesh
from agentmesh.store import Store, create_store
from tests.procs import Processes
from tests.servers import PostgresServer, RedisServer, ServerUnavailable

_counter = itertools.count(1)


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI requires the test servers: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
        server.start()
    except (ServerUnavailable, OSError, KeyError) as exc:
        unavailable(f"cannot start PostgreSQL: {exc}")
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
        server.start()
    except (ServerUnavailable, OSError) as exc:
        unavailable(f"cannot start Redis: {exc}")
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    """A migrated database that each test's database is copied from."""
    pg_server.psql("CREATE DATABASE agentmesh_template")

    async def migrate() -> None:
        store = create_store(Settings(db_dsn=pg_server.dsn("agentmesh_template")))
        await store.open()
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(migrate())
    return "agentmesh_template"


@pytest.fixture
def pg_dsn(pg_server: PostgresServer, pg_template: str) -> str:
    name = f"t{os.getpid()}_{next(_counter)}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    return pg_server.dsn(name)


@pytest.fixture
def empty_pg_dsn(pg_server: PostgresServer) -> str:
    name = f"e{os.getpid()}_{next(_counter)}"
    pg_server.psql(f"CREATE DATABASE {name}")
    return pg_server.dsn(name)


@pytest.fixture
def settings(pg_dsn: str, redis_server: RedisServer) -> Settings:
    """Distributed-mode settings on private servers, with short waits for fast tests."""
    return Settings(
        db_dsn=pg_dsn,
        redis_url=redis_server.url,
        redis_prefix=f"t{next(_counter)}:",
        backoff_base=1.2,
        backoff_jitter=0.0,
        lease_seconds=5,
        shutdown_grace=5,
    )


@pytest.fixture
async def mesh(settings: Settings) -> AsyncIterator[Mesh]:
    store, broker = create_store(settings), create_broker(settings)
    await store.open()
    await broker.open()
    try:
        yield Mesh(store, broker, registry, settings)
    finally:
        await broker.close()
        await store.close()


@pytest.fixture
def procs() -> Iterator[Processes]:
    processes = Processes()
    try:
        yield processes
    finally:
        processes.close()


@dataclass(frozen=True)
class LiveApi:
    url: str
    settings: Settings

    def total_tasks(self) -> int:
        return sum(httpx.get(f"{self.url}/queues", timeout=10).json()["by_status"].values())


@pytest.fixture(scope="module")
def live_api(pg_server: PostgresServer, pg_template: str, redis_server: RedisServer) -> Iterator[LiveApi]:
    """One real `agentmesh api` process per test module, on its own database (no workers)."""
    name = f"m{os.getpid()}_{next(_counter)}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    settings = Settings(db_dsn=pg_server.dsn(name), redis_url=redis_server.url, redis_prefix=f"{name}:")
    processes = Processes()
    try:
        yield LiveApi(processes.api(settings), settings)
    finally:
        processes.close()


# -- one behavioural suite, every backend pair -------------------------------------------
BACKENDS = ["postgres+redis", "sqlite+memory"]


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest, tmp_path: Any) -> Settings:
    """Settings for each backend pair; the contract suites run once per pair."""
    if request.param == "postgres+redis":
        distributed: Settings = request.getfixturevalue("settings")
        return distributed
    return Settings(
        db_dsn=f"sqlite:///{tmp_path / 'mesh.db'}",
        backoff_base=1.2,
        backoff_jitter=0.0,
        lease_seconds=5,
        shutdown_grace=5,
    )


@pytest.fixture
async def store(backend_settings: Settings) -> AsyncIterator[Store]:
    store = create_store(backend_settings)
    await store.open()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def broker(backend_settings: Settings) -> AsyncIterator[Broker]:
    broker = create_broker(backend_settings)
    await broker.open()
    try:
        yield broker
    finally:
        await broker.close()


@pytest.fixture
def any_mesh(store: Store, broker: Broker, backend_settings: Settings) -> Mesh:
    return Mesh(store, broker, registry, backend_settings)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url
