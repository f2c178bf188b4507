"""One JSON error shape, `{"code", "message", "details"?}`, for every 4xx and 5xx."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from agentmesh.errors import (
    BackendUnavailable,
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    TaskNotFound,
    UnknownAgent,
)

log = logging.getLogger("agentmesh.api")

RETRY_AFTER_SECONDS = 5
MAX_DETAILS = 20
MAX_ECHO = 200  # characters of a caller's input echoed back in a message (e.g. a 100 kB unknown field name)


def error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
          headers: dict[str, str] | None = None, request_id: str | None = None) -> JSONResponse:  # fmt: skip
    """The one error body. Echoed input is cleaned so that the answer itself can never fail to encode."""
    body: dict[str, Any] = {"code": code, "message": _clean(message, 2 * MAX_ECHO)}
    if details:
        body["details"] = [_clean_detail(detail) for detail in details]
    if request_id is not None:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, headers=headers)


def request_id_of(request: Request) -> str | None:
    """The id `RequestIdMiddleware` gave this request (also sent as the `X-Request-ID` header)."""
    found: str | None = getattr(request.state, "request_id", None)
    return found


def _clean(text: str, width: int = MAX_ECHO) -> str:
    """Bounded, and valid UTF-8: a lone surrogate from the input becomes '?'."""
    if len(text) > width:
        text = text[:width] + "…"
    return text.encode("utf-8", "replace").decode("utf-8")


def _clean_detail(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        key: [_clean(str(part)) for part in value] if isinstance(value, list | tuple) else _clean(str(value))
        for key, value in detail.items()
    }


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(item.get("type") == "json_invalid" for item in errors):
        return error(400, "malformed_json", "request body is not valid JSON")
    details: list[dict[str, Any]] = [
        {"loc": [str(part) for part in item.get("loc", ())], "msg": str(item.get("msg", "")),
         "type": str(item.get("type", ""))}
        for item in errors[:MAX_DETAILS]
    ]  # fmt: skip
    if not details:
        return error(422, "invalid_request", "invalid request")
    loc: list[str] = details[0]["loc"]
    where = ".".join(loc[1:] if len(loc) > 1 else loc)
    first = str(details[0]["msg"]).removeprefix("Value error, ")
    message = f"{where}: {first}" if where else first
    return error(422, "invalid_request", message, details)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        codes = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                 413: "payload_too_large", 415: "unsupported_media_type"}  # fmt: skip
        return error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail),
                     headers=getattr(exc, "headers", None))  # fmt: skip

    @app.exception_handler(TaskNotFound)
    async def not_found(request: Request, exc: TaskNotFound) -> JSONResponse:
        return error(404, "not_found", str(exc))

    @app.exception_handler(InvalidTransition)
    async def conflict(request: Request, exc: InvalidTransition) -> JSONResponse:
        return error(409, "invalid_transition", str(exc))

    @app.exception_handler(IdempotencyConflict)
    async def idempotency(request: Request, exc: IdempotencyConflict) -> JSONResponse:
        return error(409, "idempotency_conflict", str(exc))

    @app.exception_handler(UnknownAgent)
    async def unknown_agent(request: Request, exc: UnknownAgent) -> JSONResponse:
        return error(422, "unknown_agent", str(exc))

    @app.exception_handler(InvalidInput)
    async def invalid_input(request: Request, exc: InvalidInput) -> JSONResponse:
        return error(422, "invalid_input", str(exc))

    @app.exception_handler(BackendUnavailable)
    async def unavailable(request: Request, exc: BackendUnavailable) -> JSONResponse:
        request_id = request_id_of(request)
        log.warning("request %s: %s %s: %s", request_id, request.method, request.url.path, exc)
        return error(503, "unavailable", "a backend is unavailable; retry later",
                     headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, request_id=request_id)  # fmt: skip

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        """Last resort behind `RequestIdMiddleware`, which answers unhandled errors itself."""
        request_id = request_id_of(request)
        log.exception("internal error, request %s: %s %s", request_id, request.method, request.url.path)
        return error(500, "internal", "internal error", request_id=request_id)
