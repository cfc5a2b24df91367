"""One ffmpeg process per video: decode once, write every output.

The filter graph (built with ffmpeg-python) is: source video -> [deinterlace] -> constant
frame rate -> split -> one branch per rung (scale, 4:2:0, square pixels) plus three
thumbnail branches. Each rung is an MP4 with the rung's AAC muxed in; the source audio
also goes, unfiltered, to the AAC-only `audio` M4A and the MP3.

GOPs are aligned across rungs so the packager can cut every rung at the same instants:
a keyframe is forced at every 2 s boundary (`-force_key_frames expr:`), the GOP length
(`-g`, `keyint_min`) is the same number of frames, and scene-cut keyframes are off. Frame
rates are constant (the source's, at most 60), so "every 2 s" is the same frame in each.

`encode_all` then describes each file from what was really written (ffprobe: size, codec
configuration -> RFC 6381 string, duration) and hashes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg  # ffmpeg-python: builds the filter graph and argv, runs nothing

# The kinds of output are rendition-done's media types.
from schemas.events import MediaType as MediaKind
from services.shared.media.errors import FfmpegError
from services.shared.media.probe_parser import SourceProbe, extradata_bytes
from services.shared.media.probing import probe_output
from services.shared.media.process import FfmpegRun, ffmpeg_argv
from services.shared.media.toolcheck import check_ffmpeg
from services.shared.settings import CommonSettings
from services.transcode import ladder
from services.transcode import thumbnails as thumbs
from services.transcode.errors import EncodeFailed
from services.transcode.ladder import LadderPlan, VideoTarget
from services.transcode.profiles import Profile, VideoCodec

log = logging.getLogger(__name__)

#: One scaler for encoding and for the quality reference, so scoring measures the
#: encoder's loss and not a resampling difference.
SCALER = "bicubic"
THUMBNAIL_DIR = "thumbnails"


@dataclass(frozen=True)
class Artifact:
    name: str
    path: Path
    content_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class EncodedOutput:
    name: str
    media_type: MediaKind
    path: Path
    container: str
    content_type: str
    codecs: str
    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    frame_rate: float | None
    #: Measured: size * 8 / duration.
    bitrate: int
    size_bytes: int
    sha256: str
    duration_seconds: float
    artifacts: tuple[Artifact, ...] = ()
    #: Frames in the video track.
    frame_count: int | None = None


@dataclass(frozen=True)
class EncodeResult:
    outputs: tuple[EncodedOutput, ...]
    #: Wall time of the ffmpeg run.
    encode_seconds: float
    command: str

    def output(self, name: str) -> EncodedOutput:
        for out in self.outputs:
            if out.name == name:
                return out
        raise KeyError(name)

    @property
    def videos(self) -> tuple[EncodedOutput, ...]:
        return tuple(o for o in self.outputs if o.media_type is MediaKind.VIDEO)


@dataclass(frozen=True)
class EncodeJob:
    """The ffmpeg arguments and where each output lands; built without running anything."""

    args: list[str]
    files: dict[str, Path]
    thumbnails: thumbs.ThumbnailPlan | None


# --------------------------------------------------------------------------- graph


def source_picture(stream: Any, probe: SourceProbe, plan: LadderPlan) -> Any:
    """Decoded source video as every branch sees it: progressive, constant frame rate, SDR.

    (ffmpeg has already applied the display rotation before the graph.)
    """
    if probe.video is not None and probe.video.interlaced:
        stream = stream.filter("bwdif", mode="send_frame")
    stream = stream.filter("fps", fps=str(plan.frame_rate))
    if plan.tone_map_from:
        stream = tone_mapped(stream)
    return stream


def tone_mapped(stream: Any) -> Any:
    """HDR (PQ or HLG, as tagged on the frames) to SDR BT.709, on purpose (see
    `ladder.TONE_MAPPED`): linear light (100 cd/m2 = SDR white), BT.709 primaries, Hable's
    curve (rolls highlights off instead of clipping them), desaturation off. The peak is
    taken as 1000 cd/m2, the usual HDR10 mastering peak and HLG's reference display: many
    uploads carry no mastering metadata, and ffmpeg would then assume 10,000 and darken
    everything; brighter highlights clip."""
    return (stream.filter("zscale", t="linear", npl=100).filter("format", "gbrpf32le")
            .filter("zscale", p="bt709").filter("tonemap", tonemap="hable", desat=0, peak=10)
            .filter("zscale", t="bt709", m="bt709", r="tv").filter("format", "yuv420p"))


def rung_picture(stream: Any, target: VideoTarget) -> Any:
    """Scaled to the rung: same scaler here and in quality scoring; 4:2:0 8-bit for the
    widest decoder support; square pixels because the size already includes the SAR."""
    return (stream.filter("scale", target.width, target.height, flags=SCALER)
            .filter("format", "yuv420p").filter("setsar", "1"))


def _video_options(profile: Profile, target: VideoTarget, plan: LadderPlan) -> dict[str, Any]:
    rung, gop = target.rung, plan.gop_frames
    options: dict[str, Any] = {
        "c:v": profile.encoder, "preset": profile.preset, "crf": rung.crf,
        # gte(t, n_forced*2): the first frame at or after each 2 s boundary; with CFR that
        # is the same frame number in every rung.
        "force_key_frames": f"expr:gte(t,n_forced*{profile.keyframe_interval_s:g})",
        "g": gop, "keyint_min": gop,
    }
    if rung.profile:
        options["profile:v"] = rung.profile
    if rung.maxrate_kbps:
        options.update(maxrate=f"{rung.maxrate_kbps}k", bufsize=f"{2 * rung.maxrate_kbps}k")
    if profile.codec is VideoCodec.H264:
        # x264 clamps keyint_min to keyint/2+1; with scene cuts off it never matters.
        options["sc_threshold"] = 0
        if target.level:
            options["level:v"] = target.level
    elif profile.codec is VideoCodec.HEVC:
        params = ["scenecut=0", "open-gop=0", "log-level=error"]
        if target.level:
            params.append(f"level-idc={target.level}")
        # Forced frames must be IDR (closed GOP), or a CRA would start each segment.
        options.update({"x265-params": ":".join(params), "forced-idr": 1})
    elif profile.codec is VideoCodec.AV1:
        # +cgop: SVT-AV1 key frames (closed GOP) instead of open-GOP forward keys.
        options.update({"flags:v": "+cgop", "svtav1-params": "scd=0"})
        if target.level:
            options["level:v"] = target.level
    if profile.tag:
        options["tag:v"] = profile.tag
    return options


def _audio_options(kbps: int, rate: int, channels: int, encoder: str = "aac") -> dict[str, Any]:
    return {"c:a": encoder, "b:a": f"{kbps}k", "ar": rate, "ac": channels}


# Never carry the uploader's metadata (GPS position, device, names) into public files.
_CLEAN = {"map_metadata": -1, "map_chapters": -1}
_MP4 = {"f": "mp4", "movflags": "+faststart", **_CLEAN}


def build_encode(source: Path, workdir: Path, plan: LadderPlan, probe: SourceProbe) -> EncodeJob:
    """The single ffmpeg invocation producing every output of `plan`. Pure."""
    profile = plan.profile
    inp = ffmpeg.input(str(source))
    audio = inp[str(probe.audio.index)] if probe.audio and plan.audio else None
    channels = channels_of(probe)
    outputs: list[Any] = []
    files: dict[str, Path] = {}
    thumb_plan = None

    if plan.videos and probe.video is not None:
        assert plan.frame_rate is not None
        picture = source_picture(inp[str(probe.video.index)], probe, plan)
        branches = picture.filter_multi_output("split", len(plan.videos) + 3)
        for i, target in enumerate(plan.videos):
            files[target.name] = workdir / f"{target.name}.mp4"
            streams = [rung_picture(branches[i], target)]
            options = {**_video_options(profile, target, plan), **_MP4}
            if audio is not None:
                streams.append(audio)
                options.update(_audio_options(target.rung.audio_kbps,
                                              target.rung.audio_rate, channels))
            outputs.append(ffmpeg.output(*streams, str(files[target.name]), **options))
        top = max(plan.videos, key=lambda v: v.width * v.height)
        thumb_plan = thumbs.plan_thumbnails(profile.pictures, plan.frame_rate,
                                            probe.video_duration, (top.width, top.height))
        thumb_dir = workdir / THUMBNAIL_DIR
        files[ladder.THUMBNAILS] = thumb_dir
        n = len(plan.videos)
        outputs += thumbs.thumbnail_outputs([branches[n], branches[n + 1], branches[n + 2]],
                                            thumb_plan, thumb_dir)

    if audio is not None:
        outputs += audio_outputs(audio, plan, channels, workdir, files)
    if not outputs:
        raise ValueError("the plan has no outputs for this source")
    return EncodeJob(ffmpeg.merge_outputs(*outputs).get_args(), files, thumb_plan)


def audio_outputs(audio: Any, plan: LadderPlan, channels: int, workdir: Path,
                  files: dict[str, Path]) -> list[Any]:
    """The AAC-only `audio` rendition and the MP3 of `audio` (when the plan has them)."""
    if not (plan.audio and plan.mp3):
        return []
    files[ladder.AUDIO] = workdir / "audio.m4a"
    files[ladder.MP3] = workdir / "audio.mp3"
    return [
        ffmpeg.output(audio, str(files[ladder.AUDIO]),
                      **_audio_options(plan.audio.kbps, plan.audio.rate, channels), **_MP4),
        ffmpeg.output(audio, str(files[ladder.MP3]), f="mp3", **_CLEAN,
                      **_audio_options(plan.mp3.kbps, plan.mp3.rate, channels,
                                       plan.mp3.encoder)),
    ]


def channels_of(probe: SourceProbe) -> int:
    return 1 if probe.audio and probe.audio.channels == 1 else 2


# --------------------------------------------------------------------------- running


async def encode_all(source: Path, workdir: Path, plan: LadderPlan, probe: SourceProbe,
                     on_progress: Callable[[float], None] | None = None, *,
                     settings: CommonSettings | None = None) -> EncodeResult:
    """Encode every output of `plan` in one ffmpeg run and describe what was written.

    Cancelling the awaiting task stops ffmpeg (terminate, then kill). Raises `EncodeFailed`
    when ffmpeg rejects the job; an `FfmpegError` for a process killed by a signal (e.g. the
    OOM killer), which may succeed when retried.
    """
    await check_ffmpeg(settings, encoders=(plan.profile.encoder,))
    workdir.mkdir(parents=True, exist_ok=True)
    job = build_encode(source, workdir, plan, probe)
    if job.thumbnails is not None:
        (workdir / THUMBNAIL_DIR / thumbs.TILE_DIR).mkdir(parents=True, exist_ok=True)
    total_frames = (round(probe.video_duration * plan.frame_rate)
                    if plan.videos and plan.frame_rate else None)
    run = FfmpegRun(ffmpeg_argv(job.args, settings, progress=True), name="encode",
                    duration_s=probe.duration, total_frames=total_frames,
                    on_progress=on_progress, stderr_lines=60,
                    # A cancelled encode's files are discarded: no need to let it flush.
                    grace_s=1.0,
                    # SVT-AV1 prints its banner straight to stderr whatever -loglevel says;
                    # keep the stderr tail for real errors.
                    env={"SVT_LOG": "1"})
    started = time.monotonic()
    await run.start()
    try:
        await run.wait()
    except FfmpegError as exc:
        if exc.returncode is not None and exc.returncode < 0:
            raise
        raise EncodeFailed(str(exc)) from exc
    encode_seconds = time.monotonic() - started
    log.info("encoded %s in %.1f s", ", ".join(plan.outputs), encode_seconds)
    outputs = await describe_outputs(job, plan, probe, settings)
    return EncodeResult(outputs, encode_seconds, run.command)


async def describe_outputs(job: EncodeJob, plan: LadderPlan, probe: SourceProbe,
                           settings: CommonSettings | None = None) -> tuple[EncodedOutput, ...]:
    described = {}
    for target in plan.videos:
        described[target.name] = _describe_file(target.name, MediaKind.VIDEO,
                                                 job.files[target.name], "video/mp4", settings)
    if plan.audio:
        described[ladder.AUDIO] = _describe_file(ladder.AUDIO, MediaKind.AUDIO,
                                                 job.files[ladder.AUDIO], "audio/mp4", settings)
        described[ladder.MP3] = _describe_file(ladder.MP3, MediaKind.AUDIO,
                                               job.files[ladder.MP3], "audio/mpeg", settings)
    names = list(described)
    results = dict(zip(names, await asyncio.gather(*described.values()), strict=True))
    if plan.thumbnails and job.thumbnails is not None:
        results[ladder.THUMBNAILS] = await _describe_thumbnails(job, probe.video_duration,
                                                                settings)
    return tuple(results[name] for name in plan.outputs)


def _codecs(stream: dict[str, Any]) -> str:
    name = stream.get("codec_name")
    try:
        if name == "h264":
            return ladder.avc1_from_config(extradata_bytes(stream))
        if name == "hevc":
            return ladder.hvc1_from_config(extradata_bytes(stream),
                                           stream.get("codec_tag_string") or "hvc1")
        if name == "av1":
            return ladder.av01_from_config(extradata_bytes(stream))
    except ValueError:
        log.warning("no %s configuration record in the output; codec string from names", name)
        return ladder.codecs_from_names(str(name), stream.get("profile"), stream.get("level"))
    if name == "aac":
        return ladder.mp4a(stream.get("profile"))
    return str(name)  # "mp3": what `audio/mpeg; codecs=` expects


async def _describe_file(name: str, kind: MediaKind, path: Path, content_type: str,
                         settings: CommonSettings | None) -> EncodedOutput:
    info, digest = await asyncio.gather(probe_output(path, settings),
                                        asyncio.to_thread(sha256_file, path))
    streams = info.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    size = path.stat().st_size
    duration = float((info.get("format") or {}).get("duration") or 0.0)
    rate = None
    if video is not None and "/" in str(video.get("avg_frame_rate")):
        num, den = (int(x) for x in str(video["avg_frame_rate"]).split("/"))
        rate = round(num / den, 3) if den else None
    return EncodedOutput(
        name=name, media_type=kind, path=path,
        container="mp3" if path.suffix == ".mp3" else "mp4", content_type=content_type,
        codecs=",".join(_codecs(s) for s in (video, audio) if s is not None),
        video_codec=video.get("codec_name") if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        width=int(video["width"]) if video else None,
        height=int(video["height"]) if video else None,
        frame_rate=rate, bitrate=round(size * 8 / duration) if duration else 0,
        size_bytes=size, sha256=digest, duration_seconds=duration,
        frame_count=int(video["nb_frames"]) if video and video.get("nb_frames") else None,
    )


async def _describe_thumbnails(job: EncodeJob, duration_s: float,
                               settings: CommonSettings | None) -> EncodedOutput:
    plan = job.thumbnails
    assert plan is not None
    folder = job.files[ladder.THUMBNAILS]
    stills = await asyncio.to_thread(thumbs.collect_stills, plan, folder)
    tiles = await thumbs.assemble_sprite(plan, folder, settings)
    vtt = folder / thumbs.STORYBOARD
    vtt.write_text(thumbs.storyboard_vtt(plan, tiles, duration_s), encoding="utf-8")
    files = [(p, "image/jpeg") for p in stills]
    files += [(folder / thumbs.SPRITE, "image/jpeg"), (vtt, "text/vtt")]
    digests = await asyncio.gather(*(asyncio.to_thread(sha256_file, p) for p, _ in files))
    artifacts = tuple(Artifact(p.name, p, kind, p.stat().st_size, digest)
                      for (p, kind), digest in zip(files, digests, strict=True))
    poster = next(a for a in artifacts
                  if a.name == thumbs.still_name(plan.pictures.poster_position))
    return EncodedOutput(
        name=ladder.THUMBNAILS, media_type=MediaKind.IMAGES, path=poster.path, container="jpeg",
        content_type="image/jpeg", codecs="", video_codec=None, audio_codec=None,
        width=plan.still_size[0], height=plan.still_size[1], frame_rate=None, bitrate=0,
        size_bytes=poster.size_bytes, sha256=poster.sha256, duration_seconds=duration_s,
        artifacts=artifacts,
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
