"""The one error model of both HTTP APIs, `{error, detail}`, as the OpenAPI documents
declare it, and the one check every parameter passes before it can reach SQL.

A route declares its refusals with `refusals({status: "code, code"})`: each status gets
the shared `ErrorBody` schema and a description naming the codes it can carry, so a
client (or a fuzzer) knows every answer the route gives. The codes are listed in the
description, not as an enum, because validation adds content codes over time and an
unlisted one must not break a client that switches on the status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

#: The refusals every authenticated route can give, whatever it does.
UNAUTHENTICATED = "missing_api_key, invalid_api_key"
KEYS_LOADING = "keys_loading (the API keys are still loading; Retry-After)"
INVALID = "invalid_request (a parameter or body fails its declared schema), invalid_parameter"


class ErrorBody(BaseModel):
    """Every coded refusal of both APIs."""

    model_config = ConfigDict(extra="allow")  # `bad_status` also lists what is `allowed`

    error: str = Field(description="machine-readable code; the route's response lists them")
    detail: str | list[str] = Field(description="a human sentence (`bad_status`: the "
                                                "unknown statuses)")


class HealthBody(BaseModel):
    """`/health`'s answer, 200 or 503 alike: each dependency's check, `ok` or the error."""

    status: str = Field(description="ok or degraded")
    checks: dict[str, str | int]
    role: str | None = Field(None, description="the catalog's process role")


#: `/health` answers 503 with its own body (which check failed), not the error model.
HEALTH: dict[int | str, dict[str, Any]] = {
    200: {"model": HealthBody, "description": "Every dependency is reachable"},
    503: {"model": HealthBody, "description": "Degraded: the failing checks say why"}}
#: `/metrics` is Prometheus' text exposition format.
METRICS: dict[int | str, dict[str, Any]] = {200: {
    "description": "Prometheus text exposition format",
    "content": {"text/plain": {"schema": {"type": "string"}}}}}


def refusals(codes: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with the error model and its codes."""
    return {status: {"model": ErrorBody, "description": f"Refused: {names}"}
            for status, names in sorted(codes.items())}


class ParameterRefused(Exception):
    """A query, path or header parameter no text column can hold (422 invalid_parameter)."""

    def __init__(self, where: str, name: str) -> None:
        super().__init__(f"the {where} parameter `{name}` holds a NUL character, which no "
                         "text field can hold")


def _unholdable(text: str) -> bool:
    # PostgreSQL text cannot hold U+0000. Lone surrogates cannot arrive: Starlette decodes
    # the URL as UTF-8 with replacement, and headers as Latin-1.
    return "\x00" in text


async def plain_parameters(request: Request) -> None:
    """An app-wide dependency: runs before any route's own, so before any SQL."""
    scope = request.scope
    query: bytes = scope["query_string"]
    # A decoded NUL comes from a NUL byte or a `%00` escape: a request with neither (all
    # but a fuzzer's) needs no parsing here (parsing was 4 % of a detail's Python time).
    if (b"\x00" not in query and b"%00" not in query and "\x00" not in scope["path"]
            and not any(b"\x00" in value for _, value in scope["headers"])):
        return
    for name, value in request.query_params.multi_items():
        if _unholdable(name) or _unholdable(value):
            raise ParameterRefused("query", name.replace("\x00", "\\0"))
    for name, value in request.path_params.items():
        if isinstance(value, str) and _unholdable(value):
            raise ParameterRefused("path", name)
    for name, value in request.headers.items():
        if _unholdable(value):
            raise ParameterRefused("header", name)


def validation_problems(exc: RequestValidationError) -> str:
    """FastAPI's own checks (types, bounds, bodies) as one sentence for `invalid_request`."""
    return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"
                     for e in exc.errors())


def allowed_methods(request: Request, given: str | None) -> str | None:
    """The methods the API document lists for this path. Starlette's own 405 names only
    the first matching route's: GET and POST on one path are two routes, and
    `/videos/import` first matches `DELETE /videos/{video_id}`. A literal path wins over a
    template; a path the document does not hold keeps Starlette's answer."""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    path = request.url.path
    found = paths.get(path) or next(
        (ops for template, ops in paths.items()
         if re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), path)), None)
    return ", ".join(sorted(m.upper() for m in found)) if found else given


#: The framework's own refusals (no route, wrong method, a body that is not JSON), coded.
_FRAMEWORK_CODES = {400: "invalid_json", 404: "not_found", 405: "method_not_allowed"}


def install(app: FastAPI) -> None:
    """Answer ParameterRefused, and the framework's own HTTP errors, in the error model."""

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allow = allowed_methods(request, headers.get("Allow"))
            if allow:
                headers["Allow"] = allow
        return JSONResponse({"error": _FRAMEWORK_CODES.get(exc.status_code, "http_error"),
                             "detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=headers)

    @app.exception_handler(ParameterRefused)
    async def on_refused(_: Request, exc: ParameterRefused) -> JSONResponse:
        return JSONResponse({"error": "invalid_parameter", "detail": str(exc)},
                            status_code=422)
