"""The ladder study: VMAF against bitrate for each rung at a few CRF and cap settings, on
two generated sources, so each rung's cap can sit at the knee of its curve.

    .venv/bin/python -m benchmarks.ladder [--seconds 4] [--top 1080] [--uhd 1]
    ./run bench ladder ...

Sources (generated with FFmpeg filters, nothing downloaded), 1080p30:
  synthetic  `testsrc2`: flat colours, sharp edges, a scrolling pattern (the tests' clip);
  camera     moving gradients with a moving `testsrc2` inset under strong temporal grain
             (`noise=alls=14:allf=t+u`): every frame new high-frequency detail, the kind
             of picture that makes a camera upload expensive.

Each source is scaled once per rung to a lossless reference (the service's scaler), then
encoded with the service's own rung options (`encode._video_options`: preset, GOP, level)
at: the rung's CRF uncapped, two CRFs around it uncapped, and the rung's CRF under several
caps (maxrate, 2x VBV buffer). VMAF (v0.6.1, every frame) of each encode against its
reference; bitrate is the video stream's size * 8 / duration. `--uhd 1` adds the hevc
profile's 2160p rung on a 2160p camera source; `--hevc 1` studies the hevc profile's
1440p and 2160p rungs (CRFs and caps) on 2160p sources. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".reelflow-bench" / "ladder"

#: Caps tried per rung (kb/s), around the shipped one.
CAPS: dict[str, tuple[int, ...]] = {
    "240p": (150, 200, 300, 450),
    "360p": (250, 400, 600, 900),
    "480p": (500, 750, 1000, 1500),
    "720p": (1000, 1500, 2000, 2500, 3500),
    "1080p": (2000, 3600, 6000),
    # hevc's top rungs (`--hevc 1`), around the shipped 4,500k and 12,000k.
    "1440p": (3000, 4500, 6500),
    "2160p": (8000, 12000, 16000),
}


@dataclass(frozen=True)
class Point:
    source: str
    profile: str
    rung: str
    setting: str
    kbps: float
    vmaf: float
    seconds: float


def run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:6]}... failed: {done.stderr[-2000:]}")
    return done.stderr


def make_source(ffmpeg: str, kind: str, path: Path, width: int, height: int,
                seconds: float) -> Path:
    """A lossless (x264 qp 0) 30 fps source of `kind` at `width`x`height`."""
    size = f"{width}x{height}"
    if kind == "synthetic":
        graph = f"testsrc2=size={size}:rate=30:duration={seconds}"
    else:
        inset_w = width // 3
        graph = (f"gradients=size={size}:rate=30:duration={seconds}:speed=0.03:n=6[bg];"
                 f"testsrc2=size={inset_w}x{inset_w * 9 // 16}:rate=30:duration={seconds}[fg];"
                 f"[bg][fg]overlay=x='mod(t*{width // 5},W-w)':y='(H-h)/2+(H/4)*sin(t*2)',"
                 "noise=alls=14:allf=t+u,format=yuv420p")
    run([ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-filter_complex",
         graph, "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0",
         str(path)])
    return path


def reference(ffmpeg: str, source: Path, path: Path, width: int, height: int) -> Path:
    from services.transcode.encode import SCALER

    run([ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(source),
         "-vf", f"scale={width}:{height}:flags={SCALER},format=yuv420p,setsar=1",
         "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", str(path)])
    return path


def encode_point(ffmpeg: str, ref: Path, out: Path, options: dict[str, object]) -> float:
    started = time.monotonic()
    args = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(ref),
            "-an"]
    for key, value in options.items():
        args += [f"-{key}", str(value)]
    run([*args, "-f", "mp4", str(out)])
    return time.monotonic() - started


def vmaf(ffmpeg: str, dist: Path, ref: Path, log: Path) -> float:
    from services.transcode.quality import VMAF_MODEL, parse_vmaf_log

    run([ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(dist),
         "-i", str(ref), "-lavfi",
         # Pair frames by index: the MP4's and the MKV's time bases round differently,
         # and libvmaf's timestamp sync would then compare neighbouring frames.
         "[0:v]settb=1/30,setpts=N[d];[1:v]settb=1/30,setpts=N[r];[d][r]libvmaf="
         f"model={VMAF_MODEL}:n_threads={os.cpu_count() or 1}:log_fmt=json:log_path={log}",
         "-f", "null", "-"])
    score, _ = parse_vmaf_log(log.read_text())
    assert score is not None
    return score


def study_rung(ffmpeg: str, source_name: str, source: Path, profile_name: str, rung_name: str,
               seconds: float, work: Path, caps: bool = True,
               shipped: bool = False, crf_points: bool = True) -> list[Point]:
    from services.transcode.encode import _video_options
    from services.transcode.ladder import SourceShape, plan_ladder
    from services.transcode.profiles import get_profile

    profile = get_profile(profile_name)
    rung = profile.rung(rung_name)
    plan = plan_ladder(SourceShape(rung.long, rung.short, frame_rate=Fraction(30)), profile,
                       [rung_name])
    target = plan.videos[0]
    ref = reference(ffmpeg, source, work / f"{source_name}-{rung_name}-ref.mkv",
                    target.width, target.height)
    crfs = (rung.crf - 3, rung.crf, rung.crf + 3) if crf_points else ()
    settings: list[tuple[str, object]] = [(f"crf {crf}", crf) for crf in crfs]
    settings += [(f"crf {rung.crf} cap {cap}", cap) for cap in CAPS.get(rung_name, ()) if caps]
    if shipped:  # the profile's own setting only (e.g. to check it on a long clip)
        settings = ([(f"crf {rung.crf} cap {rung.maxrate_kbps}", rung.maxrate_kbps)]
                    if rung.maxrate_kbps else [(f"crf {rung.crf}", rung.crf)])
    points = []
    for label, value in settings:
        if "cap" in label:
            variant = dataclasses.replace(rung, maxrate_kbps=int(str(value)))
        else:
            variant = dataclasses.replace(rung, crf=int(str(value)), maxrate_kbps=None)
        options = _video_options(profile, dataclasses.replace(target, rung=variant), plan)
        out = work / f"{source_name}-{profile_name}-{rung_name}-{label.replace(' ', '_')}.mp4"
        took = encode_point(ffmpeg, ref, out, options)
        score = vmaf(ffmpeg, out, ref, out.with_suffix(".json"))
        point = Point(source_name, profile_name, rung_name, label,
                      out.stat().st_size * 8 / seconds / 1000, score, took)
        print(f"  {source_name:<10}{profile_name:<8}{rung_name:>6}  {label:<18}"
              f"{point.kbps:>8.0f} kb/s  VMAF {point.vmaf:6.2f}  ({took:.1f} s)", flush=True)
        points.append(point)
    return points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--top", type=int, default=1080,
                        help="highest H.264 rung studied (0: none, e.g. with --uhd 1)")
    parser.add_argument("--uhd", type=int, default=0, help="1: add a 2160p hevc point")
    parser.add_argument("--rung", default="", help="study this H.264 rung only")
    parser.add_argument("--source", default="", help="synthetic or camera only")
    parser.add_argument("--crf-points", type=int, default=1,
                        help="0: caps only (no uncapped CRF points)")
    parser.add_argument("--shipped", type=int, default=0,
                        help="1: only the profile's own CRF and cap per rung")
    parser.add_argument("--hevc", type=int, default=0,
                        help="1: study the hevc profile's 1440p and 2160p rungs (CRFs and "
                             "caps) on 2160p sources")
    options = parser.parse_args()

    from services.shared.settings import CommonSettings
    from services.transcode.profiles import get_profile

    ffmpeg = CommonSettings().ffmpeg_path
    work = WORK / (f"top{options.top}-uhd{options.uhd}-{options.rung}-{options.source}-"
                   f"{options.shipped}-hevc{options.hevc}")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    rungs = [r.name for r in get_profile("default").rungs if r.short <= options.top
             and options.rung in ("", r.name)]
    points: list[Point] = []
    print(f"{os.cpu_count()} CPUs, {options.seconds:g} s clips at 30 fps", flush=True)
    kinds = [k for k in ("synthetic", "camera") if options.source in ("", k)]
    for kind in kinds if rungs else ():
        source = make_source(ffmpeg, kind, work / f"{kind}-1080p.mkv", 1920, 1080,
                             options.seconds)
        for rung in rungs:
            points += study_rung(ffmpeg, kind, source, "default", rung, options.seconds, work,
                                 shipped=bool(options.shipped),
                                 crf_points=bool(options.crf_points))
    if options.uhd:
        # One 2160p point set: 2 s is shorter than the VBV buffer, so caps would not bind;
        # the CRF curve alone shows where the 2160p knee is.
        seconds = min(options.seconds, 2.0)
        source = make_source(ffmpeg, "camera", work / "camera-2160p.mkv", 3840, 2160, seconds)
        points += study_rung(ffmpeg, "camera", source, "hevc", "2160p", seconds, work,
                             caps=False)
    if options.hevc:
        # The rungs only hevc and av1 carry, on 2160p30 sources of the same two kinds.
        for kind in kinds:
            source = make_source(ffmpeg, kind, work / f"{kind}-2160p.mkv", 3840, 2160,
                                 options.seconds)
            for rung in ("1440p", "2160p"):
                points += study_rung(ffmpeg, kind, source, "hevc", rung, options.seconds,
                                     work, crf_points=bool(options.crf_points))
    (work / "points.json").write_text(json.dumps([dataclasses.asdict(p) for p in points],
                                                 indent=1))
    print("\n| source | profile | rung | setting | kb/s | VMAF |\n|---|---|---|---|---|---|")
    for p in points:
        print(f"| {p.source} | {p.profile} | {p.rung} | {p.setting} | {p.kbps:,.0f} | "
              f"{p.vmaf:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
