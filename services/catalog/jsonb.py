"""JSON text for jsonb columns from event values, which hold datetimes, bytes and (valid in
Avro, not in JSON) NaN or infinite doubles.

orjson, because this is the projector's hottest encoder (every timeline entry's details,
every rendition's artifacts): it is several times faster than the stdlib's C encoder, and
already writes what the columns need: datetimes as `isoformat()` writes them, NaN and the
infinities as null, tuples as lists. Only bytes call back (base64, as before).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS  # as json.dumps, which turns int keys into text


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump_bytes(value: Any) -> bytes:
    """JSON for a JSONB column, UTF-8 encoded; NaN and infinities (valid Avro doubles)
    become null."""
    return orjson.dumps(value, default=_json_default, option=_OPTIONS)


def dumps(value: Any) -> str:
    """`dump_bytes` as text."""
    return dump_bytes(value).decode()
