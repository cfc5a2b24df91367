"""JSON text for jsonb columns from event values, which hold datetimes, bytes and (valid in
Avro, not in JSON) NaN or infinite doubles."""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime
from typing import Any


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# The C encoder calls back only for datetimes and bytes: far cheaper than walking events.
# One encoder for every call: `json.dumps` with options would build a new one each time.
_dumps_strict = json.JSONEncoder(default=_json_default, separators=(",", ":"),
                                 allow_nan=False).encode


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """JSON for a JSONB column; NaN and infinities (valid Avro doubles) become null."""
    try:
        return _dumps_strict(value)
    except ValueError:  # only the rare event with a non-finite double pays for the walk
        return _dumps_strict(_finite(value))
