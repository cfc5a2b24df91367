"""Synthetic but realistic video stories for the catalog benchmarks: the events ingest,
transcode and packager publish for one video, shaped like theirs (and like the unit tests'
`VideoStory`, which benchmarks do not import), with varied titles, tags, metadata keys,
owners and outcomes so that the read model's filters have something to select.

Per video: `video-uploaded`, `transcode-progress` (verify, then encode in steps),
`rendition-done` for mp3, thumbnails, 360p, 720p and 1080p, then `video-transcoded`:
14 events for a ready video. One in ten fails in transcode, one in twenty is cancelled,
one in twenty is reprocessed (a second attempt after the first was packaged).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from schemas import (
    RENDITION_DONE,
    TRANSCODE_FAILED,
    TRANSCODE_PROGRESS,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
    topic_by_name,
)
from schemas.events import VideoEvent

#: (topic, event) as a story writes it down, and as the benchmarks get it (typed).
Draft = tuple[str, dict[str, Any]]
Step = tuple[str, VideoEvent]

WORDS = ("sunset", "harbour", "city", "night", "drone", "forest", "river", "market", "concert",
         "lecture", "recipe", "football", "mountain", "snow", "garden", "train", "bridge",
         "festival", "interview", "workshop", "ocean", "desert", "storm", "museum")
TAGS = ("nature", "timelapse", "travel", "music", "sport", "food", "education", "news",
        "family", "pets", "tech", "art")
CATEGORIES = ("travel", "music", "sport", "food", "education", "news")
OWNERS = tuple(f"studio-{c}" for c in "abcdefgh")
LADDER = (("360p", 640, 360), ("720p", 1280, 720), ("1080p", 1920, 1080))
EXPECTED = ["mp3", "thumbnails", *(name for name, _, _ in LADDER)]


class Story:
    """One video's events; `at` is seconds after the video's own start time."""

    def __init__(self, rng: random.Random, t0: datetime, attempt: int = 1,
                 video_id: str | None = None) -> None:
        self.rng = rng
        self.video_id = video_id or str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.attempt = attempt
        self.t0 = t0

    def _base(self, at: float) -> dict[str, Any]:
        return {"event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "video_id": self.video_id, "occurred_at": self.t0 + timedelta(seconds=at),
                "attempt": self.attempt}

    def metadata(self) -> str:
        rng = self.rng
        title = " ".join(rng.sample(WORDS, 3)).capitalize()
        return json.dumps({"title": title,
                           "description": f"{' '.join(rng.sample(WORDS, 6))} shot in "
                                          f"{rng.randint(2015, 2026)}",
                           "tags": rng.sample(TAGS, rng.randint(1, 3)),
                           "category": rng.choice(CATEGORIES), "year": rng.randint(2015, 2026),
                           "camera": rng.choice(("a7s", "gh6", "phone", "fx3"))})

    def uploaded(self, at: float) -> Draft:
        duration = round(self.rng.uniform(5, 1800), 2)
        event = {**self._base(at),
                 "source_uri": f"s3://reelflow/sources/{self.video_id}/original",
                 "source_sha256": f"{self.rng.getrandbits(256):064x}",
                 "source_size_bytes": int(duration * 1_000_000),
                 "source_filename": f"{self.rng.choice(WORDS)}.mp4",
                 "source_info": {"container": "mov,mp4", "duration_seconds": duration,
                                 "bitrate": 8_000_000,
                                 "video": {"codec": "h264", "width": 1920, "height": 1080,
                                           "fps": 30.0, "bitrate": 7_800_000,
                                           "pix_fmt": "yuv420p"},
                                 "audio": {"codec": "aac", "channels": 2, "sample_rate": 48000,
                                           "bitrate": 128000}},
                 "user_metadata_json": self.metadata(), "priority": self.rng.randint(1, 10),
                 "owner": self.rng.choice(OWNERS),
                 "origin": "upload" if self.attempt == 1 else "reprocess"}
        return VIDEO_UPLOADED.name, event

    def progress(self, stage: str, percent: float, at: float) -> Draft:
        return TRANSCODE_PROGRESS.name, {**self._base(at), "stage": stage, "percent": percent}

    def rendition(self, name: str, at: float) -> Draft:
        prefix = f"s3://reelflow/renditions/{self.video_id}/{self.attempt}"
        event = {**self._base(at), "rendition": name, "expected_renditions": EXPECTED,
                 "uploaded_at": self.t0, "sha256": f"{self.rng.getrandbits(256):064x}",
                 "encode_seconds": round(self.rng.uniform(1, 60), 2), "profile": "default"}
        if name == "thumbnails":
            event.update({"media_type": "IMAGES", "uri": f"{prefix}/thumbnails/thumb_000.jpg",
                          "container": "jpg", "artifacts": [
                              {"name": f"thumb_{p:03d}.jpg", "content_type": "image/jpeg",
                               "uri": f"{prefix}/thumbnails/thumb_{p:03d}.jpg",
                               "size_bytes": 20_000} for p in (0, 25, 50, 75, 100)] + [
                              {"name": "storyboard.vtt", "content_type": "text/vtt",
                               "uri": f"{prefix}/thumbnails/storyboard.vtt"},
                              {"name": "sprite.jpg", "content_type": "image/jpeg",
                               "uri": f"{prefix}/thumbnails/sprite.jpg"}]})
        elif name == "mp3":
            event.update({"media_type": "AUDIO", "uri": f"{prefix}/audio.mp3",
                          "container": "mp3", "codecs": "mp3", "audio_codec": "mp3",
                          "bitrate": 192_000, "size_bytes": 1_000_000})
        else:
            _, width, height = next(rung for rung in LADDER if rung[0] == name)
            event.update({"media_type": "VIDEO", "uri": f"{prefix}/{name}.mp4",
                          "container": "mp4", "codecs": "avc1.4d401f,mp4a.40.2",
                          "video_codec": "h264", "audio_codec": "aac", "width": width,
                          "height": height, "frame_rate": 30.0, "keyframe_interval_seconds": 2.0,
                          "bitrate": height * 4000, "size_bytes": height * 10_000,
                          "duration_seconds": 42.5,
                          "quality": {"vmaf": round(self.rng.uniform(90, 99), 2),
                                      "psnr": 44.0, "ssim": 0.995, "vmaf_floor": 85.0,
                                      "below_floor": False, "frames_scored": 255}})
        return RENDITION_DONE.name, event

    def transcoded(self, at: float) -> Draft:
        prefix = f"s3://reelflow/packages/{self.video_id}/{self.attempt}"
        return VIDEO_TRANSCODED.name, {
            **self._base(at), "package_uri": prefix, "hls_master_uri": f"{prefix}/master.m3u8",
            "dash_manifest_uri": f"{prefix}/manifest.mpd",
            "metadata_uri": f"{prefix}/metadata.json", "duration_seconds": 42.5,
            "total_bytes": 9_000_000, "latency_ms": int(at * 1000),
            "renditions": [{"rendition": r, "media_type": "VIDEO", "width": w, "height": h,
                            "bandwidth": h * 4000, "codecs": "avc1.4d401f,mp4a.40.2",
                            "playlist_uri": f"{prefix}/{r}/playlist.m3u8",
                            "download_uri": f"{prefix}/{r}.mp4", "segment_count": 11}
                           for r, w, h in LADDER]}

    def failed(self, at: float) -> Draft:
        return TRANSCODE_FAILED.name, {**self._base(at), "stage": "transcode",
                                       "error_code": "undecodable_source",
                                       "error_message": "ffmpeg could not decode frame 12"}

    def cancelled(self, at: float) -> Draft:
        event = self._base(at)
        del event["attempt"]
        return VIDEO_CANCELLED.name, {**event, "reason": "uploaded by mistake",
                                      "requested_by": "alice"}

    def happy_path(self) -> list[Draft]:
        return [self.uploaded(0), self.progress("verify", 100, 1),
                *(self.progress("encode", p, 2 + p / 10) for p in (20, 40, 60, 80)),
                self.rendition("mp3", 4), self.rendition("thumbnails", 5),
                self.progress("encode", 100, 13),
                *(self.rendition(name, 8 + i * 3) for i, (name, _, _) in enumerate(LADDER)),
                self.transcoded(20)]


def story_steps(rng: random.Random, t0: datetime, kind: int) -> list[Step]:
    """One video's events; `kind` (0-19) picks the outcome with the mix described above."""
    return [(topic, cast(VideoEvent, topic_by_name(topic).event_type.from_record(event)))
            for topic, event in _drafts(rng, t0, kind)]


