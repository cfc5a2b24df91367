"""What ingest's OpenAPI document declares beyond FastAPI's own inference: each route's
coded refusals (the shared `{error, detail}` model) and the bodies the routes read
themselves (the upload's streamed multipart form, the import and reprocess JSON), so a
client generator or a fuzzer sees every field without FastAPI buffering anything."""

from __future__ import annotations

from typing import Any

from services.ingest.rework import PROFILE_NAME, RUNG_NAME
from services.shared.http_errors import INVALID, KEYS_LOADING, UNAUTHENTICATED, refusals
from services.shared.media.rules import RULE_CODES

_RATE = "rate_limited (over the key's hourly limit; Retry-After)"
_BUSY = f"unavailable (Kafka or S3 is down; Retry-After), {KEYS_LOADING}"
_IDEMPOTENCY = "idempotency_key_in_progress (the first request with this key is running)"
_WRITE_422 = f"{INVALID}, invalid_idempotency_key, idempotency_key_reused"
_CONTENT = ("empty_file, invalid_metadata, invalid_priority, invalid_captions, "
            "invalid_captions_language, thumbnail_empty, "
            "thumbnail_unsupported, undecodable, and the content rules' codes: "
            + ", ".join(sorted(RULE_CODES)))
_PROTECTION_422 = "invalid_playback_policy, invalid_encryption"

UPLOAD = refusals({
    400: "missing_file, duplicate_file", 401: UNAUTHENTICATED, 409: _IDEMPOTENCY,
    413: "file_too_large, thumbnail_too_large", 415: "not_multipart",
    422: f"{_WRITE_422}, {_CONTENT}, {_PROTECTION_422}", 429: _RATE, 503: _BUSY})
IMPORT = refusals({
    400: "invalid_json, missing_source_uri", 401: UNAUTHENTICATED,
    403: "import_disabled, path_not_allowed, source_forbidden",
    404: "not_found", 409: _IDEMPOTENCY, 413: "request_too_large, file_too_large",
    422: f"{_WRITE_422}, invalid_source_uri, source_not_found, source_unreadable, "
         f"not_a_file, {_CONTENT}, {_PROTECTION_422}",
    429: _RATE, 503: _BUSY})
CANCEL = refusals({
    401: UNAUTHENTICATED, 404: "video_not_found",
    409: f"video_not_cancellable (already ready, failed or cancelled), {_IDEMPOTENCY}",
    422: _WRITE_422, 429: _RATE, 503: _BUSY})
REPROCESS = refusals({
    400: "invalid_json", 401: UNAUTHENTICATED, 404: "video_not_found", 409: _IDEMPOTENCY,
    413: "request_too_large", 422: f"{_WRITE_422}, invalid_profile, invalid_renditions, "
    "invalid_captions, invalid_captions_language, invalid_captions_only",
    429: _RATE, 503: _BUSY})
REPRIORITISE = refusals({
    400: "invalid_json", 401: UNAUTHENTICATED, 404: "video_not_found",
    409: f"video_not_reprioritisable (already transcoding, ready, failed or cancelled), "
         f"{_IDEMPOTENCY}",
    413: "request_too_large", 422: f"{_WRITE_422}, invalid_priority", 429: _RATE,
    503: _BUSY})
KEYS = refusals({400: "invalid_json", 401: UNAUTHENTICATED, 403: "admin_only",
                 422: f"{INVALID}, invalid_key_name, "
                 "invalid_rate_limit", 429: _RATE, 503: _BUSY})
POLICY = refusals({401: UNAUTHENTICATED, 404: "video_not_found",
                   409: "invalid_playback_policy (an encrypted video stays signed)",
                   422: f"{INVALID}, invalid_playback_policy", 429: _RATE, 503: _BUSY})
SIGNING_KEYS = refusals({401: UNAUTHENTICATED, 403: "admin_only (another tenant's key)",
                         422: INVALID, 429: _RATE, 503: _BUSY})
SIGNING_KEY = refusals({401: UNAUTHENTICATED, 404: "not_found", 422: INVALID,
                        429: _RATE, 503: _BUSY})
KEY = refusals({401: UNAUTHENTICATED, 403: "admin_only", 404: "not_found", 422: INVALID,
                429: _RATE, 503: _BUSY})

#: The spellings of a form's boolean, and a BCP-47 tag (`validation.parse_captions`).
FLAGS = ("true", "false", "1", "0", "yes", "no", "on", "off")
BCP47 = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
CAPTIONS_FIELDS: dict[str, Any] = {
    "captions": {"type": "boolean", "description": "speech-to-text captions, on by default"},
    "captions_language": {"type": ["string", "null"], "pattern": BCP47,
                          "description": "BCP-47 language of the speech (default: detected)"},
}

