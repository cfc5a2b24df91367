"""`rendition-done` carries the HDR decision: video renditions of a tone-mapped source name
the transfer they came from (schema v3), and it survives the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from schemas import ALL_TOPICS, RENDITION_DONE
from schemas.events import MediaType, SourceInfo, VideoUploaded
from services.shared.codec import EventCodec
from services.transcode.encode import EncodedOutput
from services.transcode.handlers import MeasuredSource, StoredOutput, rendition_done_events

UPLOAD = VideoUploaded(event_id="00000000-0000-0000-0000-000000000001",
                       video_id="00000000-0000-0000-0000-000000000002",
                       occurred_at=datetime(2026, 12, 1, tzinfo=UTC), source_uri="s3://b/k")
SOURCE = MeasuredSource(sha256="ab" * 32, size_bytes=10,
                        info=SourceInfo(container="mov", duration_seconds=2.0))


def output(name: str, kind: MediaType) -> StoredOutput:
    encoded = EncodedOutput(name=name, media_type=kind, path=Path(f"/scratch/{name}.mp4"),
                            container="mp4", content_type="video/mp4", codecs="",
                            video_codec=None, audio_codec=None, width=None, height=None,
                            frame_rate=None, bitrate=0, size_bytes=1, sha256="",
                            duration_seconds=2.0)
    return StoredOutput(encoded=encoded, uri=f"s3://b/{name}", size_bytes=1, sha256="",
                        quality=None)


def test_video_renditions_of_an_hdr_source_name_the_transfer_they_were_mapped_from():
    outputs = [output("2160p", MediaType.VIDEO), output("audio", MediaType.AUDIO),
               output("thumbnails", MediaType.IMAGES)]
    events = rendition_done_events(UPLOAD, SOURCE, outputs, "hevc", 2.0, 1.0, "smpte2084")
    assert {e.rendition: e.tone_mapped_from for e in events} == \
        {"2160p": "smpte2084", "audio": None, "thumbnails": None}
    codec = EventCodec(ALL_TOPICS)
    decoded = codec.decode(RENDITION_DONE, codec.encode(RENDITION_DONE, events[0]))
    assert decoded.tone_mapped_from == "smpte2084"


def test_an_sdr_source_has_no_tone_mapping_in_its_lineage():
    events = rendition_done_events(UPLOAD, SOURCE, [output("720p", MediaType.VIDEO)],
                                   "default", 2.0, 1.0)
    assert events[0].tone_mapped_from is None
