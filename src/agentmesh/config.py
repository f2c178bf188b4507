"""Twelve-factor configuration: environment first, CLI flags override.

Every variable of the spec lives here, so the docker-compose test and the README can
check their names against one place. Invalid values raise `ConfigError` with one line
that names the variable.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agentmesh.errors import ConfigError

DEFAULT_DSN = "sqlite:///./agentmesh.db"


class Settings(BaseSettings):
    """All knobs of a mesh process. Field aliases are the environment variable names."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    db_dsn: str = Field(DEFAULT_DSN, validation_alias="DB_DSN")
    redis_url: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL", "REDIS_ADDR"))
    redis_prefix: str = Field("", validation_alias="AGENTMESH_REDIS_PREFIX")
    concurrency: int = Field(5, ge=1, le=100_000, validation_alias="AGENTMESH_CONCURRENCY")
    max_retries: int = Field(5, ge=0, le=1000, validation_alias="AGENTMESH_MAX_RETRIES")
    backoff_base: float = Field(2.0, gt=0, le=3600, validation_alias="AGENTMESH_BACKOFF_BASE")
    backoff_max: float = Field(600.0, gt=0, validation_alias="AGENTMESH_BACKOFF_MAX")
    backoff_jitter: float = Field(0.1, ge=0, le=1, validation_alias="AGENTMESH_BACKOFF_JITTER")
    lease_seconds: float = Field(30.0, gt=0, validation_alias="AGENTMESH_LEASE_SECONDS")
    shutdown_grace: float = Field(30.0, ge=0, validation_alias="AGENTMESH_SHUTDOWN_GRACE")
    reconcile_seconds: float = Field(5.0, gt=0, validation_alias="AGENTMESH_RECONCILE_SECONDS")
    reconcile_grace: float = Field(15.0, gt=0, validation_alias="AGENTMESH_RECONCILE_GRACE")
    # Testing only: "crash_after_commit" makes a producer die between the commit and the push.
    fault_injection: Literal["crash_after_commit"] | None = Field(None, validation_alias="AGENTMESH_FAULT_INJECTION")
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="AGENTMESH_API_KEYS", repr=False)
    agents: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias="AGENTMESH_AGENTS")
    db_pool_size: int = Field(10, ge=1, le=1000, validation_alias="AGENTMESH_DB_POOL_SIZE")
    host: str = Field("127.0.0.1", validation_alias="AGENTMESH_HOST")
    port: int = Field(8000, ge=0, le=65535, validation_alias="AGENTMESH_PORT")
    url: str = Field("http://127.0.0.1:8000", validation_alias="AGENTMESH_URL")
    # Request limits of the Producer API (see agentmesh.api.limits). Depth stays far below the
    # recursion limits of the JSON parser and encoders, so a limit breach is always a clean 4xx.
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=1024**3, validation_alias="AGENTMESH_MAX_BODY_BYTES")
    max_payload_depth: int = Field(32, ge=1, le=128, validation_alias="AGENTMESH_MAX_PAYLOAD_DEPTH")
    max_payload_keys: int = Field(10_000, ge=1, le=10_000_000, validation_alias="AGENTMESH_MAX_PAYLOAD_KEYS")

    @field_validator("api_keys", "agents", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _normalise_redis(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, str) and "://" not in value:
            return f"redis://{value}"
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
                raise ValueError("expected host:port or redis://host:port/db")
        return value

    @field_validator("db_dsn")
    @classmethod
    def _check_dsn(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme == "sqlite":
            if not value.startswith("sqlite:///") or value == "sqlite:///":
                raise ValueError("expected sqlite:///path/to/file.db")
        elif scheme in ("postgresql", "postgres"):
            if not urlsplit(value).hostname and "host=" not in value:
                raise ValueError("expected postgresql://user:password@host:port/database")
        else:
            raise ValueError(
                f"unsupported scheme {scheme or value!r}: use sqlite:///path.db or postgresql://user:pw@host/db"
            )
        return value

    def __repr_args__(self) -> Any:
        """No secret in a repr (a log line, a test failure): URL passwords redacted, API keys left out."""
        for name, value in super().__repr_args__():
            yield name, redact(value) if isinstance(value, str) else value

    @property
    def store_kind(self) -> str:
        """`"sqlite"` or `"postgres"`, from the DSN scheme."""
        return "sqlite" if self.db_dsn.startswith("sqlite:") else "postgres"

    @property
    def sqlite_path(self) -> str:
        """Filesystem path of a `sqlite:///path` DSN (`sqlite:////abs/path` for absolute)."""
        return self.db_dsn.removeprefix("sqlite:///")


def load_settings(**overrides: Any) -> Settings:
    """Read the environment, apply non-None overrides (CLI flags), or raise one-line ConfigError."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        raise ConfigError(f"invalid configuration: {_env_name(field)}: {error['msg']}") from None


def _env_name(loc: str) -> str:
    """The variable behind a validation error: the one actually set when a field has several names."""
    for field in Settings.model_fields:
        names = _names_of(field)
        if loc == field or loc in names:
            set_names = [name for name in names if name in os.environ]
            return " / ".join(set_names or names)
    return loc


def env_names() -> set[str]:
    """Every environment variable the configuration reads."""
    return {name for field in Settings.model_fields for name in _names_of(field)}


def _names_of(field: str) -> list[str]:
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [str(alias or field)]


_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):([^\s/]*)@")
_PASSWORD_PARAM = re.compile(r"(?i)\b(password|passwd|pwd)=([^&\s'\"]+)")


def redact(url: str) -> str:
    """Hide passwords in a DSN or Redis URL (or any text holding one), for logs and error messages.

    Covers `scheme://user:pw@host` and `?password=pw` / libpq `password=pw` forms.
    """
    return _PASSWORD_PARAM.sub(r"\1=***", _PASSWORD.sub(r"\1:***@", url))
