"""The catalog's pure projection rules: the status machine, robust to the order events are
read in (topics are separate logs), to repeats, and to reprocessing (newer attempts)."""

from __future__ import annotations

import itertools
import random

from schemas import ALL_TOPICS, VIDEO_TRANSCODED
from services.catalog.projection import parse_user_metadata, project_event, project_events
from services.catalog.rows import Position
from tests.unit.catalog.stories import (
    Step,
    VideoStory,
    assert_order_independent,
    at,
    fold,
    statuses,
)


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


def test_user_metadata_that_is_not_a_json_object_becomes_empty() -> None:
    assert parse_user_metadata('{"a": 1}') == {"a": 1}
    assert parse_user_metadata("not json") == {}
    assert parse_user_metadata("[1, 2]") == {}
    assert parse_user_metadata(None) == {}


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


def test_the_latest_policy_fact_wins_in_any_order() -> None:
    story = VideoStory()
    steps = [story.uploaded(0, playback_policy="public"), story.policy_changed(5, "signed"),
             story.rendition("360p", 8), story.policy_changed(9, "public"),
             story.policy_changed(20, "signed")]
    video = assert_order_independent(steps, seed=3)
    assert video is not None and video.playback_policy == "signed"
    assert video.playback_policy_at == at(20)
    assert fold(steps[:4]).playback_policy == "public"  # type: ignore[union-attr]
    assert fold(steps[:2]).playback_policy == "signed"  # type: ignore[union-attr]


def test_a_reprocess_after_a_policy_change_carries_the_policy_it_repeats() -> None:
    story = VideoStory()
    first = [story.uploaded(0, playback_policy="signed", encryption="cbcs")]
    video = fold(first)
    assert video is not None and (video.playback_policy, video.encryption) == ("signed", "cbcs")
    again = VideoStory(story.video_id, attempt=2)
    video = fold([*first, story.policy_changed(3, "public"),
                  again.uploaded(10, playback_policy="signed")])
    assert video is not None and video.playback_policy == "signed"


def test_a_reprioritisation_sets_the_priority_and_the_latest_change_wins_in_any_order() -> None:
    story = VideoStory()
    steps = [story.uploaded(0, priority=2), story.reprioritised(3, 9, previous=2),
             story.reprioritised(5, 4, previous=9), story.progress("verify", 100, 6)]
    video = assert_order_independent(steps, seed=11)
    assert video is not None and video.priority == 4 and video.reprioritised_at == at(5)
    assert video.status == "transcoding"
    assert fold(steps[:2]).priority == 9  # type: ignore[union-attr]
    assert fold(steps[:1]).priority == 2  # type: ignore[union-attr]
    # Read before its upload (a replay reads topic by topic), the change still wins.
    assert fold([steps[1], steps[0]]).priority == 9  # type: ignore[union-attr]
    # Two changes in the same millisecond: the higher priority, whichever is read first.
    tie = [story.reprioritised(7, 3), story.reprioritised(7, 8)]
    assert fold([*steps, *tie]).priority == fold([*steps, *reversed(tie)]).priority == 8  # type: ignore[union-attr]


def test_a_change_read_after_the_video_started_or_ended_is_recorded_and_moves_no_status() -> None:
    story = VideoStory()
    steps = story.happy_path()
    change = story.reprioritised(0.5, 8)  # accepted while it waited, read after it was ready
    ready = fold(steps)
    video = fold([change], ready)
    assert ready is not None and video is not None
    assert video.priority == 8 and ready.priority == 5
    assert (video.status, video.completed_at, video.latency_ms) == (
        ready.status, ready.completed_at, ready.latency_ms)
    projection = project_event(ready, *change, Position(change[0], 2, 40))
    (entry,) = projection.rows
    assert entry.values["kind"] == "reprioritised" and entry.values["attempt"] == 1
    assert entry.values["summary"] == "attempt 1 reprioritised to 8 (was 5) by alice"
    assert fold([change, change], ready) == video  # a replay of it changes nothing more
    transcoding = fold(steps[:3])
    assert transcoding is not None
    assert fold([change], transcoding).status == "transcoding"  # type: ignore[union-attr]


def test_a_reprocess_brings_its_own_priority_and_an_old_attempts_change_is_history() -> None:
    story = VideoStory()
    again = VideoStory(story.video_id, attempt=2)
    steps = [story.uploaded(0, priority=2), story.reprioritised(2, 9, previous=2),
             *story.happy_path()[1:], again.uploaded(60, priority=3)]
    video = assert_order_independent(steps, seed=5)
    assert video is not None and (video.attempt, video.priority) == (2, 3)
    assert video.reprioritised_at is None
    later = again.reprioritised(61, 7, previous=3)
    assert fold([*steps, later]).priority == 7  # type: ignore[union-attr]
    # The change of attempt 2 read before attempt 2's upload: still the change.
    assert fold([steps[0], later, steps[-1]]).priority == 7  # type: ignore[union-attr]


def _mixed_steps() -> list[Step]:
    """One video's events of every kind: two attempts, a failure of the first one, a late
    cancellation, policy and priority changes, repeats."""
    first = VideoStory()
    second = VideoStory(first.video_id, attempt=2)
    return [*first.happy_path()[:5], first.failed(6), first.reprioritised(2, 8),
             first.policy_changed(3, "signed"), *second.happy_path(),
             second.reprioritised(30, 2, attempt=2), first.cancelled(40),
             first.policy_changed(41, "public"), first.happy_path()[3]]


def test_folding_a_videos_events_together_equals_folding_them_one_by_one() -> None:
    # The oracle is `project_event` applied event by event, as every other test here does.
    steps = _mixed_steps()
    for seed in range(40):
        shuffled = random.Random(seed).sample(steps, len(steps))
        cut = random.Random(seed).randrange(1, len(steps))
        earlier = fold(shuffled[:cut])
        together = project_events(earlier, [e for _, e in shuffled[cut:]])
        assert together == fold(shuffled[cut:], earlier)
        assert together is not earlier and earlier == fold(shuffled[:cut])
    assert project_events(None, [e for _, e in steps]) == fold(steps)
