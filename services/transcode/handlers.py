"""Pure pieces of the transcode service: where outputs go, and the events that announce them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.shared.events import derived_event_id, now


@dataclass(frozen=True)
class StoredArtifact:
    name: str
    uri: str
    content_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class StoredOutput:
    """One encoded output, uploaded: what `rendition-done` says about it."""

    rendition: str
    media_type: str  # VIDEO | AUDIO | IMAGES
    uri: str
    container: str
    codecs: str
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    frame_rate: float | None
    bitrate: int
    size_bytes: int
    sha256: str
    duration_seconds: float
    quality: dict[str, Any] | None
    artifacts: tuple[StoredArtifact, ...] = ()


def attempt_prefix(video_id: str, attempt: int) -> str:
    """Outputs are attempt-scoped, so a redo or a reprocess never overwrites a referenced file."""
    return f"renditions/{video_id}/{attempt}"


def rendition_done_events(upload: dict[str, Any], outputs: list[StoredOutput], profile: str,
                          keyframe_interval_s: float,
                          encode_seconds: float) -> list[dict[str, Any]]:
    expected = sorted(o.rendition for o in outputs)
    return [
        {
            # Deterministic: a redone job emits the same ids, so consumers see a repeat.
            "event_id": derived_event_id(str(upload["event_id"]), "rendition", o.rendition),
            "video_id": upload["video_id"],
            "occurred_at": now(),
            "attempt": upload["attempt"],
            "rendition": o.rendition,
            "media_type": o.media_type,
            "expected_renditions": expected,
            "uri": o.uri,
            "container": o.container,
            "codecs": o.codecs,
            "video_codec": o.video_codec,
            "audio_codec": o.audio_codec,
            "width": o.width,
            "height": o.height,
            "frame_rate": o.frame_rate,
            "keyframe_interval_seconds": keyframe_interval_s if o.media_type == "VIDEO" else None,
            "bitrate": o.bitrate,
            "size_bytes": o.size_bytes,
            "sha256": o.sha256,
            "duration_seconds": o.duration_seconds,
            "encode_seconds": encode_seconds,
            "profile": profile,
            "quality": o.quality,
            "artifacts": [
                {"name": a.name, "uri": a.uri, "content_type": a.content_type,
                 "size_bytes": a.size_bytes, "sha256": a.sha256}
                for a in o.artifacts
            ],
            "source_size_bytes": upload.get("source_size_bytes"),
            "source_filename": upload.get("source_filename"),
            "user_metadata_json": upload.get("user_metadata_json") or "{}",
            "uploaded_at": upload["occurred_at"],
        }
        for o in outputs
    ]


def failure_event(upload: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    return {
        "event_id": derived_event_id(str(upload["event_id"]), "failed"),
        "video_id": upload["video_id"],
        "occurred_at": now(),
        "attempt": upload.get("attempt", 1),
        "stage": "transcode",
        "error_code": code,
        "error_message": message,
    }


def progress_event(upload: dict[str, Any], stage: str, percent: float) -> dict[str, Any]:
    return {
        "event_id": derived_event_id(str(upload["event_id"]), "progress", stage, round(percent, 1)),
        "video_id": upload["video_id"],
        "occurred_at": now(),
        "attempt": upload["attempt"],
        "stage": stage,
        "percent": round(min(100.0, max(0.0, percent)), 1),
    }
