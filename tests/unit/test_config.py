"""Configuration: environment names of the spec, one-line errors, redaction."""

from __future__ import annotations

import pytest

from agentmesh.config import env_names, load_settings, redact
from agentmesh.errors import ConfigError


def test_defaults_match_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.db_dsn == "sqlite:///./agentmesh.db" and settings.redis_url is None
    assert (settings.concurrency, settings.max_retries, settings.backoff_base, settings.lease_seconds) == (5, 5, 2, 30)
    assert settings.api_keys == () and settings.agents == ()


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_ADDR", "cache:6380")
    monkeypatch.setenv("AGENTMESH_API_KEYS", "a, b,,c")
    monkeypatch.setenv("AGENTMESH_AGENTS", "my.agents,other.agents")
    monkeypatch.setenv("DB_DSN", "postgresql://u:p@db:5432/mesh")
    settings = load_settings()
    assert settings.redis_url == "redis://cache:6380"
    assert settings.api_keys == ("a", "b", "c")
    assert settings.agents == ("my.agents", "other.agents")
    assert settings.store_kind == "postgres"
    assert load_settings(concurrency=50).concurrency == 50  # a CLI flag overrides the environment


def test_redis_url_wins_over_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_ADDR", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://:secret@cache:6379/2")
    assert load_settings().redis_url == "redis://:secret@cache:6379/2"


@pytest.mark.parametrize(("variable", "value"), [
    ("DB_DSN", "mysql://root@db/x"),
    ("DB_DSN", "sqlite:///"),
    ("AGENTMESH_CONCURRENCY", "0"),
    ("AGENTMESH_CONCURRENCY", "many"),
    ("AGENTMESH_MAX_RETRIES", "-1"),
    ("AGENTMESH_BACKOFF_BASE", "0"),
    ("AGENTMESH_LEASE_SECONDS", "-5"),
    ("REDIS_ADDR", "http://cache:6379"),
])  # fmt: skip
def test_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert variable in message and "\n" not in message


def test_passwords_are_redacted() -> None:
    assert redact("postgresql://mesh:s3cret@db:5432/x") == "postgresql://mesh:***@db:5432/x"
    assert redact("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact("sqlite:///./agentmesh.db") == "sqlite:///./agentmesh.db"
