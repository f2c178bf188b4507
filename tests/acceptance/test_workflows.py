"""Workflows through real processes: 200 squad pipelines on two workers, the HTTP contract, the CLI."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx

from agentmesh.config import Settings
from agentmesh.store import create_store
from tests.acceptance.test_cli import one_line_error
from tests.invariants import check_all, check_dependencies, collect
from tests.procs import Processes, run_cli, settings_env

ROOT = Path(__file__).resolve().parents[2]


async def verify(settings: Settings, workflow_ids: list[str]) -> None:
    store = create_store(settings)
    await store.open()
    try:
        for workflow_id in workflow_ids:
            workflow = await store.get_workflow(uuid.UUID(workflow_id))
            assert workflow is not None and workflow.status == "COMPLETED"
            assert len(workflow.steps) == 7
            report = await collect(store, [s.id for s in workflow.steps])
            assert check_all(report) == []
            assert check_dependencies(workflow, report.events) == []
    finally:
        await store.close()


def test_two_hundred_squad_pipelines_on_two_workers(settings: Settings, procs: Processes) -> None:
    url = procs.api(settings)
    for _ in range(2):
        procs.worker(settings, concurrency=30)
    plan = {"writers": 5, "simulate": {"duration_ms": 5}}
    body = {"name": "squad", "steps": [{"id": "plan", "agent_type": "MAGNUS_STRATEGIST",
                                        "payload": {"plan": plan, "simulate": {"duration_ms": 5}}}]}  # fmt: skip
    with httpx.Client(base_url=url, timeout=30) as client:
        ids = [client.post("/workflows", json=body).json()["id"] for _ in range(200)]
        deadline = time.monotonic() + 120
        while client.get("/workflows", params={"status": "RUNNING", "limit": 1}).json()["items"]:
            assert time.monotonic() < deadline, "workflows did not finish"
            time.sleep(0.5)
        completed = client.get("/workflows", params={"status": "COMPLETED", "limit": 1000}).json()["items"]
    assert {w["id"] for w in completed} == set(ids)
    asyncio.run(verify(settings, ids))


def test_invalid_workflows_are_422_naming_the_step(live_api: object) -> None:
    url = live_api.url  # type: ignore[attr-defined]
    cases = {
        "cycle": [{"id": "a", "agent_type": "CEDRIC_WRITER", "depends_on": ["b"]},
                  {"id": "b", "agent_type": "CEDRIC_WRITER", "depends_on": ["a"]}],
        "dangling": [{"id": "a", "agent_type": "CEDRIC_WRITER", "depends_on": ["ghost"]}],
        "duplicate": [{"id": "a", "agent_type": "CEDRIC_WRITER"}, {"id": "a", "agent_type": "LYRA_AUDITOR"}],
        "agent": [{"id": "a", "agent_type": "NOBODY"}],
    }  # fmt: skip
    before = httpx.get(f"{url}/workflows").json()["items"]
    for name, steps in cases.items():
        response = httpx.post(f"{url}/workflows", json={"name": name, "steps": steps})
        assert response.status_code == 422, (name, response.text)
        message = response.json()["message"]
        assert "'a'" in message or "NOBODY" in message, message
    assert httpx.get(f"{url}/workflows").json()["items"] == before
    assert httpx.get(f"{url}/workflows/{uuid.uuid4()}").status_code == 404
    assert httpx.post(f"{url}/workflows/{uuid.uuid4()}/cancel").status_code == 404


def test_cli_submits_and_draws_a_workflow(settings: Settings, procs: Processes) -> None:
    url = procs.api(settings)
    procs.worker(settings, concurrency=10)
    env = {**settings_env(settings), "AGENTMESH_URL": url}
    done = run_cli(["workflow", "submit", str(ROOT / "examples" / "squad_pipeline.json"), "--wait"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "COMPLETED" in done.stdout and "plan.audit" in done.stdout and "stage 2" in done.stdout
    workflow_id = httpx.get(f"{url}/workflows").json()["items"][0]["id"]
    drawn = json.loads(run_cli(["workflow", "get", workflow_id, "--json"], env).stdout)
    assert drawn["status"] == "COMPLETED" and len(drawn["steps"]) == 3 + 3 + 1
    one_line_error(run_cli(["workflow", "submit", "/no/such/file.json"], env), "cannot read")
