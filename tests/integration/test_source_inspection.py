"""Ingest's one-run inspection (`inspect_source(one_run=True)`: one ffprobe that probes and
decodes the first packets) against the transcoder's (probe, then the ffmpeg decode check):
the same facts and the same coded refusals, and the second process only when the first
run's decode leaves a doubt. Real FFmpeg on clips made on the spot."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from services.shared.media import probing
from services.shared.media.errors import ProbeError
from services.shared.settings import CommonSettings, SourceLimits
from tests.media import make_clip


@pytest.fixture
def decode_checks(monkeypatch) -> list[str]:
    """The sources the separate ffmpeg decode check ran on (it still runs: a spy)."""
    seen: list[str] = []
    check = probing.decode_check

    async def spy(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(Path(source).name)
        return await check(source, *args, **kwargs)

    monkeypatch.setattr(probing, "decode_check", spy)
    return seen


def inspect(path: Path, one_run: bool, frames: int = 5) -> probing.SourceProbe | str:
    """The facts, or the refusal's code."""
    try:
        return asyncio.run(probing.inspect_source(
            path, CommonSettings(), SourceLimits(decode_check_frames=frames), one_run=one_run))
    except ProbeError as exc:
        return exc.code


def test_a_clip_is_judged_alike_in_one_run_without_the_second_process(tmp_path,
                                                                      decode_checks):
    for clip in (make_clip(tmp_path / "clip.mp4", 640, 360, seconds=2),
                 make_clip(tmp_path / "portrait.mov", 360, 640, seconds=2, rotate=90),
                 make_clip(tmp_path / "silent.mkv", 1280, 720, seconds=2, audio=False)):
        one = inspect(clip, one_run=True)
        assert decode_checks == [], decode_checks
        assert one == inspect(clip, one_run=False)  # SourceProbe equality: raw aside
        assert decode_checks == [clip.name]
        decode_checks.clear()


def test_when_the_window_cannot_settle_it_the_decode_check_runs(tmp_path, decode_checks):
    # 50 frames in all, 60 asked: the window reaches the end with too few.
    clip = make_clip(tmp_path / "clip.mp4", 640, 360, seconds=2)
    assert inspect(clip, one_run=True, frames=60) == inspect(clip, one_run=False, frames=60)
    assert decode_checks == ["clip.mp4", "clip.mp4"]


def test_refusals_keep_their_codes(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file with a video extension\n" * 100)
    whole = make_clip(tmp_path / "whole.mp4", 640, 360, seconds=3)
    truncated = tmp_path / "truncated.mp4"  # no faststart: half has no index
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    small = make_clip(tmp_path / "small.mp4", 320, 240, seconds=2)
    short = make_clip(tmp_path / "short.mp4", 640, 360, seconds=0.4)
    audio = make_clip(tmp_path / "tone.m4a", 640, 360, seconds=2, video=False)
    expected = {text: "not_media", truncated: "not_media", small: "resolution_too_low",
                short: "duration_too_short", tmp_path / "missing.mp4": "not_found"}
    for path, code in expected.items():
        assert inspect(path, one_run=True) == inspect(path, one_run=False) == code, path
    assert inspect(audio, one_run=True) == inspect(audio, one_run=False)


def test_an_mpegts_stream_decodes_in_the_probe(tmp_path, decode_checks):
    """The ingest bench's body: H.264/AAC in MPEG-TS. Its facts match but for the AAC
    bit rate, which the TS parser refines as it reads (why it is not the transcoder's)."""
    ts = tmp_path / "clip.ts"
    subprocess.run([CommonSettings().ffmpeg_path, "-v", "error", "-i",
                    str(make_clip(tmp_path / "clip.mp4", 1280, 720, seconds=2)),
                    "-c", "copy", "-f", "mpegts", str(ts)], check=True)
    one, two = inspect(ts, one_run=True), inspect(ts, one_run=False)
    assert decode_checks == ["clip.ts"]
    assert isinstance(one, probing.SourceProbe) and isinstance(two, probing.SourceProbe)
    assert one.video == two.video and one.duration == two.duration
    assert one.audio is not None and two.audio is not None
    assert (one.audio.codec, one.audio.channels) == (two.audio.codec, two.audio.channels)
