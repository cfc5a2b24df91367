"""The event that announces a video attempt's captions: `captions-done`. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import Artifact, MediaType, RenditionDone, VideoUploaded
from services.captions.transcript import Transcript
from services.shared.events import derived_event_id, now

#: The rendition name of the captions in events, the catalog and metadata.json.
CAPTIONS_RENDITION = "captions"


@dataclass(frozen=True)
class StoredFile:
    name: str
    uri: str
    content_type: str
    size_bytes: int
    sha256: str


def captions_done(upload: VideoUploaded, transcript: Transcript, files: list[StoredFile],
                  processing_seconds: float, model: str = "base") -> RenditionDone:
    vtt = next(f for f in files if f.name.endswith(".vtt"))
    return RenditionDone(
        # Derived from the upload: a job redone after a crash announces the same event.
        event_id=derived_event_id(upload.event_id, "captions"),
        video_id=upload.video_id,
        occurred_at=now(),
        attempt=upload.attempt,
        rendition=CAPTIONS_RENDITION,
        media_type=MediaType.CAPTIONS,
        # Captions are never part of the encoded set the packager waits for.
        expected_renditions=(),
        uri=vtt.uri,
        container="vtt",
        codecs="wvtt",
        size_bytes=vtt.size_bytes,
        sha256=vtt.sha256,
        duration_seconds=transcript.duration_seconds,
        encode_seconds=processing_seconds,
        profile=model,
        artifacts=tuple(Artifact(name=f.name, uri=f.uri, content_type=f.content_type,
                                 size_bytes=f.size_bytes, sha256=f.sha256) for f in files),
        captions_outcome=transcript.outcome,
        language=transcript.language,
        language_probability=transcript.language_probability,
        captions_only=upload.captions_only,
        user_metadata_json=upload.user_metadata_json or "{}",
        uploaded_at=upload.occurred_at,
    )


def wants_captions(upload: VideoUploaded) -> bool:
    return upload.captions or upload.captions_only
