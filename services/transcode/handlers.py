"""Pure pieces of the transcode service: the events that announce its outputs."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import (
    Artifact,
    MediaType,
    Quality,
    RenditionDone,
    SourceInfo,
    TranscodeProgress,
    VideoUploaded,
)
from services.shared.events import derived_event_id, now


@dataclass(frozen=True)
class StoredOutput:
    """One encoded output, uploaded: what `rendition-done` says about it."""

    rendition: str
    media_type: MediaType
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
    quality: Quality | None
    artifacts: tuple[Artifact, ...] = ()


@dataclass(frozen=True)
class MeasuredSource:
    """What transcode itself learned of the source object: it read every byte and probed it."""

    sha256: str
    size_bytes: int
    info: SourceInfo


def rendition_done_events(upload: VideoUploaded, source: MeasuredSource,
                          outputs: list[StoredOutput], profile: str,
                          keyframe_interval_s: float,
                          encode_seconds: float,
                          tone_mapped_from: str | None = None) -> list[RenditionDone]:
    expected = tuple(sorted(o.rendition for o in outputs))
    return [
        RenditionDone(
            # Deterministic: a redone job emits the same ids, so consumers see a repeat.
            event_id=derived_event_id(upload.event_id, "rendition", o.rendition),
            video_id=upload.video_id,
            occurred_at=now(),
            attempt=upload.attempt,
            rendition=o.rendition,
            media_type=o.media_type,
            expected_renditions=expected,
            uri=o.uri,
            container=o.container,
            codecs=o.codecs,
            video_codec=o.video_codec,
            audio_codec=o.audio_codec,
            width=o.width,
            height=o.height,
            frame_rate=o.frame_rate,
            keyframe_interval_seconds=(keyframe_interval_s if o.media_type is MediaType.VIDEO
                                       else None),
            bitrate=o.bitrate,
            size_bytes=o.size_bytes,
            sha256=o.sha256,
            duration_seconds=o.duration_seconds,
            encode_seconds=encode_seconds,
            profile=profile,
            quality=o.quality,
            artifacts=o.artifacts,
            # Measured, not copied: an upstream publisher may have declared none of these.
            source_size_bytes=source.size_bytes,
            source_filename=upload.source_filename,
            source_sha256=source.sha256,
            source_info=source.info,
            tone_mapped_from=tone_mapped_from if o.media_type is MediaType.VIDEO else None,
            user_metadata_json=upload.user_metadata_json or "{}",
            uploaded_at=upload.occurred_at,
        )
        for o in outputs
    ]


def progress_event(upload: VideoUploaded, stage: str, percent: float) -> TranscodeProgress:
    return TranscodeProgress(
        event_id=derived_event_id(upload.event_id, "progress", stage, round(percent, 1)),
        video_id=upload.video_id,
        occurred_at=now(),
        attempt=upload.attempt,
        stage=stage,
        percent=round(min(100.0, max(0.0, percent)), 1),
    )