def _drafts(rng: random.Random, t0: datetime, kind: int) -> list[Draft]:
    story = Story(rng, t0)
    if kind in (0, 10):
        return [story.uploaded(0), story.progress("verify", 100, 1),
                story.progress("encode", 30, 2), story.failed(4)]
    if kind == 1:
        return [story.uploaded(0), story.progress("encode", 20, 2), story.cancelled(3)]
    steps = story.happy_path()
    if kind == 2:
        again = Story(rng, t0, attempt=2, video_id=story.video_id)
        steps += [again.uploaded(600), again.progress("encode", 50, 602),
                  again.rendition("360p", 605)]
    return steps


def interleaved(videos: int, seed: int = 1, t0: datetime | None = None) -> Iterator[Step]:
    """The events of `videos` videos, several videos in flight at once (each video's own
    events stay in order, as its single producer would send them)."""
    rng = random.Random(seed)
    start = t0 or datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    in_flight: list[Iterator[Step]] = []
    made = 0
    while made < videos or in_flight:
        while made < videos and len(in_flight) < 64:
            when = start + timedelta(seconds=made * 20)
            in_flight.append(iter(story_steps(rng, when, made % 20)))
            made += 1
        pick = rng.randrange(len(in_flight))
        step = next(in_flight[pick], None)
        if step is None:
            in_flight[pick] = in_flight[-1]
            in_flight.pop()
        else:
            yield step


def events_per_video() -> float:
    """Average events per video over one full cycle of the outcome mix."""
    rng = random.Random(0)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return sum(len(story_steps(rng, t0, k)) for k in range(20)) / 20
