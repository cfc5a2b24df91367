"""Pure: the insert-only rows one event adds beside the video row. No I/O.

Every row has a natural key (renditions: video, attempt, rendition; packages: video,
attempt; timeline: event_id; dead letters: the DeadLetter's event_id) and is written
with `ON CONFLICT DO NOTHING`, so a repeat of an event adds nothing. JSONB values are left
as the event has them (datetimes, bytes): the store's JSON encoder writes those.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from schemas import (
    DEAD_LETTER,
    PACKAGING_FAILED,
    RENDITION_DONE,
    TRANSCODE_FAILED,
    TRANSCODE_PROGRESS,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
)

Event = Mapping[str, Any]

#: The rendition whose main file and artifacts are the video's thumbnails.
THUMBNAILS_RENDITION = "thumbnails"

#: Timeline entry kinds (the entry's `topic` and `details.stage` say more).
KINDS = {
    VIDEO_UPLOADED.name: "uploaded",
    VIDEO_CANCELLED.name: "cancelled",
    TRANSCODE_PROGRESS.name: "progress",
    RENDITION_DONE.name: "rendition",
    TRANSCODE_FAILED.name: "failed",
    VIDEO_TRANSCODED.name: "transcoded",
    PACKAGING_FAILED.name: "failed",
    DEAD_LETTER.name: "dead-lettered",
}


@dataclass(frozen=True)
class Position:
    """Where a record was read: the timeline and dead letters keep it for provenance."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Row:
    table: ClassVar[str]
    values: dict[str, Any]


@dataclass(frozen=True)
class RenditionRow(Row):
    table: ClassVar[str] = "renditions"


@dataclass(frozen=True)
class PackageRow(Row):
    table: ClassVar[str] = "packages"


@dataclass(frozen=True)
class TimelineRow(Row):
    table: ClassVar[str] = "timeline"


@dataclass(frozen=True)
class DeadLetterRow(Row):
    table: ClassVar[str] = "dead_letters"


def rendition_row(event: Event) -> RenditionRow:
    quality = event.get("quality") or {}
    return RenditionRow({
        "video_id": event["video_id"],
        "attempt": event["attempt"],
        "rendition": event["rendition"],
        "event_id": event["event_id"],
        "occurred_at": event["occurred_at"],
        "media_type": event["media_type"],
        "uri": event["uri"],
        "container": event.get("container"),
        "codecs": event.get("codecs"),
        "video_codec": event.get("video_codec"),
        "audio_codec": event.get("audio_codec"),
        "width": event.get("width"),
        "height": event.get("height"),
        "frame_rate": event.get("frame_rate"),
        "keyframe_interval_seconds": event.get("keyframe_interval_seconds"),
        "bitrate": event.get("bitrate"),
        "size_bytes": event.get("size_bytes"),
        "sha256": event.get("sha256"),
        "duration_seconds": event.get("duration_seconds"),
        "encode_seconds": event.get("encode_seconds"),
        "profile": event.get("profile"),
        "vmaf": quality.get("vmaf"),
        "psnr": quality.get("psnr"),
        "ssim": quality.get("ssim"),
        "vmaf_floor": quality.get("vmaf_floor"),
        "below_floor": quality.get("below_floor"),
        "frames_scored": quality.get("frames_scored"),
        "artifacts": event.get("artifacts") or [],
    })


def package_row(event: Event) -> PackageRow:
    # `current` is not decided here: it follows the video's current_package_attempt.
    return PackageRow({
        "video_id": event["video_id"],
        "attempt": event["attempt"],
        "event_id": event["event_id"],
        "occurred_at": event["occurred_at"],
        "package_uri": event["package_uri"],
        "hls_master_uri": event["hls_master_uri"],
        "dash_manifest_uri": event.get("dash_manifest_uri"),
        "metadata_uri": event.get("metadata_uri"),
        "duration_seconds": event.get("duration_seconds"),
        "total_bytes": event.get("total_bytes"),
        "latency_ms": event.get("latency_ms"),
        "renditions": event.get("renditions") or [],
    })


