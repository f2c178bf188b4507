"""Operational endpoints: queues, agents, workers, health, metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from agentmesh.api.deps import MeshDep
from agentmesh.api.errors import RETRY_AFTER_SECONDS, error, request_id_of
from agentmesh.api.routes.tasks import ERRORS
from agentmesh.api.schemas import AgentList, AgentOut, Health, QueuesOut, WorkerList, WorkerOut
from agentmesh.errors import BackendUnavailable
from agentmesh.metrics import LANE_DEPTH, TASKS_BY_STATUS
from agentmesh.metrics import render as render_metrics

router = APIRouter(tags=["system"])
health_router = APIRouter(tags=["system"])


@router.get("/queues", response_model=QueuesOut, responses=ERRORS)
async def queues(mesh: MeshDep) -> QueuesOut:
    """Depth of each lane, delayed timers, running tasks and the dead letter."""
    return QueuesOut.model_validate(await mesh.queues())


@router.get("/agents", response_model=AgentList, responses=ERRORS)
async def agents(mesh: MeshDep) -> AgentList:
    return AgentList(
        items=[
            AgentOut(agent_type=spec.name, lane=spec.lane, timeout=spec.timeout, max_retries=spec.max_retries)
            for spec in mesh.agents
        ]
    )


@router.get("/workers", response_model=WorkerList, responses=ERRORS)
async def workers(mesh: MeshDep) -> WorkerList:
    """Workers whose heartbeat is fresher than one lease."""
    found = await mesh.store.list_workers(seen_within=max(mesh.settings.lease_seconds, 5.0))
    return WorkerList(items=[WorkerOut.model_validate(worker, from_attributes=True) for worker in found])


@health_router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive (no backend is asked)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=ERRORS)
async def readyz(mesh: MeshDep, request: Request) -> Response | Health:
    """The store and the broker both answer."""
    health = {"store": "ok", "broker": "ok"}
    for name, backend in (("store", mesh.store), ("broker", mesh.broker)):
        try:
            await backend.ping()
        except BackendUnavailable:
            health[name] = "unavailable"
    if "unavailable" in health.values():
        return error(503, "unavailable", f"not ready: {health}", headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                     request_id=request_id_of(request))  # fmt: skip
    return Health(status="ok", **health)


PROMETHEUS_TEXT = {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}


@router.get("/metrics", response_class=Response, responses={200: PROMETHEUS_TEXT, **ERRORS})
async def metrics(mesh: MeshDep) -> Response:
    """Prometheus text format; lane depths and task counts are read at scrape time."""
    try:
        depths = await mesh.broker.depths()
        for lane in ("high", "medium", "low", "delayed", "dead_letter"):
            LANE_DEPTH.labels(lane).set(getattr(depths, lane))
        for status, count in (await mesh.store.count_by_status()).items():
            TASKS_BY_STATUS.labels(status.value).set(count)
    except BackendUnavailable:
        pass  # serve what this process knows; readiness reports the outage
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
