"""Probing, decode-checking and judging a source, through the one runner.

Every message names the input by a label ("the source"), never by its path or URL: they
reach uploaders, failure events and the catalog.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

from services.shared.locations import is_url, scrub
from services.shared.media.errors import FfmpegError, ProbeError
from services.shared.media.fields import to_int
from services.shared.media.probe_parser import SourceProbe, parse_probe
from services.shared.media.process import FfmpegRun, ffmpeg_argv, run_ffprobe_json
from services.shared.media.rules import first_violation
from services.shared.settings import CommonSettings, SourceLimits

#: How messages name the input being probed.
SOURCE_LABEL = "the source"


def _input_options(path_or_url: str | Path) -> list[str]:
    # A stalled HTTP(S) read (presigned S3 URL) must fail, not hang the worker.
    return ["-rw_timeout", "30000000"] if str(path_or_url).startswith("http") else []


async def probe(path_or_url: str | Path, settings: CommonSettings | None = None, *,
                label: str = SOURCE_LABEL) -> SourceProbe:
    """Probe a local file or URL with ffprobe; raise `ProbeError` when it is not media."""
    return await _probe(path_or_url, settings, label, [])


async def _probe(path_or_url: str | Path, settings: CommonSettings | None, label: str,
                 reading: list[str]) -> SourceProbe:
    """`probe`, with `reading` options that have ffprobe read packets after probing."""
    source = str(path_or_url)
    if not is_url(source) and not Path(source).is_file():
        raise ProbeError("not_found", f"{label} does not exist")
    try:
        data = await run_ffprobe_json(
            [*_input_options(source), "-show_format", "-show_streams", *reading, "-i", source],
            settings)
    except FfmpegError as exc:
        raise ProbeError("not_media", f"ffprobe cannot read {label}: {_complaint(exc, source)}",
                         command=exc.command, returncode=exc.returncode,
                         stderr_tail=exc.stderr_tail) from exc
    return parse_probe(data, label)


def _complaint(exc: FfmpegError, source: str) -> str:
    """ffprobe's own last words, without the `<input>: ` it prefixes them with."""
    detail = exc.stderr_tail[-1] if exc.stderr_tail else exc.message
    for prefix in (f"{source}: ", f"{scrub(source)}: "):
        detail = detail.removeprefix(prefix)
    return scrub(detail, [source])


async def probe_output(path: Path, settings: CommonSettings | None = None) -> dict[str, Any]:
    """ffprobe JSON of a file we wrote, streams with their codec configuration bytes
    (`extradata`, via `-show_data`) so codec strings come from what was really encoded."""
    return await run_ffprobe_json(["-show_format", "-show_streams", "-show_data", str(path)],
                                  settings)


async def decode_check(path_or_url: str | Path, settings: CommonSettings | None = None,
                       frames: int = 5, *, label: str = SOURCE_LABEL) -> int:
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
        raise ProbeError("undecodable", f"{label} does not decode", command=exc.command,
                         returncode=exc.returncode, stderr_tail=exc.stderr_tail) from exc
    decoded = to_int(run.last_progress.get("frame")) or 0
    if decoded == 0:
        raise ProbeError("undecodable", f"no frame of {label} decodes",
                         stderr_tail=run.scrubbed_stderr())
    return decoded


#: How many packets (of every stream together) the probe of `inspect_source` decodes, per
#: frame the decode check asks for. ffprobe's `-read_intervals %+#N` counts the packets of
#: all streams, so the window must hold audio's as well: at 30 fps with 48 kHz AAC a window
#: of 25 packets holds 9-11 video frames (TS and MP4 as FFmpeg writes them), and with two
#: audio tracks still 5-6. A source that interleaves more coarsely (a second of audio first)
#: gets the separate decode check, as every source did before.
DECODE_WINDOW_PACKETS_PER_FRAME = 5
#: ffmpeg's `-max_error_rate` default: above this fraction of failed decodes, the decode
#: check's ffmpeg exits 69 and the source is `undecodable`.
FFMPEG_MAX_ERROR_RATE = Fraction(2, 3)


def decoded_in_probe(facts: SourceProbe, frames: int) -> bool:
    """Whether the probe's own decode of its first packets (`-count_frames
    -count_packets`) already shows what `decode_check` would: `frames` frames of the video
    stream decoded, and so few of its packets without a frame that ffmpeg could not have
    counted them as over its error rate even if all came first (the check stops at
    `frames` frames). Silent drops (HEVC's RASL pictures) count as failures here, so a
    doubt never refuses: it runs the separate check, whose verdict is the one there was."""
    if facts.video is None or frames < 1:
        return False
    stream = next((s for s in facts.raw.get("streams") or ()
                   if to_int(s.get("index")) == facts.video.index), None)
    if stream is None:
        return False
    decoded, read = to_int(stream.get("nb_read_frames")), to_int(stream.get("nb_read_packets"))
    if decoded is None or read is None or decoded < frames:
        return False
    frameless = max(0, read - decoded)
    return Fraction(frameless, frameless + frames) <= FFMPEG_MAX_ERROR_RATE


async def inspect_source(path_or_url: str | Path, settings: CommonSettings | None,
                         limits: SourceLimits, *, label: str = SOURCE_LABEL,
                         one_run: bool = False) -> SourceProbe:
    """Probe, decode-check and judge a source by the content rules: what ingest does before
    accepting a source and transcode before encoding one. Raises `ProbeError` with the code
    of the first thing wrong: a probe's, `undecodable`, or a broken rule's (`rules`).

    `one_run` (ingest's, per upload): the ffprobe run also decodes its first packets, and
    the separate ffmpeg decode check runs only when that decode does not settle it
    (`decoded_in_probe`), so the verdict is the same. Two processes per source cost about
    0.25 CPU-s, most of it the second start and second probe (`./run bench ingest`). It is
    not the default because reading packets after probing refines what the parsers
    estimate: in MPEG-TS the AAC `bit_rate` is a running average (72.2 kb/s after probing,
    75.0 after 25 more packets, on the ingest bench's clip); the transcoder measures every
    source as it always did."""
    frames = limits.decode_check_frames
    reading = ["-count_frames", "-count_packets", "-read_intervals",
               f"%+#{max(1, frames) * DECODE_WINDOW_PACKETS_PER_FRAME}"] if one_run else []
    facts = await _probe(path_or_url, settings, label, reading)
    if facts.video is not None and not (one_run and decoded_in_probe(facts, frames)):
        await decode_check(path_or_url, settings, frames, label=label)
    violation = first_violation(facts, limits)
    if violation is not None:
        raise ProbeError(violation.code, violation.message)
    return facts
