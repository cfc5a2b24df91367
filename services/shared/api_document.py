"""What both OpenAPI documents state that FastAPI cannot infer from the routes:

- the `X-API-Key` security scheme, on every operation but the open ones (`/health`,
  `/metrics`, `/media`);
- that no text parameter may hold NUL (`http_errors.plain_parameters` refuses it with a
  coded 422 before any SQL);
- that a date-time query parameter also takes unix seconds, as FastAPI parses it;
- unique operation ids (FastAPI repeats one for a GET-and-HEAD route).

`install` wraps the app's `openapi()` once, so `/openapi.json` and `/docs` agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.shared.keyring import API_KEY_HEADER

#: Any text but U+0000, which no PostgreSQL text field can hold.
NO_NUL = "^[^\\x00]*$"
SCHEME = "ApiKey"
#: FastAPI (pydantic) also takes a number for a datetime: unix seconds, or milliseconds
#: beyond 2e10; the bounds are years 1 and 9999 in milliseconds.
UNIX_TIME = {"type": "number", "minimum": -62_135_596_800_000, "maximum": 253_402_300_799_999,
             "description": "unix seconds (milliseconds beyond 2e10)"}


def _no_nul(schema: dict[str, Any]) -> None:
    if schema.get("type") == "string" and "format" not in schema:
        schema.setdefault("pattern", NO_NUL)
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, ()):
            _no_nul(branch)
    if isinstance(schema.get("items"), dict):
        _no_nul(schema["items"])


def amend(document: dict[str, Any], open_prefixes: Iterable[str]) -> dict[str, Any]:
    """The document FastAPI generated, amended in place (pure: no app needed)."""
    opened = tuple(open_prefixes)
    document.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME] = {
        "type": "apiKey", "in": "header", "name": API_KEY_HEADER}
    seen: set[str] = set()
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            # One route for GET and HEAD (`/media`) gets one id twice from FastAPI; ids
            # must be unique for client generators.
            if operation.get("operationId") in seen:
                operation["operationId"] = f"{operation['operationId']}_{method}"
            seen.add(operation.get("operationId", ""))
            if not path.startswith(opened):
                operation.setdefault("security", [{SCHEME: []}])
            for parameter in operation.get("parameters", ()):
                schema = parameter.get("schema", {})
                _no_nul(schema)
                if parameter.get("in") == "query":
                    _widen_date_time(parameter)
    return document


def _widen_date_time(parameter: dict[str, Any]) -> None:
    schema = parameter["schema"]
    branches = schema.get("anyOf", [schema])
    if not any(b.get("format") == "date-time" for b in branches):
        return
    widened = [b for b in branches if b.get("type") != "null"]
    widened.append(UNIX_TIME)
    widened += [b for b in branches if b.get("type") == "null"]
    parameter["schema"] = {k: v for k, v in schema.items()
                           if k not in ("anyOf", "type", "format")} | {"anyOf": widened}


def install(app: FastAPI, open_prefixes: Iterable[str]) -> None:
    opened = tuple(open_prefixes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = amend(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes), opened)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
