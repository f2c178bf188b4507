"""Pure-ASGI middleware in front of every route, including /docs, /openapi.json and unknown paths.

Outermost first:

1. `RequestIdMiddleware`: every response carries `X-Request-ID` (the caller's when sane, else a
   new one); an unhandled exception is logged with that id and answered with a JSON 500 that
   names it, never a traceback.
2. `ApiKeyMiddleware`: with API keys configured, everything but `/healthz` needs
   `Authorization: Bearer <key>`. It runs before the body is read, so an anonymous caller
   cannot make the server buffer anything.
3. `BodyLimitMiddleware`: the body is read here, counted while it streams (chunked bodies have
   no Content-Length to trust), and refused when too large (413), not JSON (415) or nested so
   deep that the JSON parser would recurse out of its stack (422). The app's limits are put in
   force for the request schemas (see `agentmesh.api.limits`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders

from agentmesh.api.deps import bearer_ok
from agentmesh.api.errors import error
from agentmesh.api.limits import BODY_WRAPPER_DEPTH, Limits, body_nesting, limits_in_force
from agentmesh.config import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("agentmesh.api")

REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID = 128
OPEN_PATHS = frozenset({"/healthz"})


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Add the three middlewares in order (the last one added is the outermost)."""
    app.add_middleware(BodyLimitMiddleware, limits=Limits.of(settings))
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys)
    app.add_middleware(RequestIdMiddleware)


def sane_request_id(value: str | None) -> str | None:
    """A caller's request id, if it is safe to echo and log: 1 to 128 visible ASCII characters."""
    if value and len(value) <= MAX_REQUEST_ID and all("!" <= char <= "~" for char in value):
        return value
    return None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = sane_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER)) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("internal error, request %s: %s %s", request_id, scope.get("method"), scope.get("path"))
            if started:  # too late for a clean answer: let the server drop the connection
                raise
            response = error(500, "internal", "internal error; quote the request id when reporting it",
                             request_id=request_id)  # fmt: skip
            await response(scope, receive, send_with_id)


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: tuple[str, ...]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.keys and _route_path(scope) not in OPEN_PATHS:
            if not bearer_ok(Headers(scope=scope).get("authorization"), self.keys):
                response = error(401, "unauthorized", "missing or invalid API key",
                                 headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with limits_in_force(self.limits):
            headers = Headers(scope=scope)
            body = await self._read(headers, receive)
            refusal = self._refusal(headers, body)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            await self.app(scope, _replay(body or b"", receive), send)

    async def _read(self, headers: Headers, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it is known to be over the limit."""
        limit = self.limits.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away; nothing left to serve
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _refusal(self, headers: Headers, body: bytes | None) -> JSONResponse | None:
        limits = self.limits
        if body is None:
            return error(413, "payload_too_large",
                         f"request body is larger than {limits.max_body_bytes} bytes (AGENTMESH_MAX_BODY_BYTES)",
                         headers={"Connection": "close"})  # fmt: skip
        if not body:
            return None
        if not is_json_media_type(headers.get("content-type")):
            return error(415, "unsupported_media_type", "request body must be JSON (Content-Type: application/json)")
        allowed = limits.max_depth + BODY_WRAPPER_DEPTH
        if body_nesting(body) > allowed:
            return error(422, "invalid_request",
                         f"request body is nested deeper than {allowed} levels: payloads may nest "
                         f"{limits.max_depth} levels (AGENTMESH_MAX_PAYLOAD_DEPTH)")  # fmt: skip
        return None


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json` or `application/<anything>+json`, parameters such as charset allowed."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the real channel (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
