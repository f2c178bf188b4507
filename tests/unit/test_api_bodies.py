"""The submit routes' own parsing and rendering must answer exactly as the documented models would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from fastapi.exceptions import RequestValidationError

from agentmesh.api.bodies import json_response, parse_body, task_fields
from agentmesh.api.schemas import BatchIn, TaskIn, TaskOut
from agentmesh.domain.task import Priority, Task, TaskStatus


class DriverUUID(uuid.UUID):
    """Like asyncpg's UUID: a subclass, which orjson does not write by itself."""


def a_task(**changes: object) -> Task:
    at = datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC)
    fields: dict[str, object] = dict(
        id=DriverUUID("01a2347d-460a-7733-b879-c76c2179ea57"), agent_type="CEDRIC_WRITER", priority=Priority.MEDIUM,
        payload={"topic": "ünïcode ✓", "n": [1, 2.5, None, True], "deep": {"x": {"y": -(2**63)}}},
        status=TaskStatus.COMPLETED, result={"text": "done", "score": 0.1}, last_error="timeout after 3 s",
        retry_count=2, max_retries=5, attempt=3, idempotency_key="key-1", created_at=at.replace(microsecond=0),
        updated_at=at, started_at=at, completed_at=at, run_after=at, worker_id="host:1:abc",
        lease_expires_at=at, request_hash="f" * 64, workflow_id=uuid.uuid4(), step_id="plan",
    )  # fmt: skip
    fields.update(changes)
    return Task(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "task",
    [a_task(), a_task(result=None, last_error=None, started_at=None, completed_at=None, worker_id=None, payload={}),
     a_task(result=[1, "two"], idempotency_key=None), a_task(result="plain text")],
    ids=["everything set", "fresh", "list result", "text result"],
)  # fmt: skip
def test_a_rendered_task_is_what_the_documented_model_renders(task: Task) -> None:
    rendered = orjson.loads(json_response(task_fields(task)).body)
    assert rendered == TaskOut.of(task).model_dump(mode="json")
    assert list(rendered) == list(TaskOut.model_fields)  # nothing more: no lease, hash or workflow internals


def test_a_body_is_validated_as_the_model_would_be() -> None:
    body = b'{"tasks": [{"agent_type": "A", "priority": "low", "delay_seconds": 2}, {"agent_type": "B"}]}'
    assert parse_body(BatchIn, body) == BatchIn.model_validate({"tasks": [
        {"agent_type": "A", "priority": Priority.LOW, "delay_seconds": 2.0}, {"agent_type": "B"}]})  # fmt: skip


@pytest.mark.parametrize(
    ("body", "where", "kind"),
    [(b"", ("body",), "missing"), (b'{"agent_type": 5}', ("body", "agent_type"), "string_type"),
     (b'{"agent_type": "A", "bogus": 1}', ("body", "bogus"), "extra_forbidden"),
     (b'{"agent_type": "X\\ud800"}', ("body", "agent_type"), "string_unicode"),
     (b'{"agent_type": ', ("body",), "json_invalid"), (b'\xff\xfe', ("body",), "json_invalid")],
    ids=["empty", "wrong type", "unknown field", "lone surrogate", "truncated", "not UTF-8"],
)  # fmt: skip
def test_a_bad_body_is_the_error_fastapi_would_give(body: bytes, where: tuple[str, ...], kind: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        parse_body(TaskIn, body)
    first = caught.value.errors()[0]
    assert (tuple(first["loc"]), first["type"]) == (where, kind)
