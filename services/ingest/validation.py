"""Pure validation of what an upload carries besides the source (metadata, priority, a
custom thumbnail) and the `SourceInfo` a probed source becomes. The source's own content
rules are the pipeline's, shared with transcode: `services.shared.media.rules`."""

from __future__ import annotations

import re
from dataclasses import dataclass
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


#: BCP-47 as callers write it: a 2-3 letter language, then subtags (`en`, `pt-BR`, `zh-Hant`).
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class CaptionsRequest:
    """What a caller asks of captions: on (the default) or off, and a language to use
    instead of detecting one."""

    captions: bool = True
    language: str | None = None

    def fields(self) -> dict[str, Any]:
        """The `video-uploaded` fields."""
        return {"captions": self.captions, "captions_language": self.language}


def parse_flag(raw: object, name: str, default: bool) -> bool:
    """A form's or a JSON body's boolean (`true`/`false`, `1`/`0`, `on`/`off`, `yes`/`no`)."""
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if isinstance(raw, str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Rejection(f"invalid_{name}", f"{name} must be true or false, got {raw!r}")


def parse_language(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _BCP47.match(raw):
        raise Rejection("invalid_captions_language",
                        f"captions_language must be a BCP-47 tag such as en or pt-BR, got {raw!r}")
    return raw


def parse_captions(captions: object, language: object) -> CaptionsRequest:
    return CaptionsRequest(parse_flag(captions, "captions", True), parse_language(language))
