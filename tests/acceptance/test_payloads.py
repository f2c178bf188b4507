"""What is stored comes back as sent, on every backend pair; what cannot be is refused alike.

The app is served in-process (httpx ASGITransport) over each backend pair, so the same
assertions hold for PostgreSQL + Redis and SQLite + in-process broker.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agentmesh.api import create_app
from agentmesh.config import Settings
from agentmesh.mesh import Mesh

HOSTILE_STRINGS = [
    "'; DROP TABLE tasks; --",
    "' OR '1'='1",
    "$1; SELECT pg_sleep(10)",
    "<script>alert(document.cookie)</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7} %s %n",
    "../../../../etc/passwd",
    "\\u0000 written out, not a NUL",
    "😀👩‍👩‍👧‍👦🏳️‍🌈",
    "שלום עולם مرحبا",
    "\u202eevil\u202c",
    "e\u0301 vs é",
    "\ufeffBOM and \u200b zero width",
    "\x01\x07\x1b[31m control \x7f",
    "line\r\nbreak\ttab",
    "\U0010ffff",
    "",
    " " * 3,
    "x" * 200_000,
]

VERBATIM: dict[str, Any] = {
    "strings": HOSTILE_STRINGS,
    "keys": {text[:100]: index for index, text in enumerate(HOSTILE_STRINGS)},
    "numbers": [0, -1, 2**63 - 1, -(2**63), 2**53 + 1, 0.1, -0.0, 1e-300, 1.7976931348623157e308, 3.14159],
    "literals": [True, False, None],
    "empty": [{}, [], ""],
    "nested": [[[[[["bottom"]]]]]],
    "": "empty key",
}


def same_json(sent: Any, got: Any) -> bool:
    """Equal as JSON values: strings, keys, booleans and null exactly; numbers by value.

    PostgreSQL `jsonb` keeps numbers as exact decimals and may write 1e15 as 1000000000000000,
    so a float can come back as an integer of the same value; it also orders object keys.
    """
    if isinstance(sent, bool) or sent is None or isinstance(sent, str):
        return type(got) is type(sent) and got == sent
    if isinstance(sent, int | float):
        return isinstance(got, int | float) and not isinstance(got, bool) and math.isclose(sent, got, rel_tol=0)
    if isinstance(sent, list):
        return isinstance(got, list) and len(got) == len(sent) and all(map(same_json, sent, got))
    if isinstance(sent, dict):
        return isinstance(got, dict) and got.keys() == sent.keys() and all(same_json(sent[k], got[k]) for k in sent)
    raise TypeError(type(sent))


@pytest.fixture
async def client(any_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(any_mesh, manage_backends=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mesh") as http:
        yield http


async def total(client: httpx.AsyncClient) -> int:
    counts: dict[str, int] = (await client.get("/queues")).json()["by_status"]
    return sum(counts.values())


async def test_hostile_strings_are_stored_verbatim(client: httpx.AsyncClient) -> None:
    submitted = await client.post("/tasks", json={"agent_type": "LYRA_AUDITOR", "payload": VERBATIM,
                                                  "idempotency_key": "<b>'; --😀"})  # fmt: skip
    assert submitted.status_code == 201, submitted.text[:300]
    task = submitted.json()
    assert same_json(VERBATIM, task["payload"])
    fetched = (await client.get(f"/tasks/{task['id']}")).json()
    assert same_json(VERBATIM, fetched["payload"]) and fetched["idempotency_key"] == "<b>'; --😀"
    listed = (await client.get("/tasks", params={"agent_type": "LYRA_AUDITOR"})).json()["items"]
    assert any(item["id"] == task["id"] and same_json(VERBATIM, item["payload"]) for item in listed)
    again = await client.post("/tasks", json={"agent_type": "LYRA_AUDITOR", "payload": VERBATIM,
                                              "idempotency_key": "<b>'; --😀"})  # fmt: skip
    assert again.status_code == 200 and again.json()["id"] == task["id"]  # the fingerprint survives the round trip


@pytest.mark.parametrize(("body", "mentions"), [
    ({"agent_type": "CEDRIC_WRITER", "payload": {"text": "a\x00b"}}, "U+0000"),
    ({"agent_type": "CEDRIC_WRITER", "payload": {"k\x00": 1}}, "U+0000"),
    ({"agent_type": "CEDRIC_WRITER", "payload": {"deep": [[{"x": ["\x00"]}]]}}, "U+0000"),
    ({"agent_type": "CEDRIC_WRITER", "payload": {}, "idempotency_key": "\x00"}, "U+0000"),
    ({"agent_type": "\x00", "payload": {}}, "U+0000"),
    ({"agent_type": "CEDRIC_WRITER", "payload": {"n": 2**64}}, "64-bit"),
    ({"agent_type": "CEDRIC_WRITER", "payload": {"n": float("nan")}}, "finite"),
])  # fmt: skip
async def test_what_no_backend_stores_verbatim_is_refused_on_every_backend(
    client: httpx.AsyncClient, body: dict[str, Any], mentions: str
) -> None:
    before = await total(client)
    for path, sent in (("/tasks", body), ("/tasks/batch", {"tasks": [body]})):
        response = await client.post(path, content=json.dumps(sent), headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert mentions in response.json()["message"]
    assert await total(client) == before


async def test_an_internal_error_is_a_json_500_with_a_request_id(
    any_mesh: Mesh, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SELECT * FROM tasks WHERE secret = 'postgresql://u:hunter2@db/x'")

    monkeypatch.setattr(any_mesh.store, "get", broken)
    app = create_app(any_mesh, manage_backends=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mesh") as http:
        with caplog.at_level(logging.ERROR, logger="agentmesh.api"):
            response = await http.get("/tasks/0190f3c2-7a2b-7c3d-8e4f-5a6b7c8d9e0f", headers={"x-request-id": "r-42"})
    assert response.status_code == 500
    assert response.json() == {"code": "internal", "message": response.json()["message"], "request_id": "r-42"}
    assert response.headers["x-request-id"] == "r-42"
    assert "SELECT" not in response.text and "hunter2" not in response.text and "Traceback" not in response.text
    assert any("r-42" in record.getMessage() and record.exc_info for record in caplog.records)


async def test_limits_follow_the_configuration(any_mesh: Mesh, backend_settings: Settings) -> None:
    tight = backend_settings.model_copy(update={"max_body_bytes": 2048, "max_payload_depth": 3, "max_payload_keys": 5})
    mesh = Mesh(any_mesh.store, any_mesh.broker, any_mesh.agents, tight)
    app = create_app(mesh, manage_backends=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mesh") as http:

        async def submit(payload: Any) -> httpx.Response:
            return await http.post("/tasks", json={"agent_type": "CEDRIC_WRITER", "payload": payload})

        assert (await submit({"a": {"b": {}}})).status_code == 201  # 3 levels
        deep = await submit({"a": {"b": {"c": {}}}})
        assert deep.status_code == 422 and "3 levels (AGENTMESH_MAX_PAYLOAD_DEPTH)" in deep.json()["message"]
        assert (await submit({"a": 1, "b": {"c": 2, "d": 3, "e": 4}})).status_code == 201  # 5 keys
        keys = await submit({"a": 1, "b": {"c": 2, "d": 3, "e": 4, "f": 5}})
        assert keys.status_code == 422 and "5 keys in all (AGENTMESH_MAX_PAYLOAD_KEYS)" in keys.json()["message"]
        big = await submit({"blob": "x" * 2048})
        assert big.status_code == 413 and "2048 bytes (AGENTMESH_MAX_BODY_BYTES)" in big.json()["message"]
        very_deep = await http.post("/tasks", content=b'{"payload": ' + b"[" * 8 + b"]" * 8 + b"}",
                                    headers={"content-type": "application/json"})  # fmt: skip
        assert very_deep.status_code == 422 and "AGENTMESH_MAX_PAYLOAD_DEPTH" in very_deep.json()["message"]
