"""The media core against real FFmpeg: one encode run, aligned GOPs, quality, thumbnails,
audio-only and silent sources, cancellation, HEVC and AV1.

Only FFmpeg is needed (no Kafka/S3). Clips are short and small and presets fast, so the
whole file runs in well under a minute and a half on two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from services.shared.media import probing
from services.shared.media.errors import FfmpegUnsupported, ProbeError
from services.shared.media.probe_parser import SourceProbe
from services.shared.media.toolcheck import check_ffmpeg
from services.shared.settings import CommonSettings
from services.transcode.encode import EncodeResult, MediaKind, encode_all, sha256_file
from services.transcode.ladder import LadderPlan, plan_ladder
from services.transcode.profiles import get_profile
from services.transcode.quality import QualityReport, score_quality
from tests.media import make_clip

pytestmark = pytest.mark.integration

FAST = get_profile("default", preset="veryfast")


def settings() -> CommonSettings:
    """Read when a test runs (the session fixture has set the test slot's environment)."""
    return CommonSettings()


def ffmpeg_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([settings().ffmpeg_path, "-hide_banner", "-nostdin", *args],
                          capture_output=True, text=True, timeout=60)


def assert_decodes(path: Path) -> None:
    done = ffmpeg_run("-v", "error", "-i", str(path), "-f", "null", "-")
    assert done.returncode == 0 and not done.stderr.strip(), (path, done.stderr)


def keyframe_times(path: Path) -> list[float]:
    done = subprocess.run([settings().ffprobe_path, "-v", "error", "-select_streams", "v:0",
                           "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, timeout=60, check=True)
    return [round(float(line.split(",")[0]), 3) for line in done.stdout.split()
            if "K" in line.split(",")[1]]


def stream_types(path: Path) -> list[str]:
    done = subprocess.run([settings().ffprobe_path, "-v", "error", "-show_entries",
                           "stream=codec_type", "-of", "csv=p=0", str(path)],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.split()


def psnr(a: Path, b: Path) -> float:
    done = ffmpeg_run("-i", str(a), "-i", str(b), "-lavfi", "psnr", "-f", "null", "-")
    value = re.search(r"average:(inf|[0-9.]+)", done.stderr)
    assert value, done.stderr
    return math.inf if value.group(1) == "inf" else float(value.group(1))


def encode(source: Path, workdir: Path, profile=FAST, progress=None):  # type: ignore[no-untyped-def]
    async def go() -> tuple[SourceProbe, LadderPlan, EncodeResult]:
        probe = await probing.probe(source)
        plan = plan_ladder(probe, profile)
        return probe, plan, await encode_all(source, workdir, plan, probe, progress)
    return asyncio.run(go())


@pytest.fixture(scope="module")
def hd(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A 4 s 1280x720 clip with audio, encoded once and scored once for several tests."""
    root = tmp_path_factory.mktemp("hd")
    source = make_clip(root / "source.mp4", 1280, 720, seconds=4)
    progress: list[float] = []
    probe, plan, result = encode(source, root / "work", progress=progress.append)
    report = asyncio.run(score_quality(source, result, plan, probe, root / "work" / "quality"))
    return source, probe, plan, result, report, progress


def test_one_run_writes_every_output_and_they_decode(hd):
    _, probe, plan, result, _, progress = hd
    assert plan.outputs == ["240p", "360p", "480p", "720p", "audio", "mp3", "thumbnails"]
    assert [o.name for o in result.outputs] == plan.outputs
    assert result.encode_seconds > 0 and result.command.count(" -filter_complex ") == 1
    for out in result.outputs:
        assert out.path.is_file() and out.size_bytes == out.path.stat().st_size
        assert out.sha256 == sha256_file(out.path)
        if out.media_type is not MediaKind.IMAGES:
            assert_decodes(out.path)
            assert out.duration_seconds == pytest.approx(probe.duration, abs=0.1)
            assert out.bitrate == round(out.size_bytes * 8 / out.duration_seconds)
    r360, r720 = result.output("360p"), result.output("720p")
    assert (r360.width, r360.height, r720.width, r720.height) == (640, 360, 1280, 720)
    assert r360.codecs == "avc1.4d401f,mp4a.40.2" and r720.codecs == "avc1.640028,mp4a.40.2"
    assert r360.frame_rate == r720.frame_rate == 25.0 and r360.frame_count == 100
    assert (r360.video_codec, r360.audio_codec) == ("h264", "aac")
    for rung in (r360, r720):  # faststart: the index comes before the media data
        head = rung.path.read_bytes()[:65536]
        assert 0 <= head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head
    audio, mp3 = result.output("audio"), result.output("mp3")
    assert (audio.codecs, audio.media_type, audio.video_codec) == ("mp4a.40.2", MediaKind.AUDIO,
                                                                   None)
    assert stream_types(audio.path) == ["audio"] and stream_types(r720.path) == ["video", "audio"]
    assert (mp3.codecs, mp3.container, mp3.content_type) == ("mp3", "mp3", "audio/mpeg")
    assert progress and progress[-1] == 1.0 and progress == sorted(progress)


def test_keyframes_are_aligned_across_rungs_every_two_seconds(hd):
    _, _, plan, result, _, _ = hd
    times = [keyframe_times(v.path) for v in result.videos]
    assert times[0] == [0.0, 2.0], times
    assert all(t == times[0] for t in times)
    assert plan.gop_frames == 50


def test_quality_is_scored_for_every_rung(hd):
    _, _, _, result, report, _ = hd
    assert isinstance(report, QualityReport) and set(report.scores) == {"240p", "360p", "480p",
                                                                      "720p"}
    for score in report.scores.values():
        assert score.vmaf is not None and 80 < score.vmaf <= 100
        assert score.psnr is not None and 30 < score.psnr <= 100
        assert score.ssim is not None and 0.9 < score.ssim <= 1.0
        assert score.frames_scored == 20  # 100 frames, every 5th
        assert score.vmaf_floor == 90.0 and score.below_floor == (score.vmaf < 90.0)
    assert report.seconds > 0


def test_thumbnails_sprite_and_storyboard(hd, tmp_path):
    source, _, _, result, _, _ = hd
    thumbs = result.output("thumbnails")
    names = [a.name for a in thumbs.artifacts]
    assert names == ["thumb_000.jpg", "thumb_025.jpg", "thumb_050.jpg", "thumb_075.jpg",
                     "thumb_100.jpg", "sprite.jpg", "storyboard.vtt"]
    assert thumbs.media_type is MediaKind.IMAGES and thumbs.path.name == "thumb_025.jpg"
    for artifact in thumbs.artifacts:
        assert artifact.size_bytes == artifact.path.stat().st_size > 0
        assert artifact.sha256 == sha256_file(artifact.path)
        if artifact.content_type == "image/jpeg":
            assert artifact.path.read_bytes()[:3] == b"\xff\xd8\xff"
    assert (thumbs.width, thumbs.height) == (1280, 720)
    vtt = (thumbs.path.parent / "storyboard.vtt").read_text()
    cues = re.findall(r"(\S+) --> (\S+)\nsprite\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)", vtt)
    assert [c[:2] for c in cues] == [("00:00:00.000", "00:00:02.000"),
                                     ("00:00:02.000", "00:00:04.000")]
    assert cues[1][2:] == ("160", "0", "160", "90")
    # The 100 % still is the source's last frame, not the one before it.
    for n in (98, 99):
        done = ffmpeg_run("-v", "error", "-i", str(source), "-vf", f"select=eq(n\\,{n})",
                          "-fps_mode", "passthrough", "-q:v", "3", str(tmp_path / f"{n}.jpg"))
        assert done.returncode == 0, done.stderr
    last = thumbs.path.parent / "thumb_100.jpg"
    assert psnr(last, tmp_path / "99.jpg") > psnr(last, tmp_path / "98.jpg") + 3


def test_audio_only_source_gets_only_audio_outputs(tmp_path):
    source = make_clip(tmp_path / "voice.m4a", 0, 0, seconds=2, video=False)
    _, plan, result = encode(source, tmp_path / "work")
    assert plan.outputs == [o.name for o in result.outputs] == ["audio", "mp3"]
    for out in result.outputs:
        assert out.media_type is MediaKind.AUDIO and out.width is None
        assert_decodes(out.path)
    assert sorted(p.name for p in (tmp_path / "work").glob("*.*")) == ["audio.m4a", "audio.mp3"]


def test_silent_source_gets_no_mp3_and_video_only_rungs(tmp_path):
    source = make_clip(tmp_path / "silent.mp4", 640, 360, seconds=2, audio=False)
    _, plan, result = encode(source, tmp_path / "work")
    assert [o.name for o in result.outputs] == ["240p", "360p", "thumbnails"]
    rung = result.output("360p")
    assert stream_types(rung.path) == ["video"] and rung.codecs == "avc1.4d401f"
    assert rung.audio_codec is None and not (tmp_path / "work" / "audio.mp3").exists()


def test_phone_portrait_video_is_encoded_upright(tmp_path):
    source = make_clip(tmp_path / "phone.mp4", 640, 360, seconds=1, rotate=90)
    _, plan, result = encode(source, tmp_path / "work")
    rung = result.output("360p")
    assert (rung.width, rung.height) == (360, 640)
    assert (result.output("thumbnails").width, result.output("thumbnails").height) == (360, 640)
    probe = asyncio.run(probing.probe(rung.path))
    assert probe.video is not None and probe.video.rotation == 0


@pytest.mark.parametrize(("name", "preset", "prefix", "codec"), [
    ("hevc", "ultrafast", "hvc1.1.6.L93.", "hevc"),
    ("av1", "11", "av01.0.", "av1"),
])
def test_hevc_and_av1_profiles_produce_decodable_aligned_output(tmp_path, name, preset, prefix,
                                                                codec):
    source = make_clip(tmp_path / "clip.mp4", 640, 360, seconds=3, fps=30)
    _, _, result = encode(source, tmp_path / "work", get_profile(name, preset=preset))
    rung = result.output("360p")
    assert rung.codecs.startswith(prefix) and rung.codecs.endswith(",mp4a.40.2")
    assert rung.video_codec == codec
    assert_decodes(rung.path)
    assert keyframe_times(rung.path) == [0.0, 2.0]
    if name == "hevc":
        assert b"hvc1" in rung.path.read_bytes()[:65536]


def ffmpeg_children() -> set[int]:
    """Live ffmpeg processes whose parent is this test process."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            fields = text[text.rindex(")") + 2:].split()
            if int(fields[1]) == os.getpid() and fields[0] != "Z" \
                    and text[text.index("(") + 1:].startswith("ffmpeg"):
                found.add(int(stat.parent.name))
    return found


def test_cancelling_the_task_stops_ffmpeg_promptly(hd, tmp_path):
    source = hd[0]
    slow = get_profile("default", preset="veryslow")

    async def scenario() -> tuple[set[int], float]:
        probe = await probing.probe(source)
        plan = plan_ladder(probe, slow)
        started = asyncio.Event()
        task = asyncio.create_task(
            encode_all(source, tmp_path / "work", plan, probe, lambda _: started.set()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(started.wait(), 1.5)
        running = ffmpeg_children()
        assert running and not task.done()
        begun = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return running, time.monotonic() - begun

    running, took = asyncio.run(scenario())
    assert took < 2.5  # SIGTERM, then SIGKILL after the encode's 1 s grace
    assert not any(Path(f"/proc/{pid}").exists() for pid in running)
    assert not ffmpeg_children()


def test_binary_check_and_probe_errors(tmp_path):
    info = asyncio.run(check_ffmpeg(settings()))
    assert info.major >= 6 and {"libx264", "libx265", "libsvtav1"} <= info.encoders
    assert "libvmaf" in info.filters
    with pytest.raises(FfmpegUnsupported, match="encoder nosuch"):
        info.require(encoders=["nosuch"])
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file with a video extension\n" * 100)
    for path, code in [(text, "not_media"), (tmp_path / "missing.mp4", "not_found")]:
        with pytest.raises(ProbeError) as caught:
            asyncio.run(probing.probe(path))
        assert caught.value.code == code
    clip = make_clip(tmp_path / "ok.mp4", 320, 240, seconds=1, audio=False)
    assert asyncio.run(probing.decode_check(clip, settings(), frames=5)) == 5
