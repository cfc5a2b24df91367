"""Pure pieces of the transcode service: the events that announce its outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # the encoder's module is the shell's; this one stays pure
    from services.transcode.encode import EncodedOutput


@dataclass(frozen=True)
class StoredOutput:
    """One encoded output, uploaded: what `rendition-done` says about it.

    The stream facts are the encoder's own measurements (`encoded`); the stored object's
    URI, size and hash are kept beside them because a custom thumbnail replaces the
    primary picture's.
    """

    encoded: EncodedOutput
    uri: str
    size_bytes: int
    sha256: str
    quality: Quality | None
    artifacts: tuple[Artifact, ...] = ()

    @property
    def rendition(self) -> str:
        return self.encoded.name

    @property
    def media_type(self) -> MediaType:
        return self.encoded.media_type


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
            container=o.encoded.container,
            codecs=o.encoded.codecs,
            video_codec=o.encoded.video_codec,
            audio_codec=o.encoded.audio_codec,
            width=o.encoded.width,
            height=o.encoded.height,
            frame_rate=o.encoded.frame_rate,
            keyframe_interval_seconds=(keyframe_interval_s if o.media_type is MediaType.VIDEO
                                       else None),
            bitrate=o.encoded.bitrate,
            size_bytes=o.size_bytes,
            sha256=o.sha256,
            duration_seconds=o.encoded.duration_seconds,
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
            encryption=upload.encryption,
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
