"""What the Producer API accepts: size, shape and characters of a request, checked in one place.

A task's strings are stored verbatim, so the API refuses up front what a backend cannot hold
or would silently change, on every backend alike:

- U+0000 anywhere (PostgreSQL `jsonb` and `text` cannot hold it; SQLite could, but a task must
  not depend on the backend it lands on),
- lone UTF-16 surrogates (not encodable as UTF-8),
- integers outside the signed 64-bit range and non-finite numbers (`NaN`, `Infinity`, which
  JSON does not have and would come back as `null`),
- payloads nested deeper than `AGENTMESH_MAX_PAYLOAD_DEPTH` or holding more than
  `AGENTMESH_MAX_PAYLOAD_KEYS` keys in all.

The walk is iterative: a hostile payload cannot exhaust the interpreter's stack.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from agentmesh.config import Settings

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# A request body wraps a payload in a few levels ({"tasks": [{"payload": ...}]}): the raw-body
# pre-check allows that much more than the payload depth limit.
BODY_WRAPPER_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_keys: int = 10_000

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_body_bytes, settings.max_payload_depth, settings.max_payload_keys)


# The limits of the app serving the current request: set by the body-limit middleware, read by the
# request schemas (pydantic validators have no access to the request). Defaults outside a request.
_active: ContextVar[Limits | None] = ContextVar("agentmesh_limits", default=None)
DEFAULT_LIMITS = Limits()


def active_limits() -> Limits:
    return _active.get() or DEFAULT_LIMITS


@contextmanager
def limits_in_force(limits: Limits) -> Iterator[None]:
    token = _active.set(limits)
    try:
        yield
    finally:
        _active.reset(token)


def check_text(value: str) -> str:
    """Refuse what no backend stores verbatim: U+0000 and lone surrogates. Returns `value`."""
    if "\x00" in value:
        raise ValueError("must not contain U+0000 (NUL)")
    if _has_surrogate(value):
        raise ValueError("must not contain lone UTF-16 surrogates")
    return value


def check_json(value: Any, limits: Limits) -> Any:
    """Refuse a JSON value over the depth or key limits or holding what cannot be stored. Returns `value`.

    The error message names the limit and, for a bad value, where in the payload it is.
    """
    keys = 0
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict | list):
            if depth > limits.max_depth:
                raise ValueError(f"nested deeper than {limits.max_depth} levels (AGENTMESH_MAX_PAYLOAD_DEPTH)")
            if isinstance(node, dict):
                keys += len(node)
                if keys > limits.max_keys:
                    raise ValueError(f"holds more than {limits.max_keys} keys in all (AGENTMESH_MAX_PAYLOAD_KEYS)")
                for key, child in node.items():
                    where = f"{path}.{_short(key)}"
                    if not isinstance(key, str):  # pragma: no cover - JSON keys are strings
                        raise ValueError(f"key at {where or '.'} is not a string")
                    _check_leaf_text(key, f"key {where}")
                    stack.append((child, depth + 1, where))
            else:
                stack.extend((child, depth + 1, f"{path}[{index}]") for index, child in enumerate(node))
        elif isinstance(node, str):
            _check_leaf_text(node, f"value at {path or '.'}")
        elif isinstance(node, bool) or node is None:
            pass
        elif isinstance(node, int):
            if not INT64_MIN <= node <= INT64_MAX:
                raise ValueError(f"integer at {path or '.'} is outside the signed 64-bit range")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ValueError(f"number at {path or '.'} is not finite (NaN and Infinity are not JSON)")
        else:  # pragma: no cover - parsed JSON holds nothing else
            raise ValueError(f"value at {path or '.'} is not JSON")
    return value


def _check_leaf_text(value: str, where: str) -> None:
    try:
        check_text(value)
    except ValueError as exc:
        raise ValueError(f"{where} {exc}") from None


def _short(key: str, width: int = 40) -> str:
    """A key as shown in an error message: bounded, printable."""
    shown = key if len(key) <= width else key[:width] + "…"
    return shown.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\\0")


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# -- the raw body, before any JSON parser sees it ---------------------------------------------
# The closing quote is optional so that a match never fails once started: an unterminated
# string swallows the rest (the parser refuses it anyway) and the scan stays linear.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def body_nesting(body: bytes) -> int:
    """Deepest bracket nesting of a JSON text, strings ignored; linear time, no recursion.

    Run before parsing: Python's JSON parser recurses and raises RecursionError past
    about a thousand levels, which must be a 4xx naming the limit, not a parser crash.
    """
    if body.count(b"[") + body.count(b"{") == 0:
        return 0
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)
