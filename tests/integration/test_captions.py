"""Captions with the real model: a clip of espeak-ng speech through the whole pipeline is
transcribed by the session's `reelflow captions` worker (faster-whisper, Whisper base int8).

One video serves the module. The stack's captions worker is stopped while it is encoded
and packaged, so its first package has no captions; then the worker starts again, hears
it, and the packager publishes revision 2 of the manifests with the captions track.

The oracle is what espeak-ng was given (tests/speech.py): the word error rate of the
transcript against the sentences, the language they are in, the time the second sentence
starts (espeak-ng speaks the first alone to measure it), and cue files parsed here.
"""

from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas import CAPTIONS_DONE
from schemas.events import RenditionDone
from services.shared.storage import ObjectRef
from tests.access import admin_headers
from tests.browser.test_pipeline_playback import absolute
from tests.browser.test_players import missing_prerequisite, run_players
from tests.integration.test_pipeline import (
    CATALOG,
    first_variant_decodes,
    submit,
    wait_for_status,
)
from tests.integration.test_transcode_resilience import codec, read_topic
from tests.media import make_clip
from tests.polling import wait_until
from tests.speech import SENTENCES, make_speech_clip, word_error_rate
from tests.tools import require, tool

pytestmark = pytest.mark.integration

LEAD_S = 0.5
_CUE_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)[.,](\d{3}) --> (\d\d):(\d\d):(\d\d)[.,](\d{3})$")


def captions_of(bootstrap: str, video_id: str, timeout: float = 240) -> RenditionDone:
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
    for (start, end), (next_start, _) in zip(times, [*times[1:], (float("inf"), 0.0)],
                                             strict=True):
        assert start < end <= next_start, times


def spoken_seconds(text: str, tmp: Path) -> float:
    """How long espeak-ng takes to say `text` (as make_speech_clip has it speak)."""
    wav = tmp / "alone.wav"
    subprocess.run([tool("espeak-ng", "espeak-ng"), "-s", "150", "-w", str(wav), text],
                   check=True, capture_output=True, timeout=60)
    with wave.open(str(wav)) as w:
        return w.getnframes() / w.getframerate()


