"""The Producer API over real HTTP: status codes, idempotency, bad input that stores nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import LiveApi

WRITER = {"agent_type": "CEDRIC_WRITER", "payload": {"topic": "launch"}}


@pytest.fixture
def http(live_api: LiveApi) -> Any:
    with httpx.Client(base_url=live_api.url, timeout=10) as client:
        yield client


BAD_BODIES: list[tuple[str, Any, int, str]] = [
    ("unknown agent type", {"agent_type": "NOBODY", "payload": {}}, 422, "unknown agent type"),
    ("payload is a list", {"agent_type": "CEDRIC_WRITER", "payload": [1, 2]}, 422, "payload"),
    ("payload is a string", {"agent_type": "CEDRIC_WRITER", "payload": "x"}, 422, "payload"),
    ("agent_type is a number", {"agent_type": 7, "payload": {}}, 422, "agent_type"),
    ("agent_type is null", {"agent_type": None, "payload": {}}, 422, "agent_type"),
    ("agent_type missing", {"payload": {}}, 422, "agent_type"),
    ("max_retries is a string", {**WRITER, "max_retries": "5"}, 422, "max_retries"),
    ("max_retries negative", {**WRITER, "max_retries": -1}, 422, "max_retries"),
    ("delay negative", {**WRITER, "delay_seconds": -3}, 422, "delay_seconds"),
    ("unknown priority", {**WRITER, "priority": "urgent"}, 422, "priority"),
    ("unknown field", {**WRITER, "colour": "blue"}, 422, "colour"),
    ("bad simulate knob", {"agent_type": "LYRA_AUDITOR", "payload": {"simulate": {"fail_rate": 2}}}, 422, "fail_rate"),
    ("body is a list", [WRITER], 422, ""),
]


@pytest.mark.parametrize(("case", "body", "status", "mentions"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_submissions_are_refused_and_store_nothing(
    live_api: LiveApi, http: httpx.Client, case: str, body: Any, status: int, mentions: str
) -> None:
    before = live_api.total_tasks()
    response = http.post("/tasks", json=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["code"] and mentions.lower() in error["message"].lower()
    batch = http.post("/tasks/batch", json={"tasks": [WRITER, body]})
    assert 400 <= batch.status_code < 500, batch.text
    assert live_api.total_tasks() == before


def test_malformed_json_is_400_and_stores_nothing(live_api: LiveApi, http: httpx.Client) -> None:
    before = live_api.total_tasks()
    response = http.post("/tasks", content=b'{"agent_type": "CEDRIC_WRITER", "payload": {', headers={
        "content-type": "application/json"})  # fmt: skip
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert live_api.total_tasks() == before


@pytest.mark.parametrize("path", ["/tasks/{id}", "/tasks/{id}/events"])
def test_unknown_and_malformed_ids(http: httpx.Client, path: str) -> None:
    unknown = http.get(path.format(id=uuid.uuid4()))
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    for bad in ("not-a-uuid", "1234", "..%2F..%2Fetc%2Fpasswd", "' OR 1=1 --"):
        malformed = http.get(path.format(id=bad))
        assert malformed.status_code in (404, 422), malformed.text
        assert "code" in malformed.json()


def test_cancel_and_requeue_unknown_or_malformed(http: httpx.Client) -> None:
    assert http.post(f"/tasks/{uuid.uuid4()}/cancel").status_code == 404
    assert http.post(f"/dead-letter/{uuid.uuid4()}/requeue").status_code == 404
    assert http.post("/tasks/nope/cancel").status_code == 422


def test_submit_returns_201_location_and_the_committed_task(http: httpx.Client) -> None:
    response = http.post("/tasks", json=WRITER)
    assert response.status_code == 201
    task = response.json()
    assert response.headers["location"] == f"/tasks/{task['id']}"
    assert uuid.UUID(task["id"]).version == 7
    assert (task["status"], task["priority"], task["retry_count"], task["max_retries"]) == ("PENDING", "medium", 0, 5)
    assert task["created_at"].endswith("Z")
    fetched = http.get(task["id"] and f"/tasks/{task['id']}").json()
    assert fetched["payload"] == {"topic": "launch"}
    events = http.get(f"/tasks/{task['id']}/events").json()["items"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [(None, "PENDING")]


def test_idempotency_key(http: httpx.Client, live_api: LiveApi) -> None:
    key = f"order-{uuid.uuid4()}"
    first = http.post("/tasks", json={**WRITER, "idempotency_key": key})
    again = http.post("/tasks", json={**WRITER, "idempotency_key": key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    before = live_api.total_tasks()
    other = http.post("/tasks", json={**WRITER, "payload": {"topic": "other"}, "idempotency_key": key})
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert live_api.total_tasks() == before


def test_batch_is_atomic(http: httpx.Client, live_api: LiveApi) -> None:
    key = f"batch-{uuid.uuid4()}"
    assert http.post("/tasks", json={**WRITER, "idempotency_key": key}).status_code == 201
    before = live_api.total_tasks()
    conflicting = {**WRITER, "payload": {"different": True}, "idempotency_key": key}
    response = http.post("/tasks/batch", json={"tasks": [WRITER, WRITER, conflicting]})
    assert response.status_code == 409
    assert live_api.total_tasks() == before
    ok = http.post("/tasks/batch", json={"tasks": [WRITER] * 3})
    assert ok.status_code == 201 and len(ok.json()["items"]) == 3
    assert live_api.total_tasks() == before + 3
    too_many = http.post("/tasks/batch", json={"tasks": [WRITER] * 1001})
    assert too_many.status_code == 422
    assert http.post("/tasks/batch", json={"tasks": []}).status_code == 422


def test_cancel_pending_then_conflict(http: httpx.Client) -> None:
    task = http.post("/tasks", json=WRITER).json()
    cancelled = http.post(f"/tasks/{task['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    again = http.post(f"/tasks/{task['id']}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    assert http.post(f"/dead-letter/{task['id']}/requeue").status_code == 409


def test_listing_filters_and_cursor_paging(http: httpx.Client) -> None:
    agent = "LYRA_AUDITOR"
    created = http.post("/tasks/batch", json={"tasks": [{"agent_type": agent, "payload": {"i": i}} for i in range(7)]})
    ids = {task["id"] for task in created.json()["items"]}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"agent_type": agent, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = http.get("/tasks", params=params).json()
        seen += [task["id"] for task in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert ids <= set(seen) and len(seen) == len(set(seen))
    assert seen == sorted(seen, reverse=True)  # newest first
    assert http.get("/tasks", params={"limit": 1001}).status_code == 422
    assert http.get("/tasks", params={"status": "NOPE"}).status_code == 422
    pending = http.get("/tasks", params={"status": "PENDING", "limit": 1000}).json()["items"]
    assert pending and all(task["status"] == "PENDING" for task in pending)


def test_operational_endpoints(http: httpx.Client) -> None:
    http.post("/tasks", json={"agent_type": "MAGNUS_STRATEGIST", "payload": {}})
    queues = http.get("/queues").json()
    assert set(queues["lanes"]) == {"high", "medium", "low"} and queues["lanes"]["high"] >= 1
    agents = {a["agent_type"]: a["lane"] for a in http.get("/agents").json()["items"]}
    assert agents == {"MAGNUS_STRATEGIST": "high", "CEDRIC_WRITER": "medium", "LYRA_AUDITOR": "low"}
    assert http.get("/workers").json() == {"items": []}
    assert http.get("/healthz").json()["status"] == "ok"
    assert http.get("/readyz").json() == {"status": "ok", "store": "ok", "broker": "ok"}
    metrics = http.get("/metrics")
    assert metrics.status_code == 200
    assert 'agentmesh_lane_depth{lane="high"}' in metrics.text
    assert "agentmesh_tasks_submitted_total" in metrics.text
    schema = http.get("/openapi.json").json()
    assert "/tasks/batch" in schema["paths"]
    for path, model in (("/tasks", "TaskIn"), ("/tasks/batch", "BatchIn")):  # routes that read their own bodies
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model}"}
    assert set(schema["components"]["schemas"]["TaskIn"]["properties"]) >= {"agent_type", "payload", "priority"}


def test_the_api_adopts_the_broker_at_start_so_workers_do_not_push_the_backlog_again(live_api: LiveApi) -> None:
    marker = f"{live_api.settings.redis_prefix}agent_epoch"
    assert redis.Redis.from_url(live_api.settings.redis_url).exists(marker)
