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


def error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:  # fmt: skip
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


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
    message = f"{where}: {details[0]['msg']}" if where else str(details[0]["msg"])
    return error(422, "invalid_request", message, details)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        codes = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
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
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return error(503, "unavailable", "a backend is unavailable; retry later",
                     headers={"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error(500, "internal", "internal error")
