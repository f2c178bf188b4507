"""Request dependencies as `Annotated` aliases, and the API key check."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from agentmesh.mesh import Mesh


async def get_mesh(request: Request) -> Mesh:
    """Async on purpose, like every dependency here: a plain `def` costs a thread-pool hop per request."""
    mesh: Mesh = request.app.state.mesh
    return mesh


MeshDep = Annotated[Mesh, Depends(get_mesh)]


def keys_match(given: str, keys: tuple[str, ...]) -> bool:
    """Constant-time check against every key: no early exit on a prefix or on the first match.

    Both sides are hashed first, so the comparison does not even reveal a key's length.
    """
    given_digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    found = False
    for key in keys:
        found |= hmac.compare_digest(given_digest, hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest())
    return found


def bearer_ok(authorization: str | None, keys: tuple[str, ...]) -> bool:
    """Whether an `Authorization` header carries one of `keys` as a bearer token."""
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and keys_match(token.strip(), keys)


async def require_api_key(request: Request) -> None:
    """Route-level guard, kept behind the app-wide `ApiKeyMiddleware` as a second line."""
    keys: tuple[str, ...] = request.app.state.mesh.settings.api_keys
    if keys and not bearer_ok(request.headers.get("authorization"), keys):
        raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})