#: Protected playback (issue 14), in the upload form and the import body alike.
_PROTECTION_FIELDS: dict[str, Any] = {
    "playback_policy": {"type": "string", "enum": ["public", "signed"], "description":
                        "signed: every /media request needs a playback token; default: "
                        "the tenant's (REELFLOW_INGEST_TENANT_PLAYBACK_POLICIES), else "
                        "REELFLOW_INGEST_DEFAULT_PLAYBACK_POLICY"},
    "encryption": {"type": "string", "enum": ["cbcs"], "description":
                   "package with CENC cbcs and per-attempt keys (implies signed)"},
}
#: The upload's form as the route reads it from the stream (`upload.receive_form`).
UPLOAD_FORM: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {
        "schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "the video (one part)"},
                "metadata": {"type": "string", "description": "a JSON object: title, "
                             "description, tags (list of strings), other string fields"},
                "thumbnail": {"type": "string", "format": "binary",
                              "description": "a JPEG, PNG or WebP image"},
                "priority": {"type": "string", "pattern": "^(10|[1-9])$",
                             "description": "1 (low) to 10 (high), default 5"},
                "captions": {"type": "string", "enum": list(FLAGS),
                             "description": "speech-to-text captions, on by default"},
                "captions_language": {"type": "string", "pattern": BCP47,
                                      "description": "BCP-47 language of the speech "
                                      "(default: detected)"},
                **_PROTECTION_FIELDS,
            },
        },
        "encoding": {"file": {"contentType": "application/octet-stream, video/*"},
                     "thumbnail": {"contentType": "image/jpeg, image/png, image/webp"}},
    }}}}

IMPORT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {
        "type": "object", "required": ["source_uri"],
        "properties": {
            "source_uri": {"type": "string", "minLength": 1, "description":
                           "s3://bucket/key, or a server path under an allowed import root"},
            "metadata": {"type": "object", "additionalProperties": True},
            # The text form is taken too, as in the upload form.
            "priority": {"type": ["integer", "string"], "minimum": 1, "maximum": 10,
                         "pattern": "^(10|[1-9])$"},
            **CAPTIONS_FIELDS,
            **_PROTECTION_FIELDS,
        }}}}}}

REPROCESS_BODY: dict[str, Any] = {"requestBody": {"required": False, "content": {
    "application/json": {"schema": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "profile": {"type": "string", "pattern": PROFILE_NAME.pattern,
                        "description": "e.g. default, hevc, av1"},
            "renditions": {"type": "array", "minItems": 1,
                           "items": {"type": "string", "pattern": RUNG_NAME.pattern},
                           "description": 'rung names such as ["360p", "720p"]'},
            **CAPTIONS_FIELDS,
            "captions_only": {"type": "boolean", "description": "transcribe again and keep "
                              "the encoded package (no re-encoding)"},
        }}}}}}

# The tus routes (`routes/uploads.py`): the protocol's own statuses besides the usual.
_TUS_400 = ("invalid_tus_header, upload_length_required, checksum_algorithm_unsupported, "
            "invalid_upload_metadata")
_TUS_412 = "tus_version_unsupported (send Tus-Resumable: 1.0.0)"
_TUS_460 = "checksum_mismatch (the body does not match Upload-Checksum; nothing kept)"
_TUS_BODY = {400: _TUS_400, 412: _TUS_412, 413: "file_too_large, upload_exceeds_length",
             415: "invalid_content_type (application/offset+octet-stream)",
             423: "upload_locked", 460: _TUS_460, 503: _BUSY}
TUS_CREATE = refusals({**_TUS_BODY, 401: UNAUTHENTICATED, 429: _RATE,
                       422: f"{INVALID}, {_CONTENT}"})
TUS_DIRECT = refusals({**_TUS_BODY, 404: "upload_url_invalid",
                       410: "upload_url_expired, upload_url_used",
                       422: f"{INVALID}, {_CONTENT}"})
TUS_READ = refusals({401: UNAUTHENTICATED, 404: "upload_not_found", 412: _TUS_412,
                     422: INVALID, 429: _RATE, 503: _BUSY})
TUS_PATCH = refusals({**_TUS_BODY, 401: UNAUTHENTICATED, 404: "upload_not_found",
                      409: "upload_offset_mismatch", 422: f"{INVALID}, {_CONTENT}",
                      429: _RATE})
TUS_TERMINATE = refusals({401: UNAUTHENTICATED, 404: "upload_not_found", 412: _TUS_412,
                          422: INVALID, 423: "upload_locked", 429: _RATE, 503: _BUSY})

REPRIORITISE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {
        "type": "object", "required": ["priority"], "additionalProperties": False,
        "properties": {"priority": {"type": "integer", "minimum": 1, "maximum": 10,
                                    "description": "1 (low) to 10 (high)"}}}}}}}
