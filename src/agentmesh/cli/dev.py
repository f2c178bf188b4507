"""`agentmesh dev`: the API and a worker pool in one process, embedded by default."""

from __future__ import annotations

import asyncio

from rich.console import Console

from agentmesh.cli.runtime import install_stop_signals, run_async, setup_logging, tune_gc
from agentmesh.cli.serve import api_server, close_mesh, open_mesh, require_keys_off_loopback
from agentmesh.config import Settings, redact
from agentmesh.demo import run_demo
from agentmesh.domain.retry import RetryPolicy
from agentmesh.mesh import Mesh
from agentmesh.repair import recover_single_process
from agentmesh.worker.runtime import Worker

console = Console(stderr=True)


def serve_dev(settings: Settings, demo: bool, log_level: str, insecure: bool = False) -> None:
    require_keys_off_loopback(settings, "dev", insecure)
    setup_logging(log_level)

    async def main() -> None:
        mesh = await open_mesh(settings, migrate=True)
        try:
            if mesh.broker.kind == "memory":
                policy = RetryPolicy(settings.backoff_base, settings.backoff_max, settings.backoff_jitter)
                await recover_single_process(mesh.store, mesh.broker, policy)
            worker = Worker(mesh.store, mesh.broker, mesh.agents, settings)
            server = api_server(mesh, settings, log_level)
            tune_gc()

            def stop() -> None:
                worker.stop()
                server.should_exit = True

            install_stop_signals(stop)
            url = f"http://{settings.host}:{settings.port}"
            console.print(f"AgentMesh dev: store {redact(settings.db_dsn)}, broker {mesh.broker.kind}, API {url}/docs")
            tasks = [asyncio.create_task(worker.run()), asyncio.create_task(server.serve())]
            if demo:
                tasks.append(asyncio.create_task(_demo(mesh, url)))
            await asyncio.wait(tasks[:2], return_when=asyncio.FIRST_COMPLETED)
            stop()
            for task in tasks[2:]:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    raise result
        finally:
            await close_mesh(mesh)

    run_async(main())


async def _demo(mesh: Mesh, url: str) -> None:
    ids = await run_demo(mesh, console)
    console.print(f"demo settled. Try: curl {url}/tasks/{ids[0]}   (Ctrl-C to stop)")
