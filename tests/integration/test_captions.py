"""Captions with the real model: a clip of espeak-ng speech through the whole pipeline is
transcribed by the session's `reelflow captions` worker (faster-whisper, Whisper base int8).

The oracle is the sentences espeak-ng was given (tests/speech.py): the word error rate of
the transcript against them, the language they are in, and cue files parsed here.
"""

from __future__ import annotations

import re

import httpx
import pytest

from schemas import CAPTIONS_DONE
from schemas.events import RenditionDone
from services.shared.storage import ObjectRef
from tests.access import admin_headers
from tests.integration.test_pipeline import CATALOG, submit, wait_for_status
from tests.integration.test_transcode_resilience import codec, read_topic
from tests.media import make_clip
from tests.speech import SENTENCES, make_speech_clip, word_error_rate

pytestmark = pytest.mark.integration

_CUE_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)[.,](\d{3}) --> (\d\d):(\d\d):(\d\d)[.,](\d{3})$")


def captions_of(bootstrap: str, video_id: str, timeout: float = 180) -> RenditionDone:
    def keep(record):  # type: ignore[no-untyped-def]
        event = codec.decode(CAPTIONS_DONE, record.value)
        return event if event.video_id == video_id else None

    found = read_topic(bootstrap, CAPTIONS_DONE.name, keep, lambda kept: bool(kept),
                       timeout=timeout)
    assert found, f"no captions-done for {video_id}"
    return found[0]


def cue_times(text: str, *, webvtt: bool) -> list[tuple[float, float]]:
    """(start, end) of every cue, parsed by the format's rules, not by the service's code."""
    lines = text.splitlines()
    if webvtt:
        assert lines[0] == "WEBVTT"
    times = []
    for line in lines:
        match = _CUE_TIME.match(line)
        if match:
            h1, m1, s1, f1, h2, m2, s2, f2 = (int(g) for g in match.groups())
            times.append((h1 * 3600 + m1 * 60 + s1 + f1 / 1000,
                          h2 * 3600 + m2 * 60 + s2 + f2 / 1000))
        else:
            assert "-->" not in line, f"a malformed timing line: {line!r}"
    return times


def assert_monotonic(times: list[tuple[float, float]]) -> None:
    assert times, "no cues"
    for (start, end), (next_start, _) in zip(times, times[1:] + [(float("inf"), 0)],
                                             strict=True):
        assert start < end <= next_start, times


def test_spoken_sentences_become_captions_in_english_within_the_error_budget(
        pipeline, common_settings, store, tmp_path):
    clip = make_speech_clip(tmp_path / "speech.mp4")
    reply = submit(clip, metadata='{"title": "a spoken clip"}')
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]

    event = captions_of(common_settings.kafka_bootstrap, video_id)
    assert event.captions_outcome == "ok"
    assert event.language == "en" and (event.language_probability or 0) > 0.5
    files = {a.name: a for a in event.artifacts}
    assert set(files) == {"transcript.vtt", "transcript.srt", "transcript.txt",
                          "transcript.json"}

    def read(name: str) -> str:
        body = store.stream(ObjectRef.parse(files[name].uri))["Body"].read()
        assert len(body) == files[name].size_bytes
        return body.decode()

    heard = read("transcript.txt")
    wer = word_error_rate(" ".join(SENTENCES), heard)
    assert wer <= 0.35, f"WER {wer:.2f}: heard {heard!r}"
    vtt, srt = read("transcript.vtt"), read("transcript.srt")
    assert_monotonic(cue_times(vtt, webvtt=True))
    assert_monotonic(cue_times(srt, webvtt=False))
    assert cue_times(vtt, webvtt=True) == cue_times(srt, webvtt=False)
    # Every cue lies inside the clip.
    assert cue_times(vtt, webvtt=True)[-1][1] <= event.duration_seconds + 0.1

    wait_for_status(video_id, {"ready"})


def test_a_tone_only_clip_ends_ready_with_no_speech(pipeline, common_settings, tmp_path):
    clip = make_clip(tmp_path / "tone.mp4", 640, 360, seconds=2)
    reply = submit(clip)
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]
    event = captions_of(common_settings.kafka_bootstrap, video_id)
    assert event.captions_outcome == "no_speech" and event.language is None
    video = wait_for_status(video_id, {"ready", "failed"})
    assert video["status"] == "ready"
    detail = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", headers=admin_headers(),
                       timeout=10).json()
    assert detail["status"] == "ready"
