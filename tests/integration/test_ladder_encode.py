"""The ladder against real FFmpeg: what a source gets is what the written files are.

Clips are 2 s or shorter and the preset is x264's veryfast, so the file stays cheap.
Expected sizes, rates and levels are written down here (the H.264 level table), and read
back from the files with ffprobe, not from the planner.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest

from services.shared.media import probing
from services.shared.settings import CommonSettings
from services.transcode.encode import EncodeResult, encode_all
from services.transcode.ladder import LadderPlan, plan_ladder
from services.transcode.profiles import get_profile
from tests.media import make_clip

pytestmark = pytest.mark.integration

FAST = get_profile("default", preset="veryfast")


def encode(source: Path, workdir: Path,
           requested: list[str] | None = None) -> tuple[LadderPlan, EncodeResult]:
    async def go() -> tuple[LadderPlan, EncodeResult]:
        probe = await probing.probe(source)
        plan = plan_ladder(probe, FAST, requested)
        return plan, await encode_all(source, workdir, plan, probe)
    return asyncio.run(go())


def video_facts(path: Path) -> dict[str, object]:
    done = subprocess.run([CommonSettings().ffprobe_path, "-v", "error", "-select_streams",
                           "v:0", "-count_packets", "-show_entries",
                           "stream=width,height,avg_frame_rate,level,nb_read_packets",
                           "-of", "json", str(path)],
                          capture_output=True, text=True, timeout=60, check=True)
    stream = json.loads(done.stdout)["streams"][0]
    return {"size": (stream["width"], stream["height"]), "rate": stream["avg_frame_rate"],
            "level": stream["level"], "frames": int(stream["nb_read_packets"])}


def test_a_480p_source_gets_240p_360p_480p_and_nothing_above(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "sd.mp4", 854, 480, seconds=2)
    plan, result = encode(clip, tmp_path / "out")
    assert plan.outputs == ["240p", "360p", "480p", "audio", "mp3", "thumbnails"]
    assert [o.name for o in result.videos] == ["240p", "360p", "480p"]
    assert [video_facts(o.path)["size"] for o in result.videos] == \
        [(426, 240), (640, 360), (854, 480)]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.mp4")) == \
        ["240p.mp4", "360p.mp4", "480p.mp4"]


def test_a_60_fps_source_keeps_60_fps_rungs_at_a_level_that_allows_it(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "hfr.mp4", 1920, 1080, seconds=2, fps=60)
    _, result = encode(clip, tmp_path / "out", ["240p", "1080p"])
    for output in result.videos:
        facts = video_facts(output.path)
        assert facts["rate"] == "60/1" and facts["frames"] == 120, (output.name, facts)
        assert output.frame_rate == 60
    # H.264 table A-1: 1080p at 60 fps needs level 4.2 (4.1 stops at 30); 240p60 fits 3.0.
    assert video_facts(result.output("1080p").path)["level"] == 42
    assert result.output("1080p").codecs.startswith("avc1.64002a")
    assert video_facts(result.output("240p").path)["level"] == 30


def test_a_120_fps_source_is_halved_to_60(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "fast.mp4", 640, 360, seconds=1, fps=120)
    _, result = encode(clip, tmp_path / "out")
    assert [o.name for o in result.videos] == ["240p", "360p"]
    for output in result.videos:
        facts = video_facts(output.path)
        assert facts["rate"] == "60/1" and facts["frames"] == 60, (output.name, facts)


def make_pq_clip(path: Path, sdr: Path) -> Path:
    """`sdr` (testsrc2, BT.709) as an HDR10-style master: BT.2020 primaries, PQ (SMPTE 2084),
    10-bit, with SDR white placed at 1000 cd/m2 (the peak the pipeline maps from)."""
    graph = ("setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv,"
             "format=yuv420p,zscale=t=linear,format=gbrpf32le,"
             "zscale=p=bt2020:t=smpte2084:m=bt2020nc:r=tv:npl=1000,format=yuv420p10le")
    subprocess.run([CommonSettings().ffmpeg_path, "-hide_banner", "-nostdin", "-loglevel",
                    "error", "-y", "-i", str(sdr), "-vf", graph, "-c:v", "libx265",
                    "-preset", "ultrafast", "-x265-params", "log-level=error",
                    "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace",
                    "bt2020nc", "-an", str(path)], check=True, timeout=120)
    return path


def picture_stats(path: Path) -> tuple[float, float]:
    """(luma range, mean saturation) in 8-bit units over the clip, from signalstats."""
    done = subprocess.run([CommonSettings().ffmpeg_path, "-hide_banner", "-nostdin", "-i",
                           str(path), "-vf", "format=yuv420p,signalstats,metadata=print",
                           "-f", "null", "-"], capture_output=True, text=True, timeout=120)

    def values(key: str) -> list[float]:
        return [float(v) for v in re.findall(rf"signalstats\.{key}=([0-9.]+)", done.stderr)]
    assert values("YMAX"), done.stderr[-2000:]
    return max(values("YMAX")) - min(values("YMIN")), sum(values("SATAVG")) / len(
        values("SATAVG"))


def psnr(a: Path, b: Path) -> float:
    done = subprocess.run([CommonSettings().ffmpeg_path, "-hide_banner", "-nostdin", "-i",
                           str(a), "-i", str(b), "-lavfi",
                           "[0:v]format=yuv420p[x];[1:v]format=yuv420p[y];[x][y]psnr",
                           "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    return float(re.findall(r"average:([0-9.]+)", done.stderr)[-1])


def test_an_hdr_source_is_tone_mapped_to_sdr_on_purpose(tmp_path: Path) -> None:
    sdr = make_clip(tmp_path / "sdr.mp4", 640, 360, seconds=1, audio=False)
    pq = make_pq_clip(tmp_path / "pq.mp4", sdr)
    plan, result = encode(pq, tmp_path / "out", ["360p"])
    assert plan.tone_map_from == "smpte2084"
    out = result.output("360p").path
    done = subprocess.run([CommonSettings().ffprobe_path, "-v", "error", "-select_streams",
                           "v:0", "-show_entries",
                           "stream=pix_fmt,color_transfer,color_primaries,color_space",
                           "-of", "json", str(out)], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["streams"][0] == {
        "pix_fmt": "yuv420p", "color_transfer": "bt709", "color_primaries": "bt709",
        "color_space": "bt709"}
    # The oracle is the SDR original (its white was the master's 1000 cd/m2 peak). Shown
    # as if SDR, the PQ code values (an 8-bit cut without tone-mapping) are grey and pale;
    # the tone-mapped rung has the original's contrast and colour back.
    (sdr_range, sdr_sat), (out_range, out_sat), (pq_range, pq_sat) = \
        picture_stats(sdr), picture_stats(out), picture_stats(pq)
    assert out_range >= 0.9 * sdr_range > pq_range, (out_range, sdr_range, pq_range)
    assert out_sat >= 0.8 * sdr_sat > pq_sat, (out_sat, sdr_sat, pq_sat)
    assert psnr(out, sdr) > psnr(pq, sdr) + 6, (psnr(out, sdr), psnr(pq, sdr))
