"""API hardening over real HTTP: hostile requests, API keys, request ids, the --host guard, redaction.

The hostile matrix runs against a real `agentmesh api` process (PostgreSQL + Redis); every
case must get its documented 4xx in the one JSON error shape, and store nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentmesh.config import Settings
from tests.acceptance.test_cli import one_line_error
from tests.conftest import LiveApi
from tests.procs import Processes, run_cli, settings_env
from tests.servers import free_port

WRITER = {"agent_type": "CEDRIC_WRITER", "payload": {"topic": "launch"}}
VALID = json.dumps(WRITER).encode()
TEN_MB = 10 * 1024 * 1024
LEAKS = ("Traceback", "File \"", "SELECT ", "INSERT ", "asyncpg", "sqlite3", "psycopg", "redis.exceptions")


def raw(body: bytes | str, content_type: str | None = "application/json") -> dict[str, Any]:
    """Request kwargs sending `body` byte for byte (JSON escapes such as \\ud800 stay as written)."""
    headers = {"content-type": content_type} if content_type else {}
    return {"content": body.encode() if isinstance(body, str) else body, "headers": headers}


def task(**fields: Any) -> dict[str, Any]:
    return {"json": {**WRITER, **fields}}


def payload(value: Any) -> dict[str, Any]:
    return {"json": {"agent_type": "CEDRIC_WRITER", "payload": value}}


def payload_text(text: str) -> dict[str, Any]:
    """A submission whose payload is the JSON text `text`, sent verbatim."""
    return raw('{"agent_type": "CEDRIC_WRITER", "payload": ' + text + "}")


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def chunked(size: int) -> Iterator[bytes]:
    """A body streamed without Content-Length (Transfer-Encoding: chunked)."""
    yield b'{"agent_type": "CEDRIC_WRITER", "payload": {"blob": "'
    chunk = b"x" * 65536
    for _ in range(size // len(chunk)):
        yield chunk
    yield b'"}}'


# (case, method, path, request kwargs, status, error code, the message mentions)
HOSTILE: list[tuple[str, str, str, dict[str, Any], int, str, str]] = [
    # -- content type and syntax
    ("text/plain body", "POST", "/tasks", raw(VALID, "text/plain"), 415, "unsupported_media_type", "json"),
    ("form body", "POST", "/tasks", raw(VALID, "application/x-www-form-urlencoded"), 415, "unsupported_media_type",
     "content-type"),
    ("no content type", "POST", "/tasks", raw(VALID, None), 415, "unsupported_media_type", "json"),
    ("truncated JSON", "POST", "/tasks", raw(VALID[:25]), 400, "malformed_json", "json"),
    ("trailing garbage", "POST", "/tasks", raw(VALID + b"}"), 400, "malformed_json", "json"),
    ("invalid UTF-8", "POST", "/tasks", raw(b'{"agent_type": "\xff\xfe", "payload": {}}'), 400, "", "body"),
    ("empty body", "POST", "/tasks", raw(b""), 422, "invalid_request", "body"),
    ("body is null", "POST", "/tasks", raw(b"null"), 422, "invalid_request", ""),
    ("body is a list", "POST", "/tasks", {"json": [WRITER]}, 422, "invalid_request", ""),
    ("body is a number", "POST", "/tasks", raw(b"7"), 422, "invalid_request", ""),
    # -- agent_type
    ("agent_type null", "POST", "/tasks", task(agent_type=None), 422, "invalid_request", "agent_type"),
    ("agent_type empty", "POST", "/tasks", task(agent_type=""), 422, "invalid_request", "agent_type"),
    ("agent_type is a list", "POST", "/tasks", task(agent_type=["CEDRIC_WRITER"]), 422, "invalid_request",
     "agent_type"),
    ("agent_type 201 chars", "POST", "/tasks", task(agent_type="A" * 201), 422, "invalid_request", "agent_type"),
    ("agent_type unicode", "POST", "/tasks", task(agent_type="Агент_🤖_エージェント"), 422, "unknown_agent",
     "unknown agent type"),
    ("agent_type RTL override", "POST", "/tasks", task(agent_type="\u202eRETIRW_CIDEC"), 422, "unknown_agent",
     "unknown agent type"),
    ("agent_type SQL", "POST", "/tasks", task(agent_type="x'; DROP TABLE tasks; --"), 422, "unknown_agent",
     "unknown agent type"),
    ("agent_type NUL", "POST", "/tasks", task(agent_type="CEDRIC\x00WRITER"), 422, "invalid_request", "U+0000"),
    ("agent_type lone surrogate", "POST", "/tasks", raw('{"agent_type": "X\\ud800", "payload": {}}'), 422,
     "invalid_request", "agent_type"),
    # -- size and shape limits
    ("10 MB body", "POST", "/tasks", payload({"blob": "x" * TEN_MB}), 413, "payload_too_large",
     "AGENTMESH_MAX_BODY_BYTES"),
    ("10 MB chunked body", "POST", "/tasks", {"content": chunked(TEN_MB), "headers": {
        "content-type": "application/json"}}, 413, "payload_too_large", "AGENTMESH_MAX_BODY_BYTES"),
    ("10,000-deep arrays", "POST", "/tasks", payload_text('{"a": ' + "[" * 10_000 + "]" * 10_000 + "}"), 422,
     "invalid_request", "AGENTMESH_MAX_PAYLOAD_DEPTH"),
    ("10,000-deep objects", "POST", "/tasks", payload_text('{"a": ' * 10_000 + "1" + "}" * 10_000), 422,
     "invalid_request", "AGENTMESH_MAX_PAYLOAD_DEPTH"),
    ("payload 33 deep", "POST", "/tasks", payload(nested(33)), 422, "invalid_request", "AGENTMESH_MAX_PAYLOAD_DEPTH"),
    ("10,001 keys", "POST", "/tasks", payload({"a": {f"k{i}": i for i in range(5001)},
                                                 "b": {f"k{i}": i for i in range(4999)}}), 422,
     "invalid_request", "AGENTMESH_MAX_PAYLOAD_KEYS"),
    # -- characters and numbers no backend stores verbatim
    ("NUL in a value", "POST", "/tasks", payload({"a": "x\x00y"}), 422, "invalid_request", "U+0000"),
    ("NUL in a key", "POST", "/tasks", payload({"a": {"k\x00": 1}}), 422, "invalid_request", "U+0000"),
    ("NUL deep in a list", "POST", "/tasks", payload({"a": [[["\x00"]]]}), 422, "invalid_request", "U+0000"),
    ("lone surrogate value", "POST", "/tasks", payload_text('{"a": "\\udc00"}'), 422, "invalid_request", "surrogate"),
    ("lone surrogate key", "POST", "/tasks", payload_text('{"\\ud83d": 1}'), 422, "invalid_request", "surrogate"),
    ("integer 2**64", "POST", "/tasks", payload_text('{"a": 18446744073709551616}'), 422, "invalid_request", "64-bit"),
    ("integer below -2**63", "POST", "/tasks", payload_text('{"a": -9223372036854775809}'), 422, "invalid_request",
     "64-bit"),
    ("integer of 400 digits", "POST", "/tasks", payload_text('{"a": ' + "9" * 400 + "}"), 422, "invalid_request",
     "64-bit"),
    ("NaN", "POST", "/tasks", payload_text('{"a": NaN}'), 422, "invalid_request", "finite"),
    ("-Infinity", "POST", "/tasks", payload_text('{"a": [-Infinity]}'), 422, "invalid_request", "finite"),
    ("1e400 overflows to inf", "POST", "/tasks", payload_text('{"a": 1e400}'), 422, "invalid_request", "finite"),
    # -- other fields
    ("payload is a list", "POST", "/tasks", payload([1, 2]), 422, "invalid_request", "payload"),
    ("payload is null", "POST", "/tasks", payload(None), 422, "invalid_request", "payload"),
    ("max_retries negative", "POST", "/tasks", task(max_retries=-1), 422, "invalid_request", "max_retries"),
    ("max_retries 101", "POST", "/tasks", task(max_retries=101), 422, "invalid_request", "max_retries"),
    ("max_retries 10**30", "POST", "/tasks", task(max_retries=10**30), 422, "invalid_request", "max_retries"),
    ("max_retries 1.5", "POST", "/tasks", task(max_retries=1.5), 422, "invalid_request", "max_retries"),
    ("max_retries true", "POST", "/tasks", task(max_retries=True), 422, "invalid_request", "max_retries"),
    ("delay negative", "POST", "/tasks", task(delay_seconds=-1), 422, "invalid_request", "delay_seconds"),
    ("delay 10**12 s", "POST", "/tasks", task(delay_seconds=10**12), 422, "invalid_request", "delay_seconds"),
    ("delay NaN", "POST", "/tasks", raw(VALID[:-1] + b', "delay_seconds": NaN}'), 422, "invalid_request",
     "delay_seconds"),
    ("priority unknown", "POST", "/tasks", task(priority="urgent"), 422, "invalid_request", "priority"),
    ("priority a number", "POST", "/tasks", task(priority=1), 422, "invalid_request", "priority"),
    ("idempotency key empty", "POST", "/tasks", task(idempotency_key=""), 422, "invalid_request", "idempotency_key"),
    ("idempotency key 257", "POST", "/tasks", task(idempotency_key="k" * 257), 422, "invalid_request",
     "idempotency_key"),
    ("idempotency key NUL", "POST", "/tasks", task(idempotency_key="k\x00"), 422, "invalid_request", "U+0000"),
    ("unknown field", "POST", "/tasks", task(**{"<script>": 1}), 422, "invalid_request", "<script>"),
    # -- batches
    ("batch of 1,001", "POST", "/tasks/batch", {"json": {"tasks": [WRITER] * 1001}}, 422, "invalid_request", "tasks"),
    ("empty batch", "POST", "/tasks/batch", {"json": {"tasks": []}}, 422, "invalid_request", "tasks"),
    ("batch with one NUL", "POST", "/tasks/batch", {"json": {"tasks": [WRITER, {**WRITER, "payload": {"x": "\x00"}}]}},
     422, "invalid_request", "U+0000"),
    ("batch not a list", "POST", "/tasks/batch", {"json": {"tasks": WRITER}}, 422, "invalid_request", "tasks"),
    # -- query strings
    ("limit 0", "GET", "/tasks", {"params": {"limit": 0}}, 422, "invalid_request", "limit"),
    ("limit 1001", "GET", "/tasks", {"params": {"limit": 1001}}, 422, "invalid_request", "limit"),
    ("limit 10**30", "GET", "/tasks", {"params": {"limit": 10**30}}, 422, "invalid_request", "limit"),
    ("limit negative", "GET", "/dead-letter", {"params": {"limit": -5}}, 422, "invalid_request", "limit"),
    ("status unknown", "GET", "/tasks", {"params": {"status": "DONE'; --"}}, 422, "invalid_request", "status"),
    ("agent_type filter NUL", "GET", "/tasks", {"params": {"agent_type": "a\x00"}}, 422, "invalid_request", "U+0000"),
    ("agent_type filter 201", "GET", "/tasks", {"params": {"agent_type": "a" * 201}}, 422, "invalid_request",
     "agent_type"),
    ("cursor traversal", "GET", "/tasks", {"params": {"cursor": "../../etc/passwd"}}, 422, "invalid_request",
     "cursor"),
    # -- ids and paths
    ("id not a uuid", "GET", "/tasks/not-a-uuid", {}, 422, "invalid_request", "task_id"),
    ("id SQL", "GET", "/tasks/' OR 1=1 --", {}, 422, "invalid_request", "task_id"),
    ("id NUL", "GET", "/tasks/%00", {}, 422, "invalid_request", "task_id"),
    ("id uuid + NUL", "GET", f"/tasks/{uuid.uuid4()}%00", {}, 422, "invalid_request", "task_id"),
    ("id encoded traversal", "GET", "/tasks/..%2F..%2Fetc%2Fpasswd", {}, 404, "not_found", ""),
    ("events of a traversal", "GET", "/tasks/..%2F..%2F/events", {}, 404, "not_found", ""),
    ("cancel not a uuid", "POST", "/tasks/nope/cancel", {}, 422, "invalid_request", "task_id"),
    ("requeue traversal", "POST", "/dead-letter/..%2Fqueues/requeue", {}, 404, "not_found", ""),
    ("unknown route", "GET", "/admin", {}, 404, "not_found", ""),
    ("dot-dot route", "GET", "/static/../../etc/passwd", {}, 404, "not_found", ""),
    ("DELETE a collection", "DELETE", "/tasks", {}, 405, "method_not_allowed", ""),
    ("PUT a task", "PUT", f"/tasks/{uuid.uuid4()}", {"json": WRITER}, 405, "method_not_allowed", ""),
    ("PATCH the queues", "PATCH", "/queues", {}, 405, "method_not_allowed", ""),
]  # fmt: skip


@pytest.fixture
def http(live_api: LiveApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_api.url, timeout=30) as client:
        yield client


def assert_error_shape(response: httpx.Response, status: int, code: str = "", mentions: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    body: dict[str, Any] = response.json()
    assert set(body) <= {"code", "message", "details", "request_id"} and body["code"] and body["message"]
    if code:
        assert body["code"] == code, body
    assert mentions.lower() in body["message"].lower(), body["message"]
    for leak in LEAKS:
        assert leak not in response.text, response.text[:500]
    return body


@pytest.mark.parametrize(("case", "method", "path", "kwargs", "status", "code", "mentions"), HOSTILE,
                         ids=[case[0] for case in HOSTILE])  # fmt: skip
def test_hostile_requests_get_their_4xx_and_store_nothing(
    live_api: LiveApi, http: httpx.Client, case: str, method: str, path: str, kwargs: dict[str, Any], status: int,
    code: str, mentions: str,
) -> None:  # fmt: skip
    before = live_api.total_tasks()
    response = http.request(method, path, **kwargs)
    assert_error_shape(response, status, code, mentions)
    assert live_api.total_tasks() == before
    assert http.get("/healthz").status_code == 200  # and the server is still there


def test_at_the_limits_is_accepted(http: httpx.Client) -> None:
    """The limits are inclusive: 32 levels, 10,000 keys, 64-bit integers, just under 1 MiB."""
    edge: dict[str, Any] = {"deep": nested(31), "min": -(2**63), "max": 2**63 - 1, "float": 1.5e300}
    edge["keys"] = {f"k{i}": i for i in range(10_000 - 5 - 30)}  # 5 keys on top, 30 in `deep`: 10,000 in all
    response = http.post("/tasks", json={"agent_type": "CEDRIC_WRITER", "payload": edge})
    assert response.status_code == 201, response.text[:300]
    assert response.json()["payload"] == edge
    big = {"agent_type": "CEDRIC_WRITER", "payload": {"blob": ""}}
    big["payload"]["blob"] = "y" * (1024 * 1024 - len(json.dumps(big)))
    body = json.dumps(big).encode()
    assert len(body) == 1024 * 1024
    accepted = http.post("/tasks", content=body, headers={"content-type": "application/json"})
    assert accepted.status_code == 201, accepted.text[:300]
    too_big = http.post("/tasks", content=body + b" ", headers={"content-type": "application/json"})
    assert_error_shape(too_big, 413, "payload_too_large", "1048576")


def test_request_ids(http: httpx.Client) -> None:
    mine = "req-" + uuid.uuid4().hex
    assert http.get("/healthz", headers={"x-request-id": mine}).headers["x-request-id"] == mine
    for insane in ("a" * 129, "has space", "tab\tinside", "ünïcode", ""):
        given = http.get("/healthz", headers={"x-request-id": insane.encode("utf-8")})
        assert given.headers["x-request-id"] != insane and 0 < len(given.headers["x-request-id"]) <= 128
    first, second = http.get("/queues"), http.get("/queues")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


# -- API keys ------------------------------------------------------------------------------
KEYS = ("alpha-key-0123456789", "beta-key-9876543210")


@pytest.fixture
def keyed_api(settings: Settings, procs: Processes) -> str:
    return procs.api(settings, AGENTMESH_API_KEYS=",".join(KEYS))


def every_route(http: httpx.Client) -> list[tuple[str, str]]:
    """Every operation of the schema, plus the docs and an unknown path."""
    schema = http.get("/openapi.json", headers={"authorization": f"Bearer {KEYS[0]}"}).json()
    routes = [(method.upper(), path.replace("{task_id}", str(uuid.uuid4())).replace("{workflow_id}", str(uuid.uuid4())))
              for path, operations in schema["paths"].items() for method in operations]  # fmt: skip
    extra = [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/redoc"), ("GET", "/docs/oauth2-redirect"),
             ("GET", "/no-such-route"), ("POST", "/tasks/batch")]  # fmt: skip
    return routes + extra


def test_every_route_but_healthz_needs_a_key(keyed_api: str) -> None:
    with httpx.Client(base_url=keyed_api, timeout=30) as http:
        routes = every_route(http)
        assert ("GET", "/healthz") in routes and len(routes) >= 18
        for method, path in routes:
            body = {"json": WRITER} if method == "POST" and path in ("/tasks",) else {}
            if path == "/healthz":
                assert http.request(method, path).status_code == 200
                continue
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": KEYS[0]},
                            {"authorization": f"Basic {KEYS[0]}"}, {"authorization": f"Bearer {KEYS[0][:-1]}"},
                            {"authorization": f"Bearer {KEYS[0]}x"}, {"authorization": "Bearer"}):  # fmt: skip
                refused = http.request(method, path, headers=headers, **body)
                error = assert_error_shape(refused, 401, "unauthorized", "API key")
                assert refused.headers["www-authenticate"] == "Bearer"
                assert not any(key in refused.text for key in KEYS), error
            for key in KEYS:
                allowed = http.request(method, path, headers={"authorization": f"Bearer {key}"}, **body)
                assert allowed.status_code not in (401, 403) and allowed.status_code < 500, (method, path, allowed.text)
        big = http.post("/tasks", content=b"x" * TEN_MB, headers={"content-type": "application/json"})
        assert big.status_code == 401  # refused before a byte of the body is buffered


def test_cli_client_commands_send_the_key(keyed_api: str, settings: Settings) -> None:
    env = {**settings_env(settings), "AGENTMESH_URL": keyed_api, "AGENTMESH_API_KEYS": KEYS[1]}
    submitted = run_cli(["submit", "CEDRIC_WRITER", "--payload", '{"topic": "keys"}'], env)
    assert submitted.returncode == 0, submitted.stderr
    task_id = json.loads(submitted.stdout)["id"]
    assert run_cli(["get", task_id], env).returncode == 0
    assert run_cli(["tasks", "--json"], env).returncode == 0
    assert run_cli(["dlq", "list", "--json"], env).returncode == 0
    wrong = run_cli(["tasks"], {**env, "AGENTMESH_API_KEYS": "nope"})
    one_line_error(wrong, "401", "API key")
    assert KEYS[1] not in wrong.stderr and "nope" not in wrong.stderr


# -- refusing to listen beyond loopback without keys ---------------------------------------
def test_api_refuses_a_public_host_without_keys(settings: Settings) -> None:
    env = settings_env(settings)
    for command in (["api", "--host", "0.0.0.0"], ["api", "--host", "::"], ["dev", "--host", "0.0.0.0"]):
        result = run_cli([*command, "--port", str(free_port())], env)
        one_line_error(result, "AGENTMESH_API_KEYS", "--insecure")
    from_env = run_cli(["api", "--port", str(free_port())], {**env, "AGENTMESH_HOST": "0.0.0.0"})
    one_line_error(from_env, "0.0.0.0", "--insecure")


# -- credentials never leak ----------------------------------------------------------------
def test_passwords_are_redacted_from_errors(settings: Settings) -> None:
    secret = "s3cr3t-Pa55"
    env = settings_env(settings)
    dead_pg = f"postgresql://mesh:{secret}@127.0.0.1:{free_port()}/mesh"
    dead_redis = f"redis://:{secret}@127.0.0.1:{free_port()}/0"
    cases = [
        (["migrate"], {"DB_DSN": dead_pg}),
        (["api"], {"REDIS_URL": dead_redis}),
        (["worker"], {"REDIS_URL": dead_redis}),
        (["api"], {"DB_DSN": f"{dead_pg}?password={secret}"}),
    ]
    for args, extra in cases:
        result = run_cli(args, {**env, **extra})
        one_line_error(result, "***")
        assert secret not in result.stderr + result.stdout
