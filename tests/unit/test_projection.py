"""The catalog's pure projection rules: the status machine, robust to the order events are
read in (topics are separate logs), to repeats, and to reprocessing (newer attempts)."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import (
    ALL_TOPICS,
    DEAD_LETTER,
    PACKAGING_FAILED,
    RENDITION_DONE,
    TRANSCODE_FAILED,
    TRANSCODE_PROGRESS,
    VIDEO_CANCELLED,
    VIDEO_TRANSCODED,
    VIDEO_UPLOADED,
    Topic,
)
from schemas.events import DeadLetter, RenditionDone, VideoEvent
from services.catalog.jsonb import dumps
from services.catalog.media import cache_control, content_type, servable, single_range
from services.catalog.paging import BadCursor, decode_cursor, encode_cursor
from services.catalog.projection import VideoState, parse_user_metadata, project_event
from services.catalog.rows import DeadLetterRow, PackageRow, Position, RenditionRow, TimelineRow
from services.catalog.views import MediaLinks, playback
from services.shared.codec import EventCodec

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


def test_the_happy_path_walks_every_status_with_a_timestamp_each() -> None:
    story = VideoStory()
    steps = story.happy_path()
    assert statuses(steps) == ["uploaded", "transcoding", "transcoding", "transcoding",
                               "transcoding", "transcoding", "transcoding", "packaging", "ready"]
    video = fold(steps)
    assert video is not None
    assert (video.uploaded_at, video.transcoding_at, video.packaging_at, video.ready_at) == (
        at(0), at(1), at(12), at(15))
    assert video.completed_at == at(15) and video.latency_ms == 15_000
    assert video.progress == {"verify": 100.0, "encode": 90.0}
    assert video.user_metadata["tags"] == ["nature", "timelapse"]
    assert video.owner == "studio-a" and video.duration_seconds == 42.5
    assert video.source_info is not None and video.source_info["video"]["width"] == 1920
    assert video.current_package_attempt == 1


def assert_order_independent(steps: list[Step], seed: int) -> VideoState | None:
    """The row folded from `steps` in 300 random orders is always the same; returns it."""
    expected = fold(steps)
    rng = random.Random(seed)
    for _ in range(300):
        shuffled = steps[:]
        rng.shuffle(shuffled)
        assert fold(shuffled) == expected
    return expected


def test_the_final_row_does_not_depend_on_the_order_events_are_read_in() -> None:
    steps = VideoStory().happy_path()
    expected = assert_order_independent(steps, seed=7)
    # A replay reads topic by topic: every video-uploaded, then every progress, ...
    by_topic = sorted(steps, key=lambda s: [t.name for t in ALL_TOPICS].index(s[0]))
    assert fold(by_topic) == expected


def test_applying_an_event_twice_changes_nothing() -> None:
    steps = VideoStory().happy_path()
    twice = [s for step in steps for s in (step, step)]
    assert fold(twice) == fold(steps)
    assert fold(steps + steps) == fold(steps)


def test_progress_never_moves_the_status_or_a_percentage_backwards() -> None:
    story = VideoStory()
    steps = story.happy_path()[:-1]  # packaging
    late = [story.progress("encode", 10, 2), story.progress("verify", 50, 0.5)]
    video = fold(steps + late)
    assert video is not None and video.status == "packaging"
    assert video.progress == {"verify": 100.0, "encode": 90.0}
    ready = fold([story.transcoded(15), story.progress("upload", 20, 14)], video)
    assert ready is not None and ready.status == "ready"


def test_a_non_finite_percentage_is_ignored() -> None:
    story = VideoStory()
    video = fold([story.uploaded(0), story.progress("encode", 30, 2),
                  story.progress("encode", float("nan"), 3), story.progress("verify", 1e400, 4)])
    assert video is not None and video.progress == {"encode": 30.0}
    assert video.status == "transcoding"


def test_a_failure_is_terminal_and_keeps_the_first_reason() -> None:
    story = VideoStory()
    video = fold([story.uploaded(0), story.progress("encode", 30, 2),
                  story.failed(5, message="second"), story.failed(4, message="first"),
                  story.progress("encode", 60, 6)])
    assert video is not None and video.status == "failed"
    assert (video.error_stage, video.error_code, video.error_message) == (
        "transcode", "undecodable_source", "first")
    assert video.failed_at == at(4) and video.completed_at == at(4) and video.latency_ms is None
    packaging = fold([story.failed(20, stage="packaging", code="segmenter_failed")],
                     fold(story.happy_path()[:-1]))
    assert packaging is not None and packaging.status == "failed"
    assert packaging.error_stage == "packaging"


def test_cancellation_is_terminal_for_the_attempt_whatever_the_order() -> None:
    story = VideoStory()
    steps = [story.uploaded(0), story.progress("encode", 30, 2), story.cancelled(3),
             story.progress("encode", 35, 4)]
    for order in itertools.permutations(steps):
        video = fold(list(order))
        assert video is not None and video.status == "cancelled", order
        assert video.completed_at == at(3) and video.cancel_reason == "uploaded by mistake"
    only_cancel = fold([story.cancelled(3)])
    assert only_cancel is not None and only_cancel.status == "cancelled"


def test_the_earliest_terminal_fact_wins_so_a_late_cancel_leaves_ready_alone() -> None:
    story = VideoStory()
    video = fold(story.happy_path() + [story.cancelled(60)])
    assert video is not None and video.status == "ready"
    raced = fold([story.uploaded(0), story.cancelled(5), story.transcoded(9)])
    assert raced is not None and raced.status == "cancelled"


def test_a_reprocess_starts_a_new_attempt_after_ready_or_cancelled() -> None:
    first = VideoStory()
    ready = fold(first.happy_path())
    second = VideoStory(first.video_id, attempt=2)
    again = fold([second.uploaded(100, metadata_json='{"title": "Sunset, recut"}')], ready)
    assert again is not None
    assert (again.status, again.attempt, again.ready_at) == ("uploaded", 2, None)
    assert again.user_metadata == {"title": "Sunset, recut"}
    assert again.current_package_attempt == 1, "the old package plays on meanwhile"
    assert again.created_at == at(0)

    cancelled = fold([first.uploaded(0), first.cancelled(2)])
    restarted = fold([second.uploaded(100), second.progress("encode", 5, 101)], cancelled)
    assert restarted is not None and restarted.status == "transcoding"


def test_events_of_an_older_attempt_never_overwrite_the_newer_one() -> None:
    first = VideoStory()
    second = VideoStory(first.video_id, attempt=2)
    newer = [second.uploaded(100, metadata_json='{"title": "v2"}'),
             second.progress("encode", 50, 102)]
    older = [first.uploaded(0), first.progress("encode", 99, 5), first.failed(6),
             first.rendition("360p", 7)]
    for order in (newer + older, older + newer, [*newer[:1], *older, *newer[1:]]):
        video = fold(order)
        assert video is not None
        assert (video.attempt, video.status, video.error_code) == (2, "transcoding", None)
        assert video.progress == {"encode": 50.0} and video.user_metadata == {"title": "v2"}


def test_a_newer_package_becomes_current_only_when_its_attempt_is_transcoded() -> None:
    first = VideoStory()
    second = VideoStory(first.video_id, attempt=2)
    video = fold(first.happy_path() + [second.uploaded(100), second.rendition("360p", 105)])
    assert video is not None and video.current_package_attempt == 1
    video = fold([second.transcoded(110)], video)
    assert video is not None and video.current_package_attempt == 2
    assert video.status == "ready" and video.latency_ms == 10_000
    late_old = fold([first.transcoded(15)], video)
    assert late_old is not None and late_old.current_package_attempt == 2


def test_thumbnails_come_from_the_thumbnails_rendition_artifacts() -> None:
    story = VideoStory()
    video = fold([story.rendition("thumbnails", 5)])
    assert video is not None and video.thumbnails is not None
    prefix = f"s3://reelflow/renditions/{story.video_id}/1/thumbnails"
    assert video.thumbnails["primary"] == f"{prefix}/thumb_00.jpg"
    assert [i["name"] for i in video.thumbnails["images"]] == [
        "thumb_00.jpg", "thumb_25.jpg", "thumb_50.jpg", "thumb_75.jpg"]
    assert video.thumbnails["storyboard"] == f"{prefix}/storyboard.vtt"
    assert video.thumbnails["sprite"] == f"{prefix}/sprite.jpg"


def test_every_event_adds_a_timeline_row_and_its_natural_rows() -> None:
    story = VideoStory()
    kinds: list[str] = []
    state = None
    for offset, (topic, event) in enumerate(story.happy_path()):
        projection = project_event(state, topic, event, Position(topic, 3, offset))
        state = projection.video
        timeline = [r for r in projection.rows if isinstance(r, TimelineRow)]
        assert len(timeline) == 1 and timeline[0].values["event_id"] == event.event_id
        assert timeline[0].values["partition"] == 3 and timeline[0].values["offset"] == offset
        kinds.append(timeline[0].values["kind"])
        if topic == RENDITION_DONE.name:
            (rendition,) = [r for r in projection.rows if isinstance(r, RenditionRow)]
            assert isinstance(event, RenditionDone)
            assert rendition.values["rendition"] == event.rendition
        if topic == VIDEO_TRANSCODED.name:
            assert any(isinstance(r, PackageRow) for r in projection.rows)
    assert kinds[0] == "uploaded" and kinds[-1] == "transcoded"


def test_720p_rendition_row_keeps_its_quality_scores() -> None:
    _, event = VideoStory().rendition("720p", 3)
    projection = project_event(None, RENDITION_DONE.name, event, Position("x", 0, 0))
    (row,) = [r for r in projection.rows if isinstance(r, RenditionRow)]
    assert (row.values["vmaf"], row.values["psnr"], row.values["ssim"]) == (92.0, 40.0, 0.98)
    assert (row.values["width"], row.values["height"], row.values["attempt"]) == (1280, 720, 1)


def test_jsonb_writes_event_values_json_cannot_hold() -> None:
    value = {"t": at(1), "raw": b"\x00\xff", "nan": float("nan"), "n": [float("inf"), 2]}
    assert json.loads(dumps(value)) == {
        "t": "2026-03-01T12:00:01+00:00", "raw": "AP8=", "nan": None, "n": [None, 2]}


def test_user_metadata_that_is_not_a_json_object_becomes_empty() -> None:
    assert parse_user_metadata('{"a": 1}') == {"a": 1}
    assert parse_user_metadata("not json") == {}
    assert parse_user_metadata("[1, 2]") == {}
    assert parse_user_metadata(None) == {}


def _dead_letter(video_id: str | None) -> DeadLetter:
    return DeadLetter(
        event_id=str(uuid.uuid4()), video_id=video_id, occurred_at=at(1),
        original_topic=VIDEO_UPLOADED.name, original_partition=2, original_offset=17,
        original_key=b"k", original_value=b"\x00garbage", original_headers=(),
        consumer_group="transcode", error_code="not_avro",
        error_class="services.shared.codec.NotAvroSingleObject", error_message="not Avro",
        stacktrace="", attempts=1, redrive_count=0)


def test_a_dead_letter_is_recorded_and_joins_the_timeline_of_a_real_video() -> None:
    video_id = str(uuid.uuid4())
    projection = project_event(None, DEAD_LETTER.name, _dead_letter(video_id),
                               Position(DEAD_LETTER.name, 1, 4))
    assert projection.video is None
    (letter,) = [r for r in projection.rows if isinstance(r, DeadLetterRow)]
    assert letter.values["original_value"] == b"\x00garbage"
    assert (letter.values["dead_letter_partition"], letter.values["dead_letter_offset"]) == (1, 4)
    (entry,) = [r for r in projection.rows if isinstance(r, TimelineRow)]
    assert entry.values["video_id"] == video_id and "original_value" not in entry.values["details"]
    garbage_key = project_event(None, DEAD_LETTER.name, _dead_letter("\ufffdxx"),
                                Position(DEAD_LETTER.name, 1, 5))
    assert [type(r) for r in garbage_key.rows] == [DeadLetterRow]


def test_story_events_are_valid_for_the_schemas() -> None:
    codec = EventCodec(ALL_TOPICS)
    story = VideoStory()
    by_name = {t.name: t for t in ALL_TOPICS}
    steps = story.happy_path() + [story.failed(1), story.failed(2, stage="packaging"),
                                  story.cancelled(3), (DEAD_LETTER.name, _dead_letter(None))]
    for topic, event in steps:
        schema = by_name[topic].latest.definition
        typed = codec.decode(by_name[topic], codec.encode(by_name[topic], event))
        assert typed == event, topic
        decoded, written = typed.to_record(), WRITTEN.get(event.event_id, event.to_record())
        # What the story wrote comes back unchanged; every field it left out has the
        # schema's default (so the story exercises the fields it means to).
        assert holds(decoded, written), (topic, written, decoded)
        defaults = {f["name"]: f["default"] for f in schema["fields"] if f["name"] not in written}
        assert {name: decoded[name] for name in defaults} == defaults, topic


def holds(decoded: Any, written: Any) -> bool:
    """`decoded` carries every value of `written` (records may gain defaulted fields)."""
    if isinstance(written, dict):
        return isinstance(decoded, dict) and all(
            name in decoded and holds(decoded[name], value) for name, value in written.items())
    if isinstance(written, list):
        return (isinstance(decoded, list) and len(decoded) == len(written)
                and all(holds(d, w) for d, w in zip(decoded, written, strict=True)))
    return bool(decoded == written)


def test_playback_urls_map_s3_uris_of_the_bucket_to_media_paths() -> None:
    links = MediaLinks("reelflow")
    assert links.url("s3://reelflow/packages/v/1/master.m3u8") == "/media/packages/v/1/master.m3u8"
    assert links.url("s3://elsewhere/packages/v/1/master.m3u8") is None
    assert MediaLinks("reelflow", "https://cdn.example/").url("s3://reelflow/a b.mp4") == (
        "https://cdn.example/media/a%20b.mp4")
    story = VideoStory()
    _, package = story.transcoded(15)
    _, mp3 = story.rendition("mp3", 4)
    _, hd = story.rendition("720p", 4)
    urls = playback({"thumbnails": None}, package.to_record(), [mp3.to_record(), hd.to_record()],
                    links)
    assert urls["hls"].endswith("/1/master.m3u8") and urls["dash"].endswith("manifest.mpd")
    assert urls["mp3"].endswith("audio.mp3")
    assert urls["mp4"][0]["url"] == f"/media/packages/{story.video_id}/1/720p.mp4"


@pytest.mark.parametrize(("key", "ctype", "cache"), [
    ("packages/v/1/master.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"),
    ("packages/v/1/manifest.mpd", "application/dash+xml", "public, max-age=60"),
    ("packages/v/1/720p/seg_0001.m4s", "video/iso.segment", "public, max-age=31536000, immutable"),
    ("packages/v/1/720p/init.mp4", "video/mp4", "public, max-age=31536000, immutable"),
    ("packages/v/1/audio/seg_1.m4a", "audio/mp4", "public, max-age=31536000, immutable"),
    ("renditions/v/1/audio.mp3", "audio/mpeg", "public, max-age=31536000, immutable"),
    ("renditions/v/1/thumbnails/t.jpg", "image/jpeg", "public, max-age=31536000, immutable"),
    ("renditions/v/1/thumbnails/storyboard.vtt", "text/vtt",
     "public, max-age=31536000, immutable"),
    ("packages/v/1/metadata.json", "application/json", "public, max-age=31536000, immutable"),
])
def test_media_types_and_cache_lifetimes(key: str, ctype: str, cache: str) -> None:
    assert content_type(key, "binary/octet-stream") == ctype
    assert cache_control(key) == cache


def test_media_serves_playback_objects_only() -> None:
    prefixes = ("packages/", "renditions/")
    assert servable("packages/v/1/master.m3u8", prefixes)
    assert not servable(f"sources/{uuid.uuid4()}/original", prefixes)
    assert servable(f"sources/{uuid.uuid4()}/thumbnail.jpg", prefixes)
    assert not servable("packages/../sources/x/original", prefixes)
    assert single_range("bytes=0-99") == "bytes=0-99" and single_range("bytes=-5") == "bytes=-5"
    assert single_range("bytes=0-1,5-9") is None and single_range("bytes=-") is None


def test_cursors_round_trip_and_refuse_another_listing() -> None:
    cursor = encode_cursor("videos", "created_at", "desc", [at(1), uuid.UUID(int=5)])
    assert decode_cursor(cursor, "videos", "created_at", "desc", 2) == [
        at(1).isoformat(), str(uuid.UUID(int=5))]
    with pytest.raises(BadCursor):
        decode_cursor(cursor, "videos", "priority", "desc", 3)
    with pytest.raises(BadCursor):
        decode_cursor("!!!", "videos", "created_at", "desc", 2)


def test_a_package_after_a_failure_heals_it_for_a_redriven_attempt() -> None:
    """Redrive of a fixed input: the same attempt fails, then is packaged; it is ready, in
    whatever order the facts are read."""
    story = VideoStory()
    steps = [story.uploaded(0), story.failed(5, code="source_missing"),
             *(story.rendition(r, 50) for r in ("360p", "720p", "mp3", "thumbnails")),
             story.transcoded(60)]
    for order in (steps, list(reversed(steps))):
        video = fold(order)
        assert video is not None and video.status == "ready", video


# -- what the pipeline measured reaches the read model --------------------------------------

PROBED = {"container": "mov,mp4", "duration_seconds": 4.0, "bitrate": 900_000,
          "video": {"codec": "h264", "width": 640, "height": 360, "fps": 25.0,
                    "bitrate": 800_000, "pix_fmt": "yuv420p"},
          "audio": {"codec": "aac", "channels": 2, "sample_rate": 48000, "bitrate": 96_000}}
MEASURED = {"source_sha256": "cd" * 32, "source_size_bytes": 456_789, "source_info": PROBED}


def upstream_story(story: VideoStory) -> list[Step]:
    """An upstream publisher's bare video-uploaded; transcode reports what it measured."""
    bare = {"source_sha256": None, "source_size_bytes": None, "source_filename": None,
            "source_info": None, "user_metadata_json": "{}", "origin": "upstream"}
    return [story.uploaded(0, **bare), story.progress("encode", 50, 2),
            *(story.rendition(n, 3 + i, **MEASURED)
              for i, n in enumerate(("360p", "720p", "mp3", "thumbnails"))),
            story.transcoded(10)]


