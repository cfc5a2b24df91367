"""Realistic events of one video, written as records and typed as the codec gives them,
and folding them through the catalog's projection: shared by the catalog's tests and the
codec's round-trip test."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import (
    PACKAGING_FAILED,
    PLAYBACK_POLICY_CHANGED,
    RENDITION_DONE,
    TRANSCODE_FAILED,
    TRANSCODE_PROGRESS,
    VIDEO_CANCELLED,
    VIDEO_REPRIORITISED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
    Topic,
)
from schemas.events import DeadLetter, VideoEvent
from services.catalog.projection import VideoState, project_event
from services.catalog.rows import Position

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


Step = tuple[str, VideoEvent]


#: event_id -> the record a story wrote down, before it was typed (for the schema test).
WRITTEN: dict[str, dict[str, Any]] = {}


def step(topic: Topic[Any], record: dict[str, Any]) -> Step:
    """A story's event, written down as a record and typed as the codec would give it."""
    WRITTEN[record["event_id"]] = record
    return topic.name, topic.event_type.from_record(record)


class VideoStory:
    """Builds realistic events of one video, `at` seconds after T0. Valid for the schemas."""

    def __init__(self, video_id: str | None = None, attempt: int = 1,
                 t0: datetime = T0, bucket: str = "reelflow") -> None:
        self.video_id = video_id or str(uuid.uuid4())
        self.attempt = attempt
        self.t0 = t0
        self.bucket = bucket
        self.uploaded_at = t0

    def _base(self, at: float, attempt: int | None = None) -> dict[str, Any]:
        return {"event_id": str(uuid.uuid4()), "video_id": self.video_id,
                "occurred_at": self.t0 + timedelta(seconds=at),
                "attempt": self.attempt if attempt is None else attempt}

    def uploaded(self, at: float = 0, **fields: Any) -> Step:
        event = self._base(at)
        self.uploaded_at = event["occurred_at"]
        metadata = fields.pop("metadata_json", '{"title": "Sunset over the bay", '
                                                '"description": "Timelapse from the pier", '
                                                '"tags": ["nature", "timelapse"], '
                                                '"category": "travel", "year": 2024}')
        event.update({
            "source_uri": f"s3://{self.bucket}/sources/{self.video_id}/original",
            "source_sha256": "ab" * 32, "source_size_bytes": 12_000_000,
            "source_filename": "sunset.mp4",
            "source_info": {"container": "mov,mp4", "duration_seconds": 42.5,
                            "bitrate": 2_000_000,
                            "video": {"codec": "h264", "width": 1920, "height": 1080,
                                      "fps": 30.0, "bitrate": 1_800_000, "pix_fmt": "yuv420p"},
                            "audio": {"codec": "aac", "channels": 2, "sample_rate": 48000,
                                      "bitrate": 128000}},
            "user_metadata_json": metadata, "priority": 5, "owner": "studio-a",
            "origin": "upload" if self.attempt == 1 else "reprocess",
        })
        event.update(fields)
        return step(VIDEO_UPLOADED, event)

    def progress(self, stage: str, percent: float, at: float) -> Step:
        return step(TRANSCODE_PROGRESS, {**self._base(at), "stage": stage, "percent": percent})

    def rendition(self, name: str, at: float, expected: tuple[str, ...] = (
            "360p", "720p", "mp3", "thumbnails"), **fields: Any) -> Step:
        prefix = f"s3://{self.bucket}/renditions/{self.video_id}/{self.attempt}"
        event = {**self._base(at), "rendition": name, "expected_renditions": list(expected),
                 "uploaded_at": self.uploaded_at, "source_size_bytes": 12_000_000}
        if name == "thumbnails":
            event.update({"media_type": "IMAGES", "uri": f"{prefix}/thumbnails/thumb_00.jpg",
                          "container": "jpg", "artifacts": [
                              {"name": f"thumb_{p:02d}.jpg", "content_type": "image/jpeg",
                               "uri": f"{prefix}/thumbnails/thumb_{p:02d}.jpg",
                               "size_bytes": 20_000} for p in (0, 25, 50, 75)] + [
                              {"name": "storyboard.vtt", "content_type": "text/vtt",
                               "uri": f"{prefix}/thumbnails/storyboard.vtt"},
                              {"name": "sprite.jpg", "content_type": "image/jpeg",
                               "uri": f"{prefix}/thumbnails/sprite.jpg"}]})
        elif name == "mp3":
            event.update({"media_type": "AUDIO", "uri": f"{prefix}/audio.mp3", "container": "mp3",
                          "audio_codec": "mp3", "bitrate": 192_000, "size_bytes": 1_000_000})
        else:
            height = int(name.rstrip("p"))
            event.update({"media_type": "VIDEO", "uri": f"{prefix}/{name}.mp4",
                          "codecs": "avc1.4d401f,mp4a.40.2", "video_codec": "h264",
                          "audio_codec": "aac", "width": height * 16 // 9, "height": height,
                          "frame_rate": 30.0, "bitrate": height * 4000,
                          "size_bytes": height * 10_000, "duration_seconds": 42.5,
                          "quality": {"vmaf": 90.0 + height / 360, "psnr": 40.0, "ssim": 0.98,
                                      "vmaf_floor": 85.0, "below_floor": False,
                                      "frames_scored": 100}})
        event.update(fields)
        return step(RENDITION_DONE, event)

    def transcoded(self, at: float) -> Step:
        prefix = f"s3://{self.bucket}/packages/{self.video_id}/{self.attempt}"
        event = {**self._base(at), "package_uri": prefix,
                 "hls_master_uri": f"{prefix}/master.m3u8",
                 "dash_manifest_uri": f"{prefix}/manifest.mpd",
                 "metadata_uri": f"{prefix}/metadata.json", "duration_seconds": 42.5,
                 "total_bytes": 9_000_000,
                 "latency_ms": int((self.t0 + timedelta(seconds=at) - self.uploaded_at)
                                   .total_seconds() * 1000),
                 "renditions": [{"rendition": r, "media_type": "VIDEO", "width": w, "height": h,
                                 "bandwidth": h * 4000, "codecs": "avc1.4d401f,mp4a.40.2",
                                 "playlist_uri": f"{prefix}/{r}/playlist.m3u8",
                                 "download_uri": f"{prefix}/{r}.mp4", "segment_count": 8}
                                for r, w, h in (("360p", 640, 360), ("720p", 1280, 720))]}
        return step(VIDEO_TRANSCODED, event)

    def failed(self, at: float, stage: str = "transcode", code: str = "undecodable_source",
               message: str = "ffmpeg could not decode frame 12") -> Step:
        topic = TRANSCODE_FAILED if stage == "transcode" else PACKAGING_FAILED
        return step(topic, {**self._base(at), "stage": stage, "error_code": code,
                            "error_message": message})

    def cancelled(self, at: float, reason: str = "uploaded by mistake") -> Step:
        event = self._base(at)
        del event["attempt"]
        return step(VIDEO_CANCELLED, {**event, "reason": reason, "requested_by": "alice"})

    def policy_changed(self, at: float, policy: str) -> Step:
        event = self._base(at)
        del event["attempt"]
        return step(PLAYBACK_POLICY_CHANGED, {**event, "playback_policy": policy,
                                              "requested_by": "alice"})

    def reprioritised(self, at: float, priority: int, previous: int | None = 5,
                      attempt: int | None = None) -> Step:
        return step(VIDEO_REPRIORITISED, {**self._base(at, attempt), "priority": priority,
                                          "previous_priority": previous,
                                          "requested_by": "alice"})

    def happy_path(self) -> list[Step]:
        return [self.uploaded(0), self.progress("verify", 100, 1), self.progress("encode", 40, 3),
                self.rendition("mp3", 4), self.rendition("thumbnails", 5),
                self.progress("encode", 90, 6), self.rendition("360p", 8),
                self.rendition("720p", 12), self.transcoded(15)]


