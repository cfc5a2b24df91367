"""The one way Reelflow runs ffmpeg and ffprobe, and what probing a source tells us.

Modelled on Shaka Streamer's NodeBase: every run is an argument list (never a shell
string), logged shell-quoted so it can be pasted into a terminal, tracked by a
`ProcessStatus`, and stopped by terminate-then-kill after a grace period. Runs are
asyncio subprocesses because the services that use them are asyncio. `-progress pipe:1`
is parsed into a fraction of a known duration, and the tail of stderr is kept so a
failure says what ffmpeg said.

`check_ffmpeg()` verifies the binary once at service start (version and the encoders and
filters we rely on); `probe()` turns ffprobe's JSON into a `SourceProbe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import json
import logging
import os
import re
import shlex
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from opentelemetry import trace

from services.shared import telemetry
from services.shared.settings import CommonSettings

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]

#: Oldest FFmpeg we run: 6.0 brought the `-fps_mode`/threaded-muxer behaviour we rely on.
MIN_FFMPEG_MAJOR = 6
#: What every transcode needs; codec-specific encoders (libx265, libsvtav1) are checked per
#: profile with `FfmpegInfo.require`.
REQUIRED_ENCODERS = ("libx264", "aac", "libmp3lame", "mjpeg")
REQUIRED_FILTERS = ("libvmaf", "psnr", "ssim", "scale", "split", "select", "tile", "fps")


class ProcessStatus(enum.Enum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    FINISHED = "finished"
    ERRORED = "errored"
    CANCELLED = "cancelled"


class FfmpegError(Exception):
    """An ffmpeg/ffprobe run failed, or the binary cannot do what we need."""

    def __init__(self, message: str, *, command: str = "", returncode: int | None = None,
                 stderr_tail: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.command = command
        self.returncode = returncode
        self.stderr_tail = tuple(stderr_tail)

    def __str__(self) -> str:
        if not self.stderr_tail:
            return self.message
        return f"{self.message}: {' | '.join(self.stderr_tail[-5:])}"


class FfmpegUnsupported(FfmpegError):
    """The binary is too old or lacks an encoder/filter; raised by `check_ffmpeg`."""


class ProbeError(FfmpegError):
    """The input is not usable media. `code` is machine-readable (ingest returns it as-is):

    `not_found` (no such file), `not_media` (ffprobe cannot read it, or it is a still
    image), `no_streams` (no audio or video stream), `no_duration` (no usable duration),
    `undecodable` (probes, but frames do not decode).
    """

    def __init__(self, code: str, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.code = code

    def __str__(self) -> str:
        # Shown to uploaders as-is: the sentence, without ffmpeg's raw log.
        return self.message


# --------------------------------------------------------------------------- running


def ffmpeg_argv(args: Sequence[str], settings: CommonSettings | None = None, *,
                progress: bool = False, loglevel: str = "error") -> list[str]:
    """Full ffmpeg argv: our standard global options, then `args`.

    `-nostdin` because ffmpeg would otherwise read keystrokes from our stdin; `-y` because
    every output lives in a job-private directory.
    """
    settings = settings or CommonSettings()
    argv = [settings.ffmpeg_path, "-hide_banner", "-nostdin", "-y", "-loglevel", loglevel]
    if progress:
        argv += ["-progress", "pipe:1", "-nostats"]
    return argv + list(args)


def ffprobe_argv(args: Sequence[str], settings: CommonSettings | None = None) -> list[str]:
    settings = settings or CommonSettings()
    return [settings.ffprobe_path, "-hide_banner", "-loglevel", "error", *args]


class FfmpegRun:
    """One ffmpeg or ffprobe process.

    `start()` launches it, `wait()` awaits the end and raises `FfmpegError` on failure;
    cancelling the task blocked in `wait()` stops the process (terminate, then kill after
    `grace_s`) before the `CancelledError` propagates. When the argv carries
    `-progress pipe:1` (see `ffmpeg_argv(progress=True)`) stdout is parsed into
    `last_progress` and `on_progress`; otherwise it is captured when `capture_stdout` is set
    and discarded if not.
    """

    def __init__(self, argv: Sequence[str], *, name: str | None = None,
                 duration_s: float | None = None, total_frames: int | None = None,
                 on_progress: ProgressCallback | None = None,
                 capture_stdout: bool = False, grace_s: float = 2.0,
                 stderr_lines: int = 50, log_level: int = logging.INFO,
                 on_stderr_line: Callable[[str], None] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.parses_progress = "pipe:1" in self.argv[1:] and "-progress" in self.argv
        if on_progress is not None and not self.parses_progress:
            raise ValueError("on_progress needs `-progress pipe:1` in the argv")
        if capture_stdout and self.parses_progress:
            raise ValueError("progress and captured stdout both need stdout")
        self.name = name or Path(self.argv[0]).name
        #: Shell-quoted, with URL query strings (presigned credentials) cut off.
        self.command = shlex.join(_redact(arg) for arg in self.argv)
        self.duration_s = duration_s
        self.total_frames = total_frames
        self._fraction = -1.0  # last reported; -1 so that a first 0.0 is reported too
        self.on_progress = on_progress
        self.capture_stdout = capture_stdout
        self.grace_s = grace_s
        self.log_level = log_level
        #: Sees every stderr line (filters print their summaries there, e.g. psnr/ssim).
        self.on_stderr_line = on_stderr_line
        #: Extra environment variables for the process (on top of ours).
        self.env = dict(env or {})
        self.status = ProcessStatus.NOT_STARTED
        self.stderr_tail: deque[str] = deque(maxlen=stderr_lines)
        self.last_progress: dict[str, str] = {}
        self.returncode: int | None = None
        self.started_at: float | None = None
        self.elapsed_s: float | None = None
        self._stdout = bytearray()
        self._proc: asyncio.subprocess.Process | None = None
        self._span: trace.Span | None = None
        self._readers: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def stdout(self) -> bytes:
        return bytes(self._stdout)

    async def start(self) -> None:
        if self.status is not ProcessStatus.NOT_STARTED:
            raise RuntimeError(f"{self.name} already started")
        log.log(self.log_level, "running %s", self.command)
        self.started_at = time.monotonic()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **self.env} if self.env else None,
                limit=1 << 20,  # longest line read; x264/SVT option dumps run long
                # Its own session: a Ctrl-C in the terminal reaches the service, which then
                # cancels us, instead of killing ffmpeg behind the service's back.
                start_new_session=True,
                # ...but a SIGKILLed service must not leave an orphan encoding on: the job is
                # redone by the partition's next owner.
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            self.status = ProcessStatus.ERRORED
            raise FfmpegError(f"cannot start {self.name}: {exc}", command=self.command) from exc
        self.status = ProcessStatus.RUNNING
        self._span = telemetry.tracer("reelflow.ffmpeg").start_span(
            "ffprobe run" if "ffprobe" in self.name else "ffmpeg run",
            attributes={"process.executable.name": self.name,
                        "process.command_line": self.command[:4000]})
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._readers = [asyncio.create_task(self._read_stdout(self._proc.stdout)),
                         asyncio.create_task(self._read_stderr(self._proc.stderr))]

    async def wait(self) -> None:
        """Wait for the end; raise `FfmpegError` unless it exited 0."""
        if self._proc is None:
            raise RuntimeError(f"{self.name} was not started")
        try:
            returncode = await self._proc.wait()
            await asyncio.gather(*self._readers)
        except asyncio.CancelledError:
            # Shielded: a second cancellation must not leave the process running.
            await asyncio.shield(self.cancel())
            raise
        self._finish(returncode)
        if self.status is ProcessStatus.CANCELLED:
            raise asyncio.CancelledError(f"{self.name} was cancelled")
        if returncode != 0:
            self.status = ProcessStatus.ERRORED
            raise FfmpegError(f"{self.name} exited with {returncode}", command=self.command,
                              returncode=returncode, stderr_tail=list(self.stderr_tail))
        self.status = ProcessStatus.FINISHED

    async def run(self) -> FfmpegRun:
        await self.start()
        await self.wait()
        return self

    async def cancel(self) -> None:
        """Stop the process: SIGTERM, then SIGKILL after `grace_s`.

        On SIGTERM ffmpeg stops reading but still flushes its encoders and writes trailers,
        which with deep lookahead (x264 veryslow) takes seconds; runs whose partial output is
        worthless anyway should pass a short `grace_s`.
        """
        proc = self._proc
        if proc is None or self.status is not ProcessStatus.RUNNING:
            return
        self.status = ProcessStatus.CANCELLED
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.grace_s)
            except TimeoutError:
                log.warning("%s ignored SIGTERM for %.1f s; killing it", self.name, self.grace_s)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._finish(proc.returncode)
        log.info("%s stopped (exit %s)", self.name, proc.returncode)

    def _finish(self, returncode: int | None) -> None:
        self.returncode = returncode
        if self.elapsed_s is None and self.started_at is not None:
            self.elapsed_s = time.monotonic() - self.started_at
        if self._span is not None:
            self._span.set_attribute("process.exit.code", -1 if returncode is None else returncode)
            if returncode != 0:
                self._span.set_status(trace.StatusCode.ERROR, f"exit {returncode}")
            self._span.end()
            self._span = None

    async def _read_stdout(self, stream: asyncio.StreamReader) -> None:
        if not self.parses_progress:
            while chunk := await stream.read(65536):
                if self.capture_stdout:
                    self._stdout += chunk
            return
        block: dict[str, str] = {}
        while line := await stream.readline():
            key, _, value = line.decode(errors="replace").strip().partition("=")
            block[key] = value
            if key == "progress":  # the last key of every -progress block
                self.last_progress = block
                if self.on_progress is not None:
                    self._report(block, self.on_progress)
                block = {}

    def _report(self, block: dict[str, str], on_progress: ProgressCallback) -> None:
        # With several outputs `out_time_us` follows whichever muxer wrote last (a fast
        # audio output runs seconds ahead of the video), so video jobs count frames of the
        # first video output instead, and the fraction never goes back.
        frame, out_us = _int(block.get("frame")), _int(block.get("out_time_us"))
        if block.get("progress") == "end":
            fraction = 1.0
        elif self.total_frames and frame is not None:
            fraction = frame / self.total_frames
        elif self.duration_s and out_us is not None:
            fraction = out_us / (self.duration_s * 1e6)
        else:
            return
        fraction = min(1.0, fraction)
        if fraction <= self._fraction:
            return
        self._fraction = fraction
        try:
            on_progress(fraction)
        except Exception:  # a broken progress sink must not kill the encode
            log.exception("progress callback of %s failed", self.name)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                self.stderr_tail.append(text)
                if self.on_stderr_line is not None:
                    self.on_stderr_line(text)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL us when our parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass  # not Linux: the service's own shutdown path still stops its ffmpeg


async def run_ffmpeg(args: Sequence[str], settings: CommonSettings | None = None, *,
                     name: str = "ffmpeg", duration_s: float | None = None,
                     on_progress: ProgressCallback | None = None, loglevel: str = "error",
                     stderr_lines: int = 50) -> FfmpegRun:
    """Run ffmpeg with our standard options to completion (progress parsed when asked)."""
    run = FfmpegRun(ffmpeg_argv(args, settings, progress=on_progress is not None,
                                loglevel=loglevel),
                    name=name, duration_s=duration_s, on_progress=on_progress,
                    stderr_lines=stderr_lines)
    return await run.run()


async def run_ffprobe_json(args: Sequence[str], settings: CommonSettings | None = None,
                           ) -> dict[str, Any]:
    run = FfmpegRun(ffprobe_argv(["-of", "json", *args], settings), capture_stdout=True,
                    log_level=logging.DEBUG)
    await run.run()
    try:
        return json.loads(run.stdout or b"{}")  # type: ignore[no-any-return]
    except json.JSONDecodeError as exc:
        raise FfmpegError(f"ffprobe printed invalid JSON: {exc}", command=run.command) from exc


# --------------------------------------------------------------------------- binary check


@dataclass(frozen=True)
class FfmpegInfo:
    path: str
    version: str
    major: int
    encoders: frozenset[str]
    filters: frozenset[str]

    def require(self, encoders: Iterable[str] = (), filters: Iterable[str] = ()) -> None:
        missing = [f"encoder {e}" for e in encoders if e not in self.encoders]
        missing += [f"filter {f}" for f in filters if f not in self.filters]
        if missing:
            raise FfmpegUnsupported(f"{self.path} (FFmpeg {self.version}) lacks "
                                    f"{', '.join(missing)}")


_checked: dict[str, FfmpegInfo] = {}


def parse_version(text: str) -> tuple[str, int | None]:
    """(version string, major) from `ffmpeg -version`; None when it cannot be told.

    Release builds say `ffmpeg version 7.1` or `n9.0.2-...`; git builds say `N-12345-g...`,
    so those fall back to libavcodec's major (60 is FFmpeg 6.0, 61 is 7.x, 62 is 8.x).
    """
    first = text.splitlines()[0] if text else ""
    version = first.split(" version ", 1)[1].split()[0] if " version " in first else "unknown"
    release = re.match(r"n?(\d+)\.(\d+)", version)
    if release:
        return version, int(release.group(1))
    lavc = re.search(r"^libavcodec\s+(\d+)\.", text, re.MULTILINE)
    return version, (int(lavc.group(1)) - 54 if lavc else None)


_LISTED = re.compile(r"^ ([A-Z.|]{2,6}) (\w+) ", re.MULTILINE)


def _names(listing: str) -> frozenset[str]:
    # `-encoders` lines: " V....D libx264   libx264 H.264 ..."; `-filters`: " TS scale  V->V".
    return frozenset(match.group(2) for match in _LISTED.finditer(listing))


async def check_ffmpeg(settings: CommonSettings | None = None, *,
                       encoders: Iterable[str] = (),
                       filters: Iterable[str] = ()) -> FfmpegInfo:
    """Verify the ffmpeg binary and ffprobe: FFmpeg >= 6 with `REQUIRED_ENCODERS`,
    `REQUIRED_FILTERS` and the extra `encoders`/`filters` given (a profile's encoder).

    Raises `FfmpegUnsupported` with a sentence saying what is wrong. The binary is run
    once per process; later calls only check the names.
    """
    settings = settings or CommonSettings()
    path = settings.ffmpeg_path
    info = _checked.get(path)
    if info is None:
        outputs = []
        for flag in ("-version", "-encoders", "-filters"):
            run = FfmpegRun([path, "-hide_banner", flag], capture_stdout=True)
            try:
                await run.run()
            except FfmpegError as exc:
                raise FfmpegUnsupported(f"{path} does not run: {exc}") from exc
            outputs.append(run.stdout.decode(errors="replace"))
        version, major = parse_version(outputs[0])
        if major is None or major < MIN_FFMPEG_MAJOR:
            raise FfmpegUnsupported(f"{path} is FFmpeg {version}; Reelflow needs "
                                    f"{MIN_FFMPEG_MAJOR} or newer")
        info = FfmpegInfo(path, version, major, _names(outputs[1]), _names(outputs[2]))
        try:
            await FfmpegRun([settings.ffprobe_path, "-version"], capture_stdout=True).run()
        except (FileNotFoundError, FfmpegError) as exc:
            raise FfmpegUnsupported(f"ffprobe is unusable: {exc}") from exc
        _checked[path] = info
        log.info("using %s (FFmpeg %s)", path, version)
    info.require([*REQUIRED_ENCODERS, *encoders], [*REQUIRED_FILTERS, *filters])
    return info


# --------------------------------------------------------------------------- probing


def _ratio(text: Any) -> Fraction | None:
    try:
        num, _, den = str(text).partition("/" if "/" in str(text) else ":")
        value = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number >= 0 else None  # drop NaN


@dataclass(frozen=True)
class VideoStream:
    index: int
    codec: str
    width: int
    height: int
    fps: float | None
    bitrate: int | None
    pix_fmt: str | None
    #: Exact rate (avg_frame_rate, else r_frame_rate), e.g. 30000/1001.
    frame_rate: Fraction | None = None
    #: Clockwise display rotation in degrees, one of 0, 90, 180, 270.
    rotation: int = 0
    sample_aspect_ratio: Fraction | None = None
    duration: float | None = None
    profile: str | None = None
    level: int | None = None
    #: Coded as fields (tt/bb/tb/bt), so it must be deinterlaced before scaling.
    interlaced: bool = False

    @property
    def display_size(self) -> tuple[int, int]:
        """Size as shown: the sample aspect ratio applied, then the rotation.

        ffmpeg's decoder auto-rotates, so this is the size our filter graphs receive
        (before the SAR correction, which our scale does).
        """
        width = self.width
        if self.sample_aspect_ratio and self.sample_aspect_ratio != 1:
            width = round(self.width * self.sample_aspect_ratio)
        return (self.height, width) if self.rotation in (90, 270) else (width, self.height)


@dataclass(frozen=True)
class AudioStream:
    index: int
    codec: str
    channels: int | None
    sample_rate: int | None
    bitrate: int | None
    profile: str | None = None
    duration: float | None = None


@dataclass(frozen=True)
class SourceProbe:
    container: str
    duration: float
    bitrate: int | None
    video: VideoStream | None
    audio: AudioStream | None
    size_bytes: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # What `services.transcode.ladder.SourceFacts` asks for.
    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def display_width(self) -> int | None:
        return self.video.display_size[0] if self.video else None

    @property
    def display_height(self) -> int | None:
        return self.video.display_size[1] if self.video else None

    @property
    def frame_rate(self) -> Fraction | None:
        return self.video.frame_rate if self.video else None

    @property
    def video_duration(self) -> float:
        """The picture's own length (audio can outlast it); the container's as fallback."""
        return (self.video.duration if self.video and self.video.duration else self.duration)


#: Demuxers that mean "a picture, not a video".
_STILL_IMAGE_FORMATS = re.compile(r"^(image2|.*_pipe)$")


def _rotation(stream: dict[str, Any]) -> int:
    degrees = 0.0
    for side in stream.get("side_data_list") or ():
        if "rotation" in side:
            degrees = float(side["rotation"])
    if not degrees and "rotate" in (stream.get("tags") or {}):
        degrees = -float(stream["tags"]["rotate"])  # legacy tag is clockwise
    # The display matrix angle is counter-clockwise; we report clockwise, like the tag.
    return int(round(-degrees / 90.0)) % 4 * 90


def _frame_rate(stream: dict[str, Any]) -> Fraction | None:
    for key in ("avg_frame_rate", "r_frame_rate"):
        rate = _ratio(stream.get(key))
        if rate is not None and rate <= 1000:  # tbn-like nonsense (e.g. 90000/1) is no rate
            return rate
    return None


def parse_probe(data: dict[str, Any], source: str = "input") -> SourceProbe:
    """A `SourceProbe` from ffprobe's `-show_format -show_streams` JSON. Pure."""
    fmt = data.get("format") or {}
    container = str(fmt.get("format_name") or "")
    streams = data.get("streams") or []
    if not fmt and not streams:
        raise ProbeError("not_media", f"{source} is not a media file")
    video_json = next((s for s in streams if s.get("codec_type") == "video"
                       and not (s.get("disposition") or {}).get("attached_pic")
                       and _int(s.get("width")) and _int(s.get("height"))), None)
    audio_json = next((s for s in streams if s.get("codec_type") == "audio"
                       and _int(s.get("channels")) != 0), None)
    if video_json is None and audio_json is None:
        raise ProbeError("no_streams", f"the {container or 'unknown'} file {source} has "
                                       "no audio or video stream")
    if video_json is not None and audio_json is None and _STILL_IMAGE_FORMATS.match(container):
        raise ProbeError("not_media", f"{source} is a still image ({container}), not a video")

    video = None
    if video_json is not None:
        rate = _frame_rate(video_json)
        video = VideoStream(
            index=int(video_json["index"]), codec=str(video_json.get("codec_name") or "unknown"),
            width=int(video_json["width"]), height=int(video_json["height"]),
            fps=float(rate) if rate else None, bitrate=_int(video_json.get("bit_rate")),
            pix_fmt=video_json.get("pix_fmt"), frame_rate=rate, rotation=_rotation(video_json),
            sample_aspect_ratio=_ratio(video_json.get("sample_aspect_ratio")),
            duration=_float(video_json.get("duration")), profile=video_json.get("profile"),
            level=_int(video_json.get("level")),
            interlaced=video_json.get("field_order") in ("tt", "bb", "tb", "bt"),
        )
    audio = None
    if audio_json is not None:
        audio = AudioStream(
            index=int(audio_json["index"]), codec=str(audio_json.get("codec_name") or "unknown"),
            channels=_int(audio_json.get("channels")),
            sample_rate=_int(audio_json.get("sample_rate")),
            bitrate=_int(audio_json.get("bit_rate")), profile=audio_json.get("profile"),
            duration=_float(audio_json.get("duration")),
        )
    duration = _float(fmt.get("duration")) or max(
        (d for d in (video and video.duration, audio and audio.duration) if d), default=0.0)
    if not duration:
        raise ProbeError("no_duration", f"{source} has no usable duration")
    return SourceProbe(container=container, duration=duration, bitrate=_int(fmt.get("bit_rate")),
                       video=video, audio=audio, size_bytes=_int(fmt.get("size")), raw=data)


def _is_url(path_or_url: str | Path) -> bool:
    return "://" in str(path_or_url)


def _input_options(path_or_url: str | Path) -> list[str]:
    # A stalled HTTP(S) read (presigned S3 URL) must fail, not hang the worker.
    return ["-rw_timeout", "30000000"] if str(path_or_url).startswith("http") else []


async def probe(path_or_url: str | Path, settings: CommonSettings | None = None) -> SourceProbe:
    """Probe a local file or URL with ffprobe; raise `ProbeError` when it is not media."""
    source = str(path_or_url)
    if not _is_url(source) and not Path(source).is_file():
        raise ProbeError("not_found", f"{source} does not exist")
    try:
        data = await run_ffprobe_json(
            [*_input_options(source), "-show_format", "-show_streams", "-i", source], settings)
    except FfmpegError as exc:
        detail = exc.stderr_tail[-1] if exc.stderr_tail else exc.message
        detail = detail.removeprefix(f"{source}: ")
        raise ProbeError("not_media", f"ffprobe cannot read {_redact(source)}: {detail}",
                         command=exc.command, returncode=exc.returncode,
                         stderr_tail=exc.stderr_tail) from exc
    return parse_probe(data, _redact(source))


async def probe_output(path: Path, settings: CommonSettings | None = None) -> dict[str, Any]:
    """ffprobe JSON of a file we wrote, streams with their codec configuration bytes
    (`extradata`, via `-show_data`) so codec strings come from what was really encoded."""
    return await run_ffprobe_json(["-show_format", "-show_streams", "-show_data", str(path)],
                                  settings)


def extradata_bytes(stream: dict[str, Any]) -> bytes:
    """Decode ffprobe's `extradata` hexdump (`00000000: 0164 001e ...  ascii`)."""
    out = bytearray()
    for line in str(stream.get("extradata") or "").splitlines():
        if ": " in line:
            out += bytes.fromhex(line.split(": ", 1)[1].split("  ", 1)[0].replace(" ", ""))
    return bytes(out)


async def decode_check(path_or_url: str | Path, settings: CommonSettings | None = None,
                       frames: int = 5) -> int:
    """Decode the first `frames` video frames; raise `ProbeError('undecodable')` if none do.

    Returns how many decoded. Decode errors on a few frames are tolerated (open-GOP
    starts log some), a source from which nothing decodes is not.
    """
    source = str(path_or_url)
    run = FfmpegRun(ffmpeg_argv([*_input_options(source), "-i", source, "-map", "0:v:0",
                                 "-frames:v", str(frames), "-f", "null", "-"],
                                settings, progress=True), name="decode-check")
    try:
        await run.run()
    except FfmpegError as exc:
        raise ProbeError("undecodable", f"{_redact(source)} does not decode", command=exc.command,
                         returncode=exc.returncode, stderr_tail=exc.stderr_tail) from exc
    decoded = _int(run.last_progress.get("frame")) or 0
    if decoded == 0:
        raise ProbeError("undecodable", f"no frame of {_redact(source)} decodes",
                         stderr_tail=list(run.stderr_tail))
    return decoded


def _redact(source: str) -> str:
    # Presigned URLs carry credentials in the query string; never put them in messages.
    return source.split("?", 1)[0] if _is_url(source) else source