def test_an_upstream_videos_source_facts_come_from_what_transcode_measured() -> None:
    video = fold(upstream_story(VideoStory()))
    assert video is not None and video.status == "ready"
    assert video.source_sha256 == "cd" * 32 and video.source_size_bytes == 456_789
    assert video.source_info == PROBED
    assert video.duration_seconds == 42.5  # the package's, as video-transcoded announced it


def test_measured_source_facts_do_not_depend_on_the_order_events_are_read_in() -> None:
    video = assert_order_independent(upstream_story(VideoStory()), seed=11)
    assert video is not None and video.source_sha256 == "cd" * 32


def test_before_the_package_the_duration_is_the_probes() -> None:
    steps = [s for s in upstream_story(VideoStory()) if s[0] != VIDEO_TRANSCODED.name]
    video = fold(steps)
    assert video is not None and video.duration_seconds == 4.0


def test_what_video_uploaded_declared_wins_over_what_was_measured() -> None:
    story = VideoStory()
    steps = [story.uploaded(0), story.rendition("360p", 3, **MEASURED), story.transcoded(9)]
    for order in itertools.permutations(steps):
        video = fold(list(order))
        assert video is not None
        assert (video.source_sha256, video.source_size_bytes) == ("ab" * 32, 12_000_000)
        assert video.source_info is not None and video.source_info["video"]["width"] == 1920
        assert video.duration_seconds == 42.5


def test_a_newer_attempts_measurement_replaces_the_older_ones() -> None:
    first = VideoStory()
    second = VideoStory(first.video_id, attempt=2)
    newer = {**MEASURED, "source_sha256": "ef" * 32, "source_size_bytes": 1}
    steps = [first.uploaded(0, source_sha256=None, source_size_bytes=None, source_info=None),
             first.rendition("360p", 3, **MEASURED),
             second.uploaded(60, source_sha256=None, source_size_bytes=None, source_info=None),
             second.rendition("360p", 63, **newer)]
    for order in itertools.permutations(steps):
        video = fold(list(order))
        assert video is not None and video.attempt == 2
        assert (video.source_sha256, video.source_size_bytes) == ("ef" * 32, 1)
