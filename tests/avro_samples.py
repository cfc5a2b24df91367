"""Builds a fully populated sample value for any Avro schema (every optional branch set)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def sample(schema: Any, named: dict[str, Any] | None = None, *, pick_non_null: bool = True) -> Any:
    named = {} if named is None else named
    if isinstance(schema, str):
        if schema in named:
            return sample(named[schema], named)
        return _primitive(schema)
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"] if pick_non_null else schema
        return sample(branches[0], named) if branches else None
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "uuid":
        return str(uuid.UUID(int=7))
    if logical == "timestamp-millis":
        return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    if kind == "record":
        if "name" in schema:
            named[schema["name"]] = schema
            if "namespace" in schema:
                named[f'{schema["namespace"]}.{schema["name"]}'] = schema
        return {f["name"]: sample(f["type"], named) for f in schema["fields"]}
    if kind == "enum":
        named[schema["name"]] = schema
        return schema["symbols"][0]
    if kind == "array":
        return [sample(schema["items"], named)]
    if kind == "map":
        return {"k": sample(schema["values"], named)}
    if kind == "fixed":
        return b"\0" * schema["size"]
    return sample(kind, named)


def _primitive(name: str) -> Any:
    return {
        "null": None, "boolean": True, "int": 7, "long": 7, "float": 1.5, "double": 2.5,
        "bytes": b"\x00\x01", "string": "s",
    }[name]
