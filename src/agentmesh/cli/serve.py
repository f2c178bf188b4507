"""Start the long-running processes: the API server and the worker."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Iterator

import uvicorn

from agentmesh.agents import load_agent_modules, registry
from agentmesh.api import create_app
from agentmesh.broker import create_broker
from agentmesh.cli.runtime import install_stop_signals, run_async, setup_logging, tune_gc
from agentmesh.config import Settings, redact
from agentmesh.errors import BackendUnavailable, ConfigError
from agentmesh.mesh import Mesh
from agentmesh.repair import adopt_broker
from agentmesh.store import create_store
from agentmesh.worker.runtime import Worker

log = logging.getLogger("agentmesh")


def require_shared_broker(settings: Settings, command: str) -> None:
    if settings.redis_url is None:
        raise ConfigError(
            f"REDIS_ADDR is not set: `agentmesh {command}` runs as its own process and needs a shared broker; "
            "set REDIS_ADDR=host:port (or REDIS_URL), or run API and workers in one process with `agentmesh dev`"
        )


def require_keys_off_loopback(settings: Settings, command: str, insecure: bool) -> None:
    """Refuse to serve beyond this machine without API keys, unless told `--insecure` on purpose."""
    if settings.api_keys or insecure or is_loopback(settings.host):
        return
    raise ConfigError(
        f"refusing to listen on {settings.host} without API keys: set AGENTMESH_API_KEYS, listen on 127.0.0.1, "
        f"or pass --insecure to `agentmesh {command}` to serve without authentication"
    )


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address; anything else (0.0.0.0, ::, a name) may be reachable from outside."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: our handlers stop the API and workers together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def api_server(mesh: Mesh, settings: Settings, log_level: str) -> ApiServer:
    config = uvicorn.Config(
        create_app(mesh, manage_backends=False), host=settings.host, port=settings.port,
        log_level=log_level.lower(), access_log=False, lifespan="on",
    )  # fmt: skip
    return ApiServer(config)


async def open_mesh(settings: Settings, *, migrate: bool = False) -> Mesh:
    """Open the backends and check (or, embedded, apply) the schema; every failure is one clear line."""
    load_agent_modules(settings.agents)
    store, broker = create_store(settings), create_broker(settings)
    await store.open()
    try:
        if migrate:
            await store.migrate()
        pending = await store.pending_migrations()
        if pending:
            raise ConfigError(f"DB_DSN {redact(settings.db_dsn)}: schema not migrated; run `agentmesh migrate`")
        await broker.open()
    except BaseException:
        await store.close()
        raise
    return Mesh(store, broker, registry, settings)


async def close_mesh(mesh: Mesh) -> None:
    await mesh.broker.close()
    await mesh.store.close()


def serve_api(settings: Settings, log_level: str, insecure: bool = False, processes: int = 1) -> None:
    require_shared_broker(settings, "api")
    require_keys_off_loopback(settings, "api", insecure)
    setup_logging(log_level)
    if processes > 1:
        from agentmesh.cli.api_processes import serve_processes  # here: that module imports this one

        serve_processes(settings, log_level, processes)
        return
    run_async(_serve_api(settings, log_level, adopt=True))


def serve_child(settings: Settings, log_level: str, listener: socket.socket) -> None:
    """One of `agentmesh api --processes N`: serve on the parent's socket (the parent adopted the broker).

    In a process group of its own, so that Ctrl+C reaches only the parent, which passes it on once.
    """
    os.setpgid(0, 0)
    setup_logging(log_level)
    run_async(_serve_api(settings, log_level, adopt=False, sockets=[listener], parent=os.getppid()))


async def adopt_broker_once(settings: Settings) -> None:
    mesh = await open_mesh(settings)
    try:
        await _adopt_broker(mesh)
    finally:
        await close_mesh(mesh)


async def _serve_api(
    settings: Settings,
    log_level: str,
    *,
    adopt: bool,
    sockets: list[socket.socket] | None = None,
    parent: int | None = None,
) -> None:
    mesh = await open_mesh(settings)
    try:
        if adopt:
            await _adopt_broker(mesh)
        tune_gc()
        server = api_server(mesh, settings, log_level)
        install_stop_signals(lambda: setattr(server, "should_exit", True))
        watch = asyncio.create_task(_stop_when_orphaned(server, parent)) if parent is not None else None
        try:
            await server.serve(sockets=sockets)
        finally:
            if watch is not None:
                watch.cancel()
    finally:
        await close_mesh(mesh)


async def _stop_when_orphaned(server: ApiServer, parent: int) -> None:
    """A child of `--processes` whose parent was killed outright drains and stops instead of serving on alone."""
    while os.getppid() == parent:  # noqa: ASYNC110 - no event tells of a parent's death portably
        await asyncio.sleep(1)
    log.warning("the supervising process %d is gone: stopping", parent)
    server.should_exit = True


async def _adopt_broker(mesh: Mesh) -> None:
    try:
        rebuilt = await adopt_broker(mesh.store, mesh.broker)
    except BackendUnavailable as exc:  # the reconciler of a worker does it later
        log.warning("could not check the broker against the store at start: %s", exc)
        return
    if rebuilt:
        log.warning("the broker was new or had lost its data: re-enqueued %d tasks from the store", rebuilt)


def serve_worker(settings: Settings, metrics_port: int | None, log_level: str) -> None:
    require_shared_broker(settings, "worker")
    setup_logging(log_level)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)

    async def main() -> None:
        mesh = await open_mesh(settings)
        try:
            worker = Worker(mesh.store, mesh.broker, mesh.agents, settings)
            tune_gc()
            install_stop_signals(worker.stop)
            await worker.run()
        finally:
            await close_mesh(mesh)

    run_async(main())
