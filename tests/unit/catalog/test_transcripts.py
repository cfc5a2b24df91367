"""Captions in the read model: the newest package revision is current, captions do not move
the encoding status, and a transcript is searched by its word timestamps."""

from __future__ import annotations

import dataclasses

from schemas import CAPTIONS_DONE, VIDEO_TRANSCODED
from services.catalog.transcripts import spoken_at, transcript_row
from tests.unit.catalog.stories import VideoStory, assert_order_independent, fold, step


def _captions(story: VideoStory, at: float):  # type: ignore[no-untyped-def]
    base = story._base(at)
    prefix = f"s3://reelflow/renditions/{story.video_id}/{story.attempt}/transcription"
    return step(CAPTIONS_DONE, {**base, "rendition": "captions", "media_type": "CAPTIONS",
                                "expected_renditions": [], "uri": f"{prefix}/transcript.vtt",
                                "container": "vtt", "captions_outcome": "ok",
                                "language": "en", "language_probability": 0.97})


def _revision(story: VideoStory, at: float):  # type: ignore[no-untyped-def]
    topic, first = story.transcoded(at)
    revised = dataclasses.replace(first, revision=2, captions_language="en",
                                  hls_master_uri=first.hls_master_uri.replace(
                                      "master.m3u8", "master.r2.m3u8"))
    return VIDEO_TRANSCODED.name, revised


def test_the_captions_revision_becomes_the_current_package_in_any_order():
    story = VideoStory()
    steps = [*story.happy_path(), _captions(story, 20), _revision(story, 21)]
    video = assert_order_independent(steps, seed=12)
    assert video is not None
    assert (video.current_package_attempt, video.current_package_revision) == (1, 2)
    assert video.status == "ready"


def test_an_older_attempts_revision_does_not_displace_a_newer_package():
    first, second = VideoStory(), None
    steps = [*first.happy_path()]
    second = VideoStory(first.video_id, attempt=2)
    steps += second.happy_path()
    steps.append(_revision(first, 99))
    video = fold(steps)
    assert video is not None
    assert (video.current_package_attempt, video.current_package_revision) == (2, 1)


def test_captions_before_encoding_leave_the_status_at_uploaded():
    story = VideoStory()
    video = fold([story.uploaded(0), _captions(story, 1)])
    assert video is not None and video.status == "uploaded"
    assert video.transcoding_at is None and video.rendition_times == {}


SEGMENTS = transcript_row({"language": "en", "segments": [
    {"start": 0.5, "end": 3.3, "text": " The quick brown fox.", "avg_logprob": -0.2,
     "words": [{"start": 0.5, "end": 0.7, "word": "The"},
               {"start": 0.7, "end": 1.0, "word": "quick"},
               {"start": 1.0, "end": 1.3, "word": "brown"},
               {"start": 1.3, "end": 1.6, "word": "fox."}]},
    {"start": 3.8, "end": 6.4, "text": "Seven ships.", "avg_logprob": -0.3,
     "words": [{"start": 3.8, "end": 4.1, "word": "Seven"},
               {"start": 4.1, "end": 4.5, "word": "ships."}]}]})["segments"]


def test_a_word_is_found_at_its_own_time_without_case_or_punctuation():
    assert [(h["start"], h["end"]) for h in spoken_at(SEGMENTS, "FOX")] == [(1.3, 1.6)]
    assert spoken_at(SEGMENTS, "ships")[0]["text"] == "Seven ships."


def test_a_phrase_matches_consecutive_words_only():
    assert [(h["start"], h["end"]) for h in spoken_at(SEGMENTS, "quick brown")] == [(0.7, 1.3)]
    assert spoken_at(SEGMENTS, "brown quick") == []
    assert spoken_at(SEGMENTS, "  ") == []


def test_the_row_keeps_the_text_and_outcome():
    row = transcript_row({"language": "en", "outcome": "ok", "segments": [
        {"start": 0, "end": 1, "text": " Hi. ", "words": []}]})
    assert row["text"] == "Hi." and row["outcome"] == "ok"
    assert transcript_row({})["outcome"] == "no_speech"
