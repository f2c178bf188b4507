"""Fuzzing the Producer API from its own OpenAPI schema, on every backend pair.

Schemathesis generates valid and invalid requests for every operation the schema declares;
each answer must not be a 5xx and must conform to the schema (status code, content type,
headers, body). The app runs in-process under uvicorn on a thread, so both backend pairs
(SQLite + in-process broker, PostgreSQL + Redis) are served the same way.

The budget is fixed and deterministic (derandomized), so CI runs the same requests every
time; raise AGENTMESH_FUZZ_EXAMPLES to search harder locally.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agentmesh.agents import registry
from agentmesh.api import create_app
from agentmesh.broker import create_broker
from agentmesh.cli.serve import ApiServer
from agentmesh.config import Settings
from agentmesh.mesh import Mesh
from agentmesh.store import create_store
from tests.servers import free_port

EXAMPLES = int(os.environ.get("AGENTMESH_FUZZ_EXAMPLES", "30"))  # per operation and generation mode
AGENTS = sorted(spec.name for spec in registry)
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CHECKS = {
    GenerationMode.POSITIVE: CONFORMANCE,
    GenerationMode.NEGATIVE: [*CONFORMANCE, negative_data_rejection],
}


@contextmanager
def serve_in_thread(mesh_settings: Settings) -> Iterator[str]:
    """`create_app` under uvicorn on a private event loop in a thread; yields the base URL."""
    port = free_port()
    servers: list[ApiServer] = []
    failure: list[BaseException] = []

    async def main() -> None:
        store, broker = create_store(mesh_settings), create_broker(mesh_settings)
        await store.open()
        await store.migrate()
        await broker.open()
        try:
            app = create_app(Mesh(store, broker, registry, mesh_settings), manage_backends=False)
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
            servers.append(ApiServer(config))
            await servers[0].serve()
        finally:
            await broker.close()
            await store.close()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="fuzz-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (servers and servers[0].started):
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"in-process API did not start: {failure}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        servers[0].should_exit = True
        thread.join(15)


def use_agent(body: Any, agent: str) -> None:
    """Put a registered agent type into a generated submission (single, batch or workflow)."""
    if isinstance(body, dict):
        for task in [body, *body.get("tasks", []), *body.get("steps", [])]:
            if isinstance(task, dict) and "agent_type" in task:
                task["agent_type"] = agent


def fuzz(operation: Any, mode: GenerationMode, url: str, session: requests.Session, statuses: list[int]) -> None:
    """Send EXAMPLES generated requests to one operation; hypothesis reports the first failure, shrunk."""

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=mode), agent=st.sampled_from([None, *AGENTS]))
    def exchange(case: Any, agent: str | None) -> None:
        if mode is GenerationMode.POSITIVE and agent is not None:
            use_agent(case.body, agent)  # random names are all unknown agents: reach the store too
        response = case.call(base_url=url, session=session, timeout=30)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS[mode])

    try:
        exchange()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise  # an operation without inputs cannot be sent invalid ones: that alone is fine


def test_fuzz_the_api_from_its_openapi_schema(backend_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    sent: dict[GenerationMode, list[int]] = {GenerationMode.POSITIVE: [], GenerationMode.NEGATIVE: []}
    with serve_in_thread(backend_settings) as url, requests.Session() as session:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 14, [operation.label for operation in operations]
        for operation in operations:
            for mode, statuses in sent.items():
                fuzz(operation, mode, url, session, statuses)
    elapsed = time.monotonic() - started
    every = Counter(sent[GenerationMode.POSITIVE] + sent[GenerationMode.NEGATIVE])
    with capsys.disabled():
        print(
            f"\nfuzz budget [{backend_settings.store_kind}]: {len(operations)} operations x {EXAMPLES} examples "
            f"x 2 modes; sent {every.total()} requests ({len(sent[GenerationMode.POSITIVE])} valid, "
            f"{len(sent[GenerationMode.NEGATIVE])} invalid) in {elapsed:.1f}s; statuses {dict(sorted(every.items()))}"
        )
    assert every.total() > 0 and not any(status >= 500 for status in every)
