"""What ingest's OpenAPI document declares beyond FastAPI's own inference: each route's
coded refusals (the shared `{error, detail}` model) and the bodies the routes read
themselves (the upload's streamed multipart form, the import and reprocess JSON), so a
client generator or a fuzzer sees every field without FastAPI buffering anything."""

from __future__ import annotations

from typing import Any

from fastapi import Response

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
POLICY = refusals({400: "invalid_json", 401: UNAUTHENTICATED, 404: "video_not_found",
                   409: "invalid_playback_policy (an encrypted video stays signed)",
                   422: f"{INVALID}, invalid_playback_policy", 429: _RATE, 503: _BUSY})
SIGNING_KEYS = refusals({401: UNAUTHENTICATED, 403: "admin_only (another tenant's key)",
                         422: INVALID, 429: _RATE, 503: _BUSY})
NEW_SIGNING_KEY = refusals({400: "invalid_json", 401: UNAUTHENTICATED,
                            403: "admin_only (another tenant's key)", 422: INVALID,
                            429: _RATE, 503: _BUSY})
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
                       404: "upload_not_found (the upload an Idempotency-Key created is gone)",
                       409: _IDEMPOTENCY, 422: f"{_WRITE_422}, {_CONTENT}"})
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

# The tus requests' headers and bodies (the routes read them from the request themselves),
# and the answers' headers, so a fuzzer and a client generator see the protocol.



def _header(name: str, description: str, schema: dict[str, Any],
            required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": schema}


_VERSION = _header("Tus-Resumable", "the tus version: 1.0.0 (412 otherwise)",
                   {"type": "string", "enum": ["1.0.0"]}, required=True)
_LENGTH = _header("Upload-Length", "the whole upload's size in bytes (up to Tus-Max-Size)",
                  {"type": "string", "pattern": "^[0-9]{1,15}$"}, required=True)
_METADATA = _header("Upload-Metadata", "comma-separated `key base64(value)` pairs: "
                    "filename, metadata (a JSON object), priority (1-10)",
                    {"type": "string", "pattern": "^[\\x20-\\x7e]*$"})
_CHECKSUM = _header("Upload-Checksum", "`sha1|sha256|md5 <base64 digest>` of this body "
                    "(460 if it does not match)", {"type": "string", "pattern": "^[\\x20-\\x7e]*$"})
_OFFSET = _header("Upload-Offset", "where this body starts: the upload's current offset "
                  "(409 otherwise)", {"type": "string", "pattern": "^[0-9]{1,15}$"},
                  required=True)
_IDEMPOTENT = _header("Idempotency-Key", "a retried creation with the same key answers "
                      "the first one's upload (Idempotent-Replayed: true)",
                      {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"})
#: An upload made from a direct-upload URL is reached by its unguessable id alone; a keyed
#: one only with its key.
_KEY_OR_DIRECT: list[dict[str, list[str]]] = [{"ApiKey": []}, {}]
_BYTES = {"application/offset+octet-stream": {"schema": {"type": "string",
                                                         "format": "binary"}}}


def _answer_headers(*names: str) -> dict[str, Any]:
    described = {
        "Tus-Resumable": "1.0.0", "Upload-Offset": "the bytes the upload holds now",
        "Upload-Expires": "when an unfinished upload is deleted (an HTTP-date)",
        "Upload-Length": "the whole upload's size", "Upload-Metadata": "as created",
        "Location": "the upload's URL (HEAD, PATCH, GET, DELETE it)",
        "Reelflow-Video-Id": "the accepted video, once the upload is complete",
        "Idempotent-Replayed": "true when this answers an earlier creation's retry"}
    return {name: {"description": described[name], "schema": {"type": "string"}}
            for name in names}


_CREATED = _answer_headers("Location", "Tus-Resumable", "Upload-Offset", "Upload-Expires",
                           "Reelflow-Video-Id")
_GRANT = {"type": "object", "required": ["url", "expires_at", "protocol"], "properties": {
    "url": {"type": "string", "description": "the one-time tus creation URL"},
    "expires_at": {"type": "string", "format": "date-time"},
    "protocol": {"type": "string"}}}

TUS_CREATE_DOC: dict[str, Any] = {
    "description": "With `Tus-Resumable`: a tus creation (and, with a body, its first "
                   "bytes); the answer is 201 with `Location` and no body. Without it: a "
                   "one-time direct-upload URL, as JSON.",
    "parameters": [{**_VERSION, "required": False}, {**_LENGTH, "required": False},
                   _METADATA, _CHECKSUM, _IDEMPOTENT],
    "requestBody": {"required": False, "content": _BYTES},
    "responses": {"201": {"description": "Created: the tus upload (headers) or the grant",
                          "headers": {**_CREATED, **_answer_headers("Idempotent-Replayed")},
                          "content": {"application/json": {"schema": _GRANT}}}}}
TUS_DIRECT_DOC: dict[str, Any] = {
    "parameters": [_VERSION, _LENGTH, _METADATA, _CHECKSUM],
    "requestBody": {"required": False, "content": _BYTES},
    "responses": {"201": {"description": "Created (no body)", "headers": _CREATED}}}
TUS_GET_DOC: dict[str, Any] = {"security": _KEY_OR_DIRECT}
TUS_HEAD_DOC: dict[str, Any] = {
    "parameters": [_VERSION], "security": _KEY_OR_DIRECT,
    "responses": {"200": {"description": "Where the upload stands (no body)",
                          "headers": _answer_headers("Tus-Resumable", "Upload-Offset",
                                                     "Upload-Length", "Upload-Expires",
                                                     "Upload-Metadata")}}}
TUS_PATCH_DOC: dict[str, Any] = {
    "parameters": [_VERSION, _OFFSET, _CHECKSUM], "security": _KEY_OR_DIRECT,
    "requestBody": {"required": True, "content": _BYTES},
    "responses": {"204": {"description": "Appended",
                          "headers": _answer_headers("Tus-Resumable", "Upload-Offset",
                                                     "Upload-Expires", "Reelflow-Video-Id")}}}
#: `OPTIONS` (tus discovery), on each tus path: open, no key, no body.
TUS_OPTIONS: dict[str, Any] = {
    "response_class": Response, "summary": "tus discovery: version, extensions, limits",
    "responses": refusals({422: INVALID}),
    "openapi_extra": {"security": [], "responses": {"204": {
        "description": "What this server speaks (no body)",
        "headers": {name: {"description": text, "schema": {"type": "string"}} for name, text in (
            ("Tus-Resumable", "1.0.0"), ("Tus-Version", "1.0.0"),
            ("Tus-Extension", "creation,creation-with-upload,termination,checksum,expiration"),
            ("Tus-Max-Size", "the largest Upload-Length taken"),
            ("Tus-Checksum-Algorithm", "sha1,sha256,md5"))}}}}}
TUS_TERMINATE_DOC: dict[str, Any] = {
    "parameters": [_VERSION], "security": _KEY_OR_DIRECT,
    "responses": {"204": {"description": "Terminated: nothing of it is left",
                          "headers": _answer_headers("Tus-Resumable")}}}
REPRIORITISE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {
        "type": "object", "required": ["priority"], "additionalProperties": False,
        "properties": {"priority": {"type": "integer", "minimum": 1, "maximum": 10,
                                    "description": "1 (low) to 10 (high)"}}}}}}}
