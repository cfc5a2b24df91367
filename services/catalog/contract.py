"""What the catalog's OpenAPI document declares beyond FastAPI's own inference: each
route's coded refusals (the shared `{error, detail}` model) and the media types `/media`
really serves."""

from __future__ import annotations

from typing import Any

from services.catalog.media import CONTENT_TYPES
from services.shared.http_errors import (
    INVALID,
    KEYS_LOADING,
    UNAUTHENTICATED,
    ErrorBody,
    refusals,
)

_READ = {401: UNAUTHENTICATED, 422: INVALID, 503: KEYS_LOADING}
_PAGED = {**_READ, 400: "bad_cursor"}

VIDEOS = refusals({**_PAGED, 422: f"{INVALID}, bad_status (with the `allowed` statuses)"})
VIDEO: dict[int | str, dict[str, Any]] = {
    **refusals({**_READ, 404: "not_found"}),
    304: {"description": "Not Modified: `If-None-Match` named the answer's current `ETag`"
          " (no body)"},
}
EVENTS = refusals({**_PAGED, 404: "not_found"})
TRANSCRIPT = refusals({**_READ, 404: "not_found (no such video, or no transcript yet)"})
STATS = refusals(_READ)
DEAD_LETTERS = refusals({**_PAGED, 403: "admin_only"})
DEAD_LETTER = refusals({**_READ, 403: "admin_only", 404: "not_found"})
CONSOLE = refusals({**_READ, 403: "admin_only"})
REDRIVE = refusals({**_READ, 403: "admin_only", 404: "not_found",
                    410: "dead_letter_gone", 422: f"{INVALID}, dead_letter_unreadable",
                    503: f"kafka_unavailable, {KEYS_LOADING}"})
REPLAY = refusals({**_READ, 403: "admin_only", 409: "group_active (stop its consumers "
                   "first)", 503: f"kafka_unavailable, {KEYS_LOADING}"})

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_OBJECT = {"content": {kind: _BINARY for kind in
                       sorted({*CONTENT_TYPES.values(), "application/octet-stream"})}}

#: `/media` serves objects, not JSON: every type `media.content_type` can answer.
MEDIA: dict[int | str, dict[str, Any]] = {
    200: {"description": "The whole object", **_OBJECT},
    206: {"description": "The requested byte range (Range: bytes=a-b)", **_OBJECT},
    403: {"model": ErrorBody, "description": "Refused (a signed video's object): "
          "token_missing, token_expired, token_invalid, token_wrong_video, "
          "token_wrong_audience"},
    404: {"model": ErrorBody, "description": "Refused: not_found (no such object, or not "
          "a playback object)"},
    416: {"description": "The range is outside the object (Content-Range: bytes */size)"},
    422: {"model": ErrorBody, "description": f"Refused: {INVALID}"},
    502: {"model": ErrorBody, "description": "Refused: storage_error"},
    503: {"model": ErrorBody, "description": "Refused: storage_unavailable, keys_loading "
          "(Retry-After)"},
}

_TOKEN = ("token_missing, token_expired, token_invalid, token_wrong_video, "
          "token_wrong_audience")
_BYTES = {"application/octet-stream": _BINARY}
LICENSE: dict[int | str, dict[str, Any]] = {
    **refusals({400: "invalid_license_request", 403: _TOKEN,
                404: "not_found (no content keys)", 422: INVALID,
                503: "keys_loading, key_unavailable (Retry-After)"}),
}
HLS_KEY: dict[int | str, dict[str, Any]] = {
    200: {"description": "The 16-byte content key", "content": _BYTES},
    **refusals({403: _TOKEN, 404: "not_found (no content keys)", 422: INVALID,
                503: "keys_loading, key_unavailable (Retry-After)"}),
}
CPIX: dict[int | str, dict[str, Any]] = {
    200: {"description": "A CPIX 2.3 document", "content": {"application/xml": {
        "schema": {"type": "string"}}}},
    **refusals({**_READ, 404: "not_found", 503: f"{KEYS_LOADING}, key_unavailable"}),
}
