"""Publishing a package's captions revision: the S3 and Kafka side of `revision.py`.

Revision 1's `_published` marker holds its `video-transcoded` event (Avro, as on the
wire), so a later revision knows the package without re-reading the log. Revision 2 adds
`subtitles/<lang>.vtt` with its media playlist, `master.r2.m3u8`, `manifest.r2.mpd` and
`metadata.r2.json`, uploaded in that order, then `video-transcoded` (revision 2) and its
`_published.r2` marker: a re-read of the captions finds the marker and does nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from schemas import VIDEO_TRANSCODED
from schemas.events import RenditionDone, VideoTranscoded
from schemas.layout import (
    METADATA_FILE,
    package_prefix,
    published_marker_key,
    revision_marker_key,
    revision_name,
)
from services.packager import revision
from services.packager.captions import track_name, vtt_words
from services.packager.metadata import metadata_json, transcription
from services.packager.package import cache_control, content_type
from services.packager.playlists import TextTrack, subtitle_playlist
from services.shared.codec import EventCodec
from services.shared.consume import PermanentFailure
from services.shared.events import derived_event_id, now
from services.shared.storage import ObjectMissing, ObjectRef, ObjectStore

log = logging.getLogger(__name__)

CAPTIONS_REVISION = 2
MASTER, MANIFEST = "master.m3u8", "manifest.mpd"


def subtitle_uri(language: str) -> str:
    return f"subtitles/{language}.vtt"


class CaptionsRevision:
    def __init__(self, store: ObjectStore, codec: EventCodec) -> None:
        self.store = store
        self.codec = codec

    def first_package(self, video_id: str, attempt: int) -> VideoTranscoded | None:
        """Revision 1's event, from its marker (None: not published yet)."""
        head = self.store.head(self.store.ref(published_marker_key(video_id, attempt)))
        if head is None:
            return None
        body = self._read(published_marker_key(video_id, attempt))
        if not body:
            raise PermanentFailure("package_unrevisable", "the package was published before "
                                   "revisions existed; reprocess the video for captions")
        return self.codec.decode(VIDEO_TRANSCODED, body)

    def revise(self, first: VideoTranscoded, captions: RenditionDone) -> VideoTranscoded | None:
        """Upload revision 2 of `first`'s package with `captions`; its event, or None when
        there is nothing to do (the package has captions, or revision 2 is out)."""
        video_id, attempt = first.video_id, first.attempt
        if first.captions_language is not None:
            return None  # the first package already carried captions
        marker = self.store.ref(revision_marker_key(video_id, attempt, CAPTIONS_REVISION))
        if self.store.head(marker) is not None:
            return None
        language = captions.language or "und"
        prefix = package_prefix(video_id, attempt)
        try:
            vtt = self._read_uri(captions.uri)
        except ObjectMissing as exc:
            raise PermanentFailure("rendition_missing", str(exc)) from exc
        master, mpd = self._read(f"{prefix}/{MASTER}"), self._read(f"{prefix}/{MANIFEST}")
        track = TextTrack(language, track_name(language), subtitle_uri(language))
        duration = revision.presentation_seconds(mpd.decode())
        files: list[tuple[str, bytes]] = [
            (track.uri, vtt),
            (track.playlist_uri, subtitle_playlist(track, duration).encode()),
            (revision_name(MASTER, CAPTIONS_REVISION),
             revision.master_with_subtitles(master.decode(), track).encode()),
            (revision_name(MANIFEST, CAPTIONS_REVISION),
             revision.mpd_with_subtitles(mpd.decode(), track).encode()),
        ]
        metadata = json.loads(self._read(f"{prefix}/{METADATA_FILE}"))
        metadata.setdefault("outputs", {})["transcription"] = transcription(
            captions, vtt_words(vtt.decode()))
        metadata["revision"] = CAPTIONS_REVISION
        metadata_name = revision_name(METADATA_FILE, CAPTIONS_REVISION)
        files.append((metadata_name, metadata_json(metadata)))
        for name, body in files:  # the files a manifest names first, the manifests after
            self.store.put_bytes(body, self.store.ref(f"{prefix}/{name}"), content_type(name),
                                 cache_control(name))
        base = self.store.ref(prefix).uri
        return dataclasses.replace(
            first,
            event_id=derived_event_id(f"{video_id}/{attempt}", "transcoded",
                                      CAPTIONS_REVISION),
            occurred_at=now(),
            revision=CAPTIONS_REVISION,
            captions_language=language,
            hls_master_uri=f"{base}/{revision_name(MASTER, CAPTIONS_REVISION)}",
            dash_manifest_uri=f"{base}/{revision_name(MANIFEST, CAPTIONS_REVISION)}",
            metadata_uri=f"{base}/{metadata_name}",
            total_bytes=first.total_bytes + sum(len(body) for _, body in files[:2]),
            traceparent=captions.traceparent or first.traceparent,
        )

    def mark(self, event: VideoTranscoded) -> None:
        """After the event is on Kafka: this revision is done."""
        key = (published_marker_key(event.video_id, event.attempt) if event.revision <= 1
               else revision_marker_key(event.video_id, event.attempt, event.revision))
        self.store.put_bytes(self.codec.encode(VIDEO_TRANSCODED, event), self.store.ref(key),
                             "application/octet-stream")

    def _read(self, key: str) -> bytes:
        return self._read_uri(self.store.ref(key).uri)

    def _read_uri(self, uri: str) -> bytes:
        body: Any = self.store.stream(ObjectRef.parse(uri))["Body"]
        return bytes(body.read())
