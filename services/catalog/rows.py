"""Pure: the insert-only rows one event adds beside the video row. No I/O.

Every row has a natural key (renditions: video, attempt, rendition; packages: video,
attempt; timeline: event_id; dead letters: the DeadLetter's event_id) and is written
with `ON CONFLICT DO NOTHING`, so a repeat of an event adds nothing. JSONB values are left
as the event has them (datetimes, bytes, the timeline's details the event itself): the
store's JSON encoder writes those.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from schemas import (
    DEAD_LETTER,
    PACKAGING_FAILED,
    PLAYBACK_POLICY_CHANGED,
    RENDITION_DONE,
    RENDITION_SCORED,
    TRANSCODE_FAILED,
    TRANSCODE_PROGRESS,
    VIDEO_CANCELLED,
    VIDEO_REPRIORITISED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
    events,
)
from schemas.events import DeadLetter, Event, RenditionDone, RenditionScored

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
    RENDITION_SCORED.name: "scored",
    DEAD_LETTER.name: "dead-lettered",
    PLAYBACK_POLICY_CHANGED.name: "policy",
    VIDEO_REPRIORITISED.name: "reprioritised",
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
class ScoreRow(Row):
    table: ClassVar[str] = "rendition_scores"


@dataclass(frozen=True)
class PackageRow(Row):
    table: ClassVar[str] = "packages"


@dataclass(frozen=True)
class TimelineRow(Row):
    table: ClassVar[str] = "timeline"


@dataclass(frozen=True)
class DeadLetterRow(Row):
    table: ClassVar[str] = "dead_letters"


def rendition_row(event: RenditionDone) -> RenditionRow:
    quality = event.quality or events.Quality()
    return RenditionRow({
        "video_id": event.video_id,
        "attempt": event.attempt,
        "rendition": event.rendition,
        "event_id": event.event_id,
        "occurred_at": event.occurred_at,
        "media_type": event.media_type.value,
        "uri": event.uri,
        "container": event.container,
        "codecs": event.codecs,
        "video_codec": event.video_codec,
        "audio_codec": event.audio_codec,
        "width": event.width,
        "height": event.height,
        "frame_rate": event.frame_rate,
        "keyframe_interval_seconds": event.keyframe_interval_seconds,
        "bitrate": event.bitrate,
        "size_bytes": event.size_bytes,
        "sha256": event.sha256,
        "duration_seconds": event.duration_seconds,
        "encode_seconds": event.encode_seconds,
        "profile": event.profile,
        # No quality record means no scores, and no below-floor verdict either.
        "vmaf": quality.vmaf,
        "psnr": quality.psnr,
        "ssim": quality.ssim,
        "vmaf_floor": quality.vmaf_floor,
        "below_floor": quality.below_floor if event.quality else None,
        "frames_scored": quality.frames_scored,
        "artifacts": [a.to_record() for a in event.artifacts],
        "captions_outcome": event.captions_outcome,
        "language": event.language,
        "language_probability": event.language_probability,
    })


def score_row(event: RenditionScored) -> ScoreRow:
    quality = event.quality
    return ScoreRow({
        "video_id": event.video_id,
        "attempt": event.attempt,
        "rendition": event.rendition,
        "event_id": event.event_id,
        "occurred_at": event.occurred_at,
        "rendition_event_id": event.rendition_event_id,
        "vmaf": quality.vmaf,
        "psnr": quality.psnr,
        "ssim": quality.ssim,
        "vmaf_floor": quality.vmaf_floor,
        "below_floor": quality.below_floor,
        "frames_scored": quality.frames_scored,
        "model": event.model,
        "subsample": event.subsample,
        "score_seconds": event.score_seconds,
        "chunks": [c.to_record() for c in event.chunks],
    })


def package_row(event: events.VideoTranscoded) -> PackageRow:
    # `current` is not decided here: it follows the video's current_package_attempt.
    return PackageRow({
        "video_id": event.video_id,
        "attempt": event.attempt,
        "event_id": event.event_id,
        "occurred_at": event.occurred_at,
        "package_uri": event.package_uri,
        "hls_master_uri": event.hls_master_uri,
        "dash_manifest_uri": event.dash_manifest_uri,
        "metadata_uri": event.metadata_uri,
        "duration_seconds": event.duration_seconds,
        "total_bytes": event.total_bytes,
        "latency_ms": event.latency_ms,
        "renditions": [r.to_record() for r in event.renditions],
        "revision": event.revision,
        "captions_language": event.captions_language,
    })


def thumbnails_of(event: RenditionDone) -> dict[str, Any]:
    """The thumbnail set a `thumbnails` rendition-done announces.

    The main `uri` is the primary thumbnail; artifacts are the further images, and the
    storyboard (WebVTT or JSON index) and sprite sheet when the transcoder made them.
    """
    images, storyboard, sprite = [], None, None
    for artifact in event.artifacts:
        name = artifact.name.lower()
        if "storyboard" in name or artifact.content_type in ("text/vtt", "application/json"):
            storyboard = artifact.uri
        elif "sprite" in name:
            sprite = artifact.uri
        elif artifact.content_type.startswith("image/"):
            images.append({"name": artifact.name, "uri": artifact.uri,
                           "content_type": artifact.content_type,
                           "size_bytes": artifact.size_bytes})
    return {"attempt": event.attempt, "primary": event.uri, "images": images,
            "storyboard": storyboard, "sprite": sprite}


def summary(event: Event) -> str:
    """One human line for the timeline."""
    match event:
        case events.VideoUploaded():
            sized = f", {event.source_size_bytes} bytes" if event.source_size_bytes else ""
            return (f"attempt {event.attempt} submitted ({event.origin}{sized}): "
                    f"{event.source_filename or event.source_uri}")
        case events.VideoCancelled():
            who = f" by {event.requested_by}" if event.requested_by else ""
            return f"cancelled{who}" + (f": {event.reason}" if event.reason else "")
        case events.TranscodeProgress():
            return f"{event.stage} {event.percent:.0f}%"
        case RenditionDone():
            shape = f" {event.width}x{event.height}" if event.width else ""
            vmaf = event.quality.vmaf if event.quality else None
            scored = f", VMAF {vmaf:.1f}" if vmaf is not None else ""
            return f"{event.rendition} ready{shape}, {event.bitrate // 1000} kb/s{scored}"
        case RenditionScored():
            figures = event.quality
            shown = f"VMAF {figures.vmaf:.1f}" if figures.vmaf is not None else "no VMAF"
            floor = ", below the floor" if figures.below_floor else ""
            return f"{event.rendition} scored: {shown}{floor}"
        case events.StageFailed():
            return f"{event.stage} failed: {event.error_code}: {event.error_message}"
        case events.VideoTranscoded():
            latency = event.latency_ms
            took = f" {latency / 1000:.1f} s after upload" if latency is not None else ""
            return f"playable{took}: {len(event.renditions)} renditions packaged"
        case events.PlaybackPolicyChanged():
            who = f" by {event.requested_by}" if event.requested_by else ""
            return f"playback policy set to {event.playback_policy}{who}"
        case events.VideoReprioritised():
            who = f" by {event.requested_by}" if event.requested_by else ""
            was = f" (was {event.previous_priority})" if event.previous_priority else ""
            return f"attempt {event.attempt} reprioritised to {event.priority}{was}{who}"
        case DeadLetter():
            return (f"dead-lettered by {event.consumer_group} from {event.original_topic}"
                    f"/{event.original_partition}@{event.original_offset}: "
                    f"{event.error_code}")
    return type(event).__name__


#: A dead letter's payload and trace stay in its own row, out of the timeline's details.
_NOT_DETAILS = frozenset({"original_value", "original_key", "stacktrace"})


def timeline_row(topic: str, event: Event, position: Position,
                 video_id: str | None = None) -> TimelineRow:
    # The event itself: the store's JSON encoder writes a record class as the dict its
    # `to_record()` makes (orjson: a dataclass' fields in order, enums as their values,
    # tuples as lists), without building that dict first. A dead letter's is filtered.
    details: Any = event
    if isinstance(event, DeadLetter):
        details = {k: v for k, v in event.to_record().items() if k not in _NOT_DETAILS}
    return TimelineRow({
        "event_id": event.event_id,
        "video_id": video_id or getattr(event, "video_id", None),
        "occurred_at": event.occurred_at,
        "kind": KINDS.get(topic, topic),
        "topic": topic,
        "partition": position.partition,
        "offset": position.offset,
        "attempt": getattr(event, "attempt", None),
        "summary": summary(event),
        "details": details,
    })


def dead_letter_rows(event: DeadLetter, position: Position) -> tuple[Row, ...]:
    """The dead letter itself, and a timeline entry when it names a video."""
    row = DeadLetterRow({
        "id": event.event_id,
        "video_id": event.video_id,
        "occurred_at": event.occurred_at,
        "original_topic": event.original_topic,
        "original_partition": event.original_partition,
        "original_offset": event.original_offset,
        "original_timestamp": event.original_timestamp,
        "original_key": event.original_key,
        "original_value": event.original_value,
        "original_headers": [h.to_record() for h in event.original_headers],
        "consumer_group": event.consumer_group,
        "error_code": event.error_code,
        "error_class": event.error_class,
        "error_message": event.error_message,
        "stacktrace": event.stacktrace,
        "attempts": event.attempts,
        "redrive_count": event.redrive_count,
        "dead_letter_partition": position.partition,
        "dead_letter_offset": position.offset,
    })
    video_id = video_uuid(event.video_id)
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
