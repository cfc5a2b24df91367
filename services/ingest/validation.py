"""Pure validation of what an upload carries besides the source (metadata, priority, a
custom thumbnail) and the `SourceInfo` a probed source becomes. The source's own content
rules are the pipeline's, shared with transcode: `services.shared.media.rules`."""

from __future__ import annotations

from typing import Any

from services.ingest.errors import Rejection
from services.shared import source_facts
from services.shared.media.rules import ProbeFacts


def source_info(probe: ProbeFacts) -> dict[str, Any]:
    """The `SourceInfo` record of `video-uploaded` (spelled once, in shared.source_facts)."""
    return source_facts.source_info(probe).to_record()


IMAGE_SIGNATURES: tuple[tuple[str, str, bytes, int], ...] = (
    ("jpg", "image/jpeg", b"\xff\xd8\xff", 0),
    ("png", "image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("webp", "image/webp", b"WEBP", 8),
)


def thumbnail_kind(data: bytes, max_bytes: int) -> tuple[str, str]:
    """(extension, content type) of a custom thumbnail, judged by its magic bytes."""
    if not data:
        raise Rejection("thumbnail_empty", "the thumbnail part is empty")
    if len(data) > max_bytes:
        raise Rejection("thumbnail_too_large",
                        f"thumbnail is {len(data)} bytes; the maximum is {max_bytes}", 413)
    for ext, content_type, magic, at in IMAGE_SIGNATURES:
        if data[at:at + len(magic)] == magic and (ext != "webp" or data[:4] == b"RIFF"):
            return ext, content_type
    raise Rejection("thumbnail_unsupported", "the thumbnail must be a JPEG, PNG or WebP image")


def parse_priority(raw: str | None) -> int:
    if raw is None or raw == "":
        return 5
    try:
        value = int(raw)
    except ValueError:
        raise Rejection("invalid_priority", f"priority must be an integer 1-10, got {raw!r}") \
            from None
    if not 1 <= value <= 10:
        raise Rejection("invalid_priority", f"priority must be between 1 and 10, got {value}")
    return value


def parse_metadata(raw: str | None) -> dict[str, Any]:
    import json

    if raw is None or raw.strip() == "":
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise Rejection("invalid_metadata", f"metadata is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise Rejection("invalid_metadata", "metadata must be a JSON object")
    tags = value.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise Rejection("invalid_metadata", "metadata.tags must be a list of strings")
    for key in ("title", "description", "category", "author", "copyright", "language"):
        if key in value and not isinstance(value[key], str):
            raise Rejection("invalid_metadata", f"metadata.{key} must be a string")
    return value