def fold(steps: list[Step], state: VideoState | None = None) -> VideoState | None:
    for offset, (topic, event) in enumerate(steps):
        state = project_event(state, topic, event, Position(topic, 0, offset)).video
    return state


def statuses(steps: list[Step]) -> list[str]:
    seen, state = [], None
    for step in steps:
        state = fold([step], state)
        assert state is not None
        seen.append(state.status)
    return seen


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def assert_order_independent(steps: list[Step], seed: int) -> VideoState | None:
    """The row folded from `steps` in 300 random orders is always the same; returns it."""
    expected = fold(steps)
    rng = random.Random(seed)
    for _ in range(300):
        shuffled = steps[:]
        rng.shuffle(shuffled)
        assert fold(shuffled) == expected
    return expected


def dead_letter_event(video_id: str | None) -> DeadLetter:
    return DeadLetter(
        event_id=str(uuid.uuid4()), video_id=video_id, occurred_at=at(1),
        original_topic=VIDEO_UPLOADED.name, original_partition=2, original_offset=17,
        original_key=b"k", original_value=b"\x00garbage", original_headers=(),
        consumer_group="transcode", error_code="not_avro",
        error_class="services.shared.codec.NotAvroSingleObject", error_message="not Avro",
        stacktrace="", attempts=1, redrive_count=0)
