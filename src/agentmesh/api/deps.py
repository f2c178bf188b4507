"""Request dependencies as `Annotated` aliases."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from agentmesh.mesh import Mesh


def get_mesh(request: Request) -> Mesh:
    mesh: Mesh = request.app.state.mesh
    return mesh


MeshDep = Annotated[Mesh, Depends(get_mesh)]


def keys_match(given: str, keys: tuple[str, ...]) -> bool:
    """Constant-time check against every key: no early exit on a prefix or on the first match."""
    given_bytes = given.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(given_bytes, key.encode())
    return found


def require_api_key(request: Request) -> None:
    keys: tuple[str, ...] = request.app.state.mesh.settings.api_keys
    if not keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not keys_match(token.strip(), keys):
        raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})
