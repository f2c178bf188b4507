"""The pieces of API hardening on their own: key comparison, payload checks, body scan, redaction."""

from __future__ import annotations

import hmac
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from agentmesh.api import deps
from agentmesh.api.deps import bearer_ok, keys_match
from agentmesh.api.limits import Limits, body_nesting, check_json, check_text
from agentmesh.api.middleware import is_json_media_type, sane_request_id
from agentmesh.broker.redis import RedisBroker
from agentmesh.cli.runtime import install_log_redaction
from agentmesh.cli.serve import is_loopback, require_keys_off_loopback
from agentmesh.config import Settings, redact
from agentmesh.errors import BackendUnavailable, ConfigError
from agentmesh.store.postgres import PostgresStore
from tests.servers import free_port

KEYS = ("first-key", "second-key", "third-key")


@pytest.mark.parametrize("given", ["first-key", "third-key", "nope", "", "first-ke", "first-key ", "FIRST-KEY"])
def test_keys_are_compared_in_constant_time_against_every_key(monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(deps.hmac, "compare_digest", spy)
    assert keys_match(given, KEYS) is (given in KEYS)
    # One constant-time comparison per key, whether the first key matched or none did, and on
    # equal-length digests: neither the position of a match nor a key's length shows in the work done.
    assert len(calls) == len(KEYS)
    assert all(len(a) == len(b) == 32 for a, b in calls)


def test_bearer_header_parsing() -> None:
    assert bearer_ok("Bearer second-key", KEYS) and bearer_ok("bearer  second-key ", KEYS)
    for header in (None, "", "second-key", "Basic second-key", "Bearer", "Bearer second", "Token second-key"):
        assert not bearer_ok(header, KEYS), header


LIMITS = Limits(max_body_bytes=1024, max_depth=4, max_keys=6)


@pytest.mark.parametrize(("value", "mentions"), [
    ({"a": {"b": {"c": {"d": {}}}}}, "AGENTMESH_MAX_PAYLOAD_DEPTH"),
    ({"a": [[[[]]]]}, "AGENTMESH_MAX_PAYLOAD_DEPTH"),
    ({"a": 1, "b": 2, "c": {"d": 3, "e": 4, "f": 5, "g": 6}}, "AGENTMESH_MAX_PAYLOAD_KEYS"),
    ({"a": ["ok", "n\x00l"]}, "value at .a[1] must not contain U+0000"),
    ({"a": {"k\x00": 1}}, "key .a.k\\0 must not contain U+0000"),
    ({"s": "\ud800"}, "value at .s must not contain lone UTF-16 surrogates"),
    ({"\udfff": 1}, "surrogates"),
    ({"n": 2**63}, "integer at .n is outside the signed 64-bit range"),
    ({"n": -(2**63) - 1}, "64-bit"),
    ({"f": float("inf")}, "not finite"),
    ({"f": [float("nan")]}, "not finite"),
])  # fmt: skip
def test_payload_checks_name_the_problem(value: Any, mentions: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        check_json(value, LIMITS)
    assert mentions in str(caught.value)


def test_payload_checks_accept_the_edges() -> None:
    edge = {"a": {"b": {"c": [2**63 - 1, -(2**63), 1.5, True, None, "é😀<b>'--"]}}, "d": "", "e": 0}
    assert check_json(edge, LIMITS) is edge
    assert check_text("CEDRIC_WRITER") == "CEDRIC_WRITER"
    for bad in ("a\x00", "\ud83d"):
        with pytest.raises(ValueError):
            check_text(bad)


def test_a_hostile_depth_never_recurses() -> None:
    deep: Any = []
    for _ in range(200_000):  # far beyond the interpreter's recursion limit
        deep = [deep]
    with pytest.raises(ValueError, match="AGENTMESH_MAX_PAYLOAD_DEPTH"):
        check_json({"x": deep}, Limits())
    assert body_nesting(b"[" * 1_000_000 + b"]" * 1_000_000) == 1_000_000


@pytest.mark.parametrize(("body", "depth"), [
    (b"", 0), (b"7", 0), (b"{}", 1), (b'{"a": [1, {"b": []}]}', 4),
    (b'{"a": "[[[[{{{{"}', 1), (b'{"a": "\\"[[[["}', 1), (b'["\\\\", [[]]]', 3),
    (b'{"a": "unterminated [[[[', 1), (b'"' + b'\\"' * 100_000, 0),
])  # fmt: skip
def test_body_nesting_ignores_brackets_in_strings(body: bytes, depth: int) -> None:
    assert body_nesting(body) == depth


def test_body_nesting_is_linear_on_hostile_strings() -> None:
    started = time.monotonic()
    for body in (b'"\\' * 500_000, b'"a' * 500_000, b'["' * 500_000, b"\\" * 1_000_000):
        body_nesting(body)
    assert time.monotonic() - started < 5


def test_request_ids_and_media_types() -> None:
    assert sane_request_id("abc-123_X.y:z/=") == "abc-123_X.y:z/="
    for bad in (None, "", "a b", "x" * 129, "é", "a\nb", "a\x00"):
        assert sane_request_id(bad) is None
    for good in ("application/json", "Application/JSON; charset=utf-8", "application/merge-patch+json"):
        assert is_json_media_type(good)
    for bad in (None, "", "text/plain", "text/json", "application/x-www-form-urlencoded", "multipart/form-data"):
        assert not is_json_media_type(bad)


def test_public_hosts_need_keys_or_insecure() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
        require_keys_off_loopback(Settings(host=host), "api", insecure=False)
    for host in ("0.0.0.0", "::", "10.0.0.5", "api.example.com", ""):
        assert not is_loopback(host), host
        with pytest.raises(ConfigError, match="--insecure") as caught:
            require_keys_off_loopback(Settings(host=host), "api", insecure=False)
        assert "\n" not in str(caught.value)
        require_keys_off_loopback(Settings(host=host), "api", insecure=True)
        require_keys_off_loopback(Settings(host=host, api_keys=("k",)), "api", insecure=False)


def test_redact_every_password_form() -> None:
    cases = {
        "postgresql://mesh:s3cret@db:5432/x": "postgresql://mesh:***@db:5432/x",
        "postgresql://mesh:p@ss@db/x": "postgresql://mesh:***@db/x",
        "redis://:s3cret@cache:6379/0": "redis://:***@cache:6379/0",
        "rediss://user:s3cret@cache:6380": "rediss://user:***@cache:6380",
        "redis://cache:6379/0?password=s3cret&db=1": "redis://cache:6379/0?password=***&db=1",
        "postgresql:///mesh?host=/run/pg&password=s3cret": "postgresql:///mesh?host=/run/pg&password=***",
        "host=db password=s3cret user=mesh": "host=db password=*** user=mesh",
        "failed: postgresql://a:s3cret@h/d then redis://:s3cret@r:1": "failed: postgresql://a:***@h/d then redis://:***@r:1",
        "redis://cache:6379/0": "redis://cache:6379/0",
        "sqlite:////var/lib/mesh.db": "sqlite:////var/lib/mesh.db",
    }  # fmt: skip
    for raw, redacted in cases.items():
        assert redact(raw) == redacted


def test_logs_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    previous = logging.getLogRecordFactory()
    install_log_redaction()
    install_log_redaction()  # idempotent
    try:
        log = logging.getLogger("agentmesh.test")
        with caplog.at_level(logging.INFO, logger="agentmesh.test"):
            log.info("connecting to %s", "postgresql://mesh:s3cret@db/x")
            try:
                raise ConnectionError("redis://:s3cret@cache:6379 refused")
            except ConnectionError:
                log.exception("broker down")
            log.info("untouched %s and %d", "text", 3)
        text = caplog.text
        assert "s3cret" not in text and "postgresql://mesh:***@db/x" in text and "redis://:***@cache" in text
        assert "untouched text and 3" in text
    finally:
        logging.setLogRecordFactory(previous)


async def test_redis_errors_do_not_carry_passwords() -> None:
    broker = RedisBroker(f"redis://:s3cret-redis@127.0.0.1:{free_port()}/0")
    with pytest.raises(BackendUnavailable) as caught:
        await broker.open()
    await broker.close()
    assert "s3cret" not in str(caught.value) and "redis://:***@127.0.0.1" in str(caught.value), caught.value


async def test_postgres_errors_do_not_carry_passwords() -> None:
    store = PostgresStore(f"postgresql://mesh:s3cret-pg@127.0.0.1:{free_port()}/mesh")
    with pytest.raises(BackendUnavailable) as caught:
        await store.open()
    assert "s3cret" not in str(caught.value) and "postgresql://mesh:***@127.0.0.1" in str(caught.value), caught.value


def test_the_readme_documents_the_limits() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in ("AGENTMESH_MAX_BODY_BYTES", "AGENTMESH_MAX_PAYLOAD_DEPTH", "AGENTMESH_MAX_PAYLOAD_KEYS",
                 "AGENTMESH_API_KEYS", "X-Request-ID", "--insecure", "U+0000", "## Security and limits"):  # fmt: skip
        assert name in readme, name


def test_settings_never_show_a_secret() -> None:
    settings = Settings(db_dsn="postgresql://mesh:pg-s3cret@db/x", redis_url="redis://:redis-s3cret@cache:6379",
                        api_keys=("key-s3cret",))  # fmt: skip
    for shown in (repr(settings), str(settings)):
        assert "s3cret" not in shown and "postgresql://mesh:***@db/x" in shown
    assert settings.api_keys == ("key-s3cret",) and settings.db_dsn.endswith("pg-s3cret@db/x")
