"""VMAF, PSNR and SSIM of every video rendition, in one ffmpeg run.

Each rendition is compared at its own resolution with the source brought to that same
size through the very filters the encode used (`source_picture` + `rung_picture`: same
deinterlacer, frame rate, scaler), so the score is the encoder's loss, not the resize's.

Cost control: the source and each rendition are decoded once for all metrics and all
rungs. libvmaf scores every `subsample`-th frame (`n_subsample`; it still sees every frame,
so its motion feature stays right) and PSNR/SSIM get the same frames via `select`. The
interval is odd on purpose: encoders' frame pyramids alternate detail on even/odd frames,
and an even interval would score only one kind (Netflix/vmaf#1214).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ffmpeg  # ffmpeg-python: builds the filter graph and argv, runs nothing

from schemas.events import Quality
from services.shared.media.probe_parser import SourceProbe
from services.shared.media.process import FfmpegRun, ffmpeg_argv
from services.shared.settings import CommonSettings
from services.transcode.encode import EncodeResult, rung_picture, source_picture
from services.transcode.ladder import LadderPlan, VideoTarget

#: Built into libvmaf, so no model file has to ship with the static ffmpeg.
VMAF_MODEL = "version=vmaf_v0.6.1"
DEFAULT_SUBSAMPLE = 5
#: Identical pictures have infinite PSNR; events carry this instead.
PSNR_CAP = 100.0

_SUMMARY = re.compile(r"\[(psnr|ssim)@q(\d+) @ [^]]+\] (?:PSNR|SSIM) .*?"
                      r"(?:average|All):(inf|[0-9.]+)")


@dataclass(frozen=True)
class QualityScore:
    rendition: str
    vmaf: float | None
    psnr: float | None
    ssim: float | None
    frames_scored: int
    vmaf_floor: float

    @property
    def below_floor(self) -> bool:
        return self.vmaf is not None and self.vmaf < self.vmaf_floor

    def as_event(self) -> Quality:
        """The `Quality` record of `rendition-done`."""
        return Quality(vmaf=self.vmaf, psnr=self.psnr, ssim=self.ssim,
                       vmaf_floor=self.vmaf_floor, below_floor=self.below_floor,
                       frames_scored=self.frames_scored)


@dataclass(frozen=True)
class QualityReport:
    scores: dict[str, QualityScore]
    #: Wall time of the scoring run.
    seconds: float
    command: str


@dataclass(frozen=True)
class Distorted:
    """One encoded file to score: the rung it was made for and where it is."""

    target: VideoTarget
    path: Path

    @property
    def name(self) -> str:
        return self.target.name


@dataclass(frozen=True)
class Span:
    """A time range of the source (and of each rendition: they share its timeline)."""

    start_s: float
    duration_s: float


def build_scoring(source: Path, result: EncodeResult, plan: LadderPlan, probe: SourceProbe,
                  workdir: Path, subsample: int = DEFAULT_SUBSAMPLE) -> tuple[list[str], list[str]]:
    """(ffmpeg args, rendition names in graph order) for one run scoring every rung. Pure."""
    return build_scoring_of(source, _files(result, plan), plan, probe, workdir, subsample)


def _files(result: EncodeResult, plan: LadderPlan) -> list[Distorted]:
    present = {o.name for o in result.videos}
    return [Distorted(t, result.output(t.name).path) for t in plan.videos if t.name in present]


def build_scoring_of(source: Path, files: list[Distorted], plan: LadderPlan,
                     probe: SourceProbe, workdir: Path, subsample: int = DEFAULT_SUBSAMPLE,
                     span: Span | None = None) -> tuple[list[str], list[str]]:
    """(ffmpeg args, names in graph order) scoring `files` against `source`, over `span`
    of both (None: all of it; input seeking decodes from the keyframe before and drops
    up to the start, so the frames compared are the span's on both sides). Pure."""
    assert probe.video is not None
    window = {"ss": f"{span.start_s:.6f}", "t": f"{span.duration_s:.6f}"} if span else {}
    src = ffmpeg.input(str(source), **window)
    refs = source_picture(src[str(probe.video.index)], probe, plan) \
        .filter_multi_output("split", len(files))
    every = f"not(mod(n,{subsample}))"
    outputs = []
    for i, item in enumerate(files):
        ref = rung_picture(refs[i], item.target).filter("setpts", "PTS-STARTPTS") \
            .filter_multi_output("split", 2)
        ref_sampled = ref[1].filter("select", every).filter_multi_output("split", 2)
        dist = ffmpeg.input(str(item.path), **window)["v:0"] \
            .filter("setpts", "PTS-STARTPTS")
        # Distorted first, reference second: libvmaf/psnr/ssim pass the first input on.
        scored = ffmpeg.filter(
            [dist, ref[0]], f"libvmaf@q{i}", model=VMAF_MODEL, n_subsample=subsample,
            n_threads=os.cpu_count() or 1, log_fmt="json", log_path=str(vmaf_log(workdir, i)))
        scored = ffmpeg.filter([scored.filter("select", every), ref_sampled[0]], f"psnr@q{i}")
        scored = ffmpeg.filter([scored, ref_sampled[1]], f"ssim@q{i}")
        outputs.append(ffmpeg.output(scored, "-", f="null"))
    return ffmpeg.merge_outputs(*outputs).get_args(), [f.name for f in files]


def vmaf_log(workdir: Path, index: int) -> Path:
    return workdir / f"vmaf-{index}.json"


def parse_vmaf_log(text: str) -> tuple[float | None, int]:
    """(mean VMAF, frames scored) from libvmaf's JSON log.

    The mean is taken over the per-frame scores: older libvmaf pooled subsampled runs
    wrongly (Netflix/vmaf#1084).
    """
    frames = json.loads(text).get("frames") or []
    scores = [f["metrics"]["vmaf"] for f in frames if "vmaf" in f.get("metrics", {})]
    return (sum(scores) / len(scores) if scores else None), len(frames)


def parse_summaries(lines: list[str]) -> dict[tuple[str, int], float]:
    """{("psnr"|"ssim", graph index): average} from the filters' closing log lines."""
    found = {}
    for line in lines:
        match = _SUMMARY.search(line)
        if match:
            value = math.inf if match.group(3) == "inf" else float(match.group(3))
            found[(match.group(1), int(match.group(2)))] = value
    return found


async def score_quality(source: Path, result: EncodeResult, plan: LadderPlan,
                        probe: SourceProbe, workdir: Path, *,
                        subsample: int = DEFAULT_SUBSAMPLE,
                        on_progress: Callable[[float], None] | None = None,
                        settings: CommonSettings | None = None) -> QualityReport:
    """Score every video rendition of `result` against `source`; one ffmpeg run."""
    if not result.videos or probe.video is None:
        return QualityReport({}, 0.0, "")
    return await score_files(source, _files(result, plan), plan, probe, workdir,
                             subsample=subsample,
                             on_progress=on_progress, settings=settings)


async def score_files(source: Path, files: list[Distorted], plan: LadderPlan,
                      probe: SourceProbe, workdir: Path, *,
                      subsample: int = DEFAULT_SUBSAMPLE, span: Span | None = None,
                      on_progress: Callable[[float], None] | None = None,
                      settings: CommonSettings | None = None) -> QualityReport:
    """Score `files` against `source` (over `span`, or all of it); one ffmpeg run."""
    if not files or probe.video is None:
        return QualityReport({}, 0.0, "")
    workdir.mkdir(parents=True, exist_ok=True)
    args, names = build_scoring_of(source, files, plan, probe, workdir, subsample, span)
    summaries: list[str] = []
    seconds_scored = span.duration_s if span else probe.video_duration
    # `frame=` in -progress counts the first output's frames, which are the sampled ones.
    frames = (math.ceil(seconds_scored * plan.frame_rate / subsample)
              if plan.frame_rate else None)
    run = FfmpegRun(
        ffmpeg_argv(args, settings, progress=True, loglevel="info"), name="quality",
        duration_s=seconds_scored, total_frames=frames, on_progress=on_progress,
        grace_s=1.0,
        on_stderr_line=lambda line: summaries.append(line) if "@q" in line else None)
    started = time.monotonic()
    await run.run()
    seconds = time.monotonic() - started
    averages = parse_summaries(summaries)
    scores = {}
    for i, name in enumerate(names):
        vmaf, scored = parse_vmaf_log(vmaf_log(workdir, i).read_text())
        psnr = averages.get(("psnr", i))
        scores[name] = QualityScore(
            rendition=name, vmaf=None if vmaf is None else round(vmaf, 3),
            psnr=None if psnr is None else round(min(psnr, PSNR_CAP), 3),
            ssim=averages.get(("ssim", i)), frames_scored=scored,
            vmaf_floor=plan.profile.vmaf_floor)
    return QualityReport(scores, seconds, run.command)