def thumbnails_of(event: Event) -> dict[str, Any]:
    """The thumbnail set a `thumbnails` rendition-done announces.

    The main `uri` is the primary thumbnail; artifacts are the further images, and the
    storyboard (WebVTT or JSON index) and sprite sheet when the transcoder made them.
    """
    images, storyboard, sprite = [], None, None
    for artifact in event.get("artifacts") or []:
        name = str(artifact["name"]).lower()
        if "storyboard" in name or artifact["content_type"] in ("text/vtt", "application/json"):
            storyboard = artifact["uri"]
        elif "sprite" in name:
            sprite = artifact["uri"]
        elif str(artifact["content_type"]).startswith("image/"):
            images.append({"name": artifact["name"], "uri": artifact["uri"],
                           "content_type": artifact["content_type"],
                           "size_bytes": artifact.get("size_bytes", 0)})
    return {"attempt": event["attempt"], "primary": event["uri"], "images": images,
            "storyboard": storyboard, "sprite": sprite}


def summary(topic: str, event: Event) -> str:
    """One human line for the timeline."""
    if topic == VIDEO_UPLOADED.name:
        size = event.get("source_size_bytes")
        sized = f", {size} bytes" if size else ""
        return (f"attempt {event['attempt']} submitted ({event.get('origin', 'upstream')}"
                f"{sized}): {event.get('source_filename') or event['source_uri']}")
    if topic == VIDEO_CANCELLED.name:
        who = f" by {event['requested_by']}" if event.get("requested_by") else ""
        return f"cancelled{who}" + (f": {event['reason']}" if event.get("reason") else "")
    if topic == TRANSCODE_PROGRESS.name:
        return f"{event['stage']} {event['percent']:.0f}%"
    if topic == RENDITION_DONE.name:
        shape = f" {event['width']}x{event['height']}" if event.get("width") else ""
        vmaf = (event.get("quality") or {}).get("vmaf")
        scored = f", VMAF {vmaf:.1f}" if vmaf is not None else ""
        return (f"{event['rendition']} ready{shape}, {event.get('bitrate', 0) // 1000} kb/s"
                f"{scored}")
    if topic in (TRANSCODE_FAILED.name, PACKAGING_FAILED.name):
        return f"{event['stage']} failed: {event['error_code']}: {event['error_message']}"
    if topic == VIDEO_TRANSCODED.name:
        latency = event.get("latency_ms")
        took = f" {latency / 1000:.1f} s after upload" if latency is not None else ""
        return f"playable{took}: {len(event.get('renditions') or [])} renditions packaged"
    if topic == DEAD_LETTER.name:
        return (f"dead-lettered by {event['consumer_group']} from {event['original_topic']}"
                f"/{event['original_partition']}@{event['original_offset']}: "
                f"{event['error_code']}")
    return topic


def timeline_row(topic: str, event: Event, position: Position,
                 video_id: str | None = None) -> TimelineRow:
    details = {k: v for k, v in event.items()
               if k not in ("original_value", "original_key", "stacktrace")}
    return TimelineRow({
        "event_id": event["event_id"],
        "video_id": video_id or event["video_id"],
        "occurred_at": event["occurred_at"],
        "kind": KINDS.get(topic, topic),
        "topic": topic,
        "partition": position.partition,
        "offset": position.offset,
        "attempt": event.get("attempt"),
        "summary": summary(topic, event),
        "details": details,
    })


def dead_letter_rows(event: Event, position: Position) -> tuple[Row, ...]:
    """The dead letter itself, and a timeline entry when it names a video."""
    row = DeadLetterRow({
        "id": event["event_id"],
        "video_id": event.get("video_id"),
        "occurred_at": event["occurred_at"],
        "original_topic": event["original_topic"],
        "original_partition": event["original_partition"],
        "original_offset": event["original_offset"],
        "original_timestamp": event.get("original_timestamp"),
        "original_key": event.get("original_key"),
        "original_value": event.get("original_value"),
        "original_headers": event.get("original_headers") or [],
        "consumer_group": event["consumer_group"],
        "error_code": event["error_code"],
        "error_class": event["error_class"],
        "error_message": event["error_message"],
        "stacktrace": event.get("stacktrace", ""),
        "attempts": event.get("attempts", 1),
        "redrive_count": event.get("redrive_count", 0),
        "dead_letter_partition": position.partition,
        "dead_letter_offset": position.offset,
    })
    video_id = video_uuid(event.get("video_id"))
    if video_id is None:
        return (row,)
    return (row, timeline_row(DEAD_LETTER.name, event, position, video_id))


def video_uuid(value: object) -> str | None:
    """The canonical UUID text, or None: a garbage record's key is not a video id."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
