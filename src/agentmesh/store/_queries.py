"""Load named SQL queries from a resource file.

A query starts at a `-- name: NAME` line and runs to the next one; the lines after the
header that start with `--` document it.
"""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load_queries(filename: str) -> dict[str, str]:
    text = resources.files("agentmesh.store").joinpath("sql", filename).read_text(encoding="utf-8")
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise RuntimeError(f"{filename}: query {name!r} defined twice")
        queries[name] = body.strip()
    return queries
