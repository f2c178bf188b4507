"""The submit routes' bodies: parsed by pydantic's JSON parser, answered with orjson.

FastAPI parses a body with the standard library's `json`, validates the resulting objects in Python
mode, then validates the returned model once more before serialising it. On `POST /tasks` that was
about a third of the API's time per request. The hot routes instead validate the raw body in one pass
(already bounded and checked by `BodyLimitMiddleware`) and render the stored tasks straight to JSON.
Errors keep FastAPI's shape (a `RequestValidationError` with `body`-rooted locations), and the OpenAPI
document still describes both bodies from the same models (`json_body`, `document_bodies`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from agentmesh.api.schemas import TaskOut
from agentmesh.domain.task import Task

Model = TypeVar("Model", bound=BaseModel)

TASK_FIELDS = tuple(TaskOut.model_fields)
REF_TEMPLATE = "#/components/schemas/{model}"


def parse_body(model: type[Model], raw: bytes) -> Model:
    """The validated body, or the same 4xx FastAPI gives for a body parameter."""
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if not any(error["type"] == "json_invalid" for error in exc.errors()):
            raise _request_error(exc) from None
    # pydantic's parser refuses some text the standard library reads, a lone surrogate escape say:
    # read it as FastAPI did, so that the answer names the field and the reason, or says it is not JSON.
    try:
        data = json.loads(raw)
    except ValueError:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _request_error(exc) from None


def _request_error(exc: ValidationError) -> RequestValidationError:
    errors = exc.errors(include_url=False, include_context=False)
    return RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in errors])


def task_fields(task: Task) -> dict[str, Any]:
    """A task as `TaskOut` shows it: the same fields, for orjson (which writes UUIDs, enums, datetimes)."""
    return {name: getattr(task, name) for name in TASK_FIELDS}


def json_response(content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """JSON written as pydantic would (UTC as `Z`), without a second validation of the content."""
    body = orjson.dumps(content, default=_other_uuid, option=orjson.OPT_UTC_Z)
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")


def _other_uuid(value: Any) -> str:
    """orjson writes `uuid.UUID` itself but not its subclasses, such as the one asyncpg returns."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` of a route that reads its body itself: the body is `model`, required."""
    schema = {"$ref": REF_TEMPLATE.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def document_bodies(app: FastAPI, models: tuple[type[BaseModel], ...]) -> Callable[[], dict[str, Any]]:
    """An `app.openapi` that also lists `models` (and what they refer to) under the schema components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # FastAPI caches it; adding the same entries again changes nothing
        components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            schema = model.model_json_schema(ref_template=REF_TEMPLATE)
            components.update(schema.pop("$defs", {}))
            components[model.__name__] = schema
        return document

    return openapi
