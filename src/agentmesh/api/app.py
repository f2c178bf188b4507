"""The Producer API application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from agentmesh import __version__
from agentmesh.api.bodies import document_bodies
from agentmesh.api.deps import require_api_key
from agentmesh.api.errors import install_error_handlers
from agentmesh.api.middleware import install_middleware
from agentmesh.api.routes import dead_letter, system, tasks, workflows
from agentmesh.api.schemas import BatchIn, TaskIn
from agentmesh.mesh import Mesh


def create_app(mesh: Mesh, *, manage_backends: bool = True) -> FastAPI:
    """An app serving `mesh`. With `manage_backends`, the app opens and closes its backends."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_backends:
            await mesh.store.open()
            await mesh.broker.open()
        try:
            yield
        finally:
            if manage_backends:
                await mesh.broker.close()
                await mesh.store.close()

    app = FastAPI(
        title="AgentMesh",
        version=__version__,
        description="Distributed task orchestrator for fleets of AI agents.",
        lifespan=lifespan,
    )
    app.state.mesh = mesh
    install_error_handlers(app)
    install_middleware(app, mesh.settings)  # request ids, API keys on every path, body limits
    app.include_router(system.health_router)
    guarded = [Depends(require_api_key)]
    app.include_router(system.router, dependencies=guarded)
    app.include_router(tasks.router, dependencies=guarded)
    app.include_router(dead_letter.router, dependencies=guarded)
    app.include_router(workflows.router, dependencies=guarded)
    app.openapi = document_bodies(app, (TaskIn, BatchIn))  # type: ignore[method-assign]  # the submit routes parse their own bodies
    return app