def detail(video_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", headers=admin_headers(), timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.fixture(scope="module")
def captioned(pipeline, common_settings, tmp_path_factory) -> dict[str, Any]:
    """The module's video: first packaged without captions, then revised with them."""
    tmp = tmp_path_factory.mktemp("speech")
    clip = make_speech_clip(tmp / "speech.mp4", lead_s=LEAD_S)
    captions = pipeline.component("captions")
    captions.stop()
    try:
        reply = submit(clip, metadata='{"title": "A clip with a voice"}')
        assert reply.status_code == 202, reply.text
        video_id = reply.json()["video_id"]
        first = wait_for_status(video_id, {"ready", "failed"})
    finally:
        pipeline.restart("captions")
    assert first["status"] == "ready", first
    event = captions_of(common_settings.kafka_bootstrap, video_id)
    revised = wait_until(lambda: (lambda v: v if (v["package"] or {}).get("revision") == 2
                                  else None)(detail(video_id)),
                         "the captions revision to become the current package", timeout=120)
    return {"video_id": video_id, "first": first, "revised": revised, "event": event,
            "second_sentence_at": LEAD_S + spoken_seconds(SENTENCES[0], tmp)}


def test_spoken_sentences_become_captions_in_english_within_the_error_budget(
        captioned, store):
    event: RenditionDone = captioned["event"]
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
    assert cue_times(vtt, webvtt=True)[-1][1] <= event.duration_seconds + 0.1
    # The catalog lists the same outcome and files, apart from the encoded renditions.
    listed = captioned["revised"]["captions"]
    assert (listed["outcome"], listed["language"]) == ("ok", "en")
    assert all(r["media_type"] != "CAPTIONS" for r in captioned["revised"]["renditions"])


def test_a_package_without_captions_then_a_revision_with_them_is_one_video_and_both_play(
        captioned, tmp_path):
    first, revised = captioned["first"], captioned["revised"]
    assert first["package"]["revision"] == 1 and first["package"]["captions_language"] is None
    assert revised["package"]["revision"] == 2 and revised["package"]["captions_language"] == "en"
    assert revised["status"] == "ready" and revised["attempt"] == first["attempt"] == 1
    assert revised["attempts"] == [1] and revised["package"]["current"]
    old, new = (httpx.get(absolute(v["playback"]["hls"]), timeout=10) for v in (first, revised))
    assert old.status_code == new.status_code == 200
    assert "TYPE=SUBTITLES" not in old.text
    variants = [line for line in new.text.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert variants and all('SUBTITLES="subs"' in line for line in variants)
    media = re.search(r'TYPE=SUBTITLES,.*LANGUAGE="en".*URI="([^"]+)"', new.text)
    assert media, new.text
    base = absolute(revised["playback"]["hls"]).rsplit("/", 1)[0]
    subtitles = httpx.get(f"{base}/{media.group(1)}", timeout=10)
    assert subtitles.status_code == 200 and "#EXT-X-ENDLIST" in subtitles.text
    vtt = httpx.get(f"{base}/{media.group(1).rsplit('/', 1)[0]}/"
                    f"{subtitles.text.splitlines()[-2]}", timeout=10)
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    # The same segments: every variant playlist the new master names is the old one's.
    assert [line for line in new.text.splitlines() if not line.startswith("#")] == [
        line for line in old.text.splitlines() if not line.startswith("#")]
    assert first_variant_decodes(old, tmp_path) > 0
    assert first_variant_decodes(new, tmp_path) > 0
    mpd = httpx.get(absolute(revised["playback"]["dash"]), timeout=10).text
    assert re.search(r'<AdaptationSet[^>]*contentType="text"[^>]*lang="en"', mpd), mpd
    metadata = httpx.get(absolute(revised["playback"]["metadata"]), timeout=10).json()
    text = metadata["outputs"]["transcription"]["text"]
    assert text["language"] == "en" and text["word_count"] >= 10


def test_the_transcript_and_search_find_a_spoken_word_at_its_time(captioned):
    video_id = captioned["video_id"]
    transcript = wait_until(lambda: (lambda r: r.json() if r.status_code == 200 else None)(
        httpx.get(f"{CATALOG}/api/v1/videos/{video_id}/transcript", headers=admin_headers(),
                  timeout=10)), "the transcript", timeout=60)
    assert transcript["language"] == "en" and transcript["segments"]
    assert all(s["words"] for s in transcript["segments"])
    hits = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}/transcript/search",
                     params={"q": "midnight"}, headers=admin_headers(), timeout=10).json()["hits"]
    assert len(hits) == 1, hits
    # "midnight" closes the second sentence: after it starts, before the clip ends.
    assert captioned["second_sentence_at"] - 0.5 <= hits[0]["start"] <= (
        captioned["event"].duration_seconds)
    assert hits[0]["start"] > captioned["second_sentence_at"] + 1.0
    found = httpx.get(f"{CATALOG}/api/v1/videos", params={"q": "midnight", "limit": 500},
                      headers=admin_headers(), timeout=10).json()["items"]
    assert video_id in {v["video_id"] for v in found}
    # ... by the spoken word only: the metadata does not have it.
    assert "midnight" not in str(captioned["revised"]["user_metadata"]).lower()
    unknown = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}/transcript/search",
                        params={"q": "elephant"}, headers=admin_headers(), timeout=10)
    assert unknown.status_code == 200 and unknown.json()["hits"] == []


@pytest.mark.browser
def test_hls_js_and_shaka_list_the_captions_track_of_the_pipelines_package(captioned):
    require(missing_prerequisite())
    from tests.browser.test_pipeline_playback import page_origin_server

    revised = captioned["revised"]
    heights = [r["height"] for r in revised["renditions"] if r["media_type"] == "VIDEO"]
    with page_origin_server() as origin:
        runs = run_players(origin, str(max(heights)),
                           f"hls={absolute(revised['playback']['hls'])}",
                           f"shaka={absolute(revised['playback']['dash'])}",
                           note="captions revision, ")
    for engine in ("hls", "shaka"):
        run = runs[engine]
        assert run["failure"] is None and run["errors"] == [], run
        assert run["textTracks"] == 1 and run["textLanguages"] == ["en"], run
    assert runs["hls"]["textCues"] >= 1, runs["hls"]


def test_a_tone_only_clip_ends_ready_with_no_speech(pipeline, common_settings, tmp_path):
    clip = make_clip(tmp_path / "tone.mp4", 640, 360, seconds=2)
    reply = submit(clip)
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]
    event = captions_of(common_settings.kafka_bootstrap, video_id)
    assert event.captions_outcome == "no_speech" and event.language is None
    video = wait_for_status(video_id, {"ready", "failed"})
    assert video["status"] == "ready"
    assert wait_until(lambda: detail(video_id)["captions"], "captions in the catalog",
                      timeout=30)["outcome"] == "no_speech"
    assert detail(video_id)["package"]["revision"] == 1
