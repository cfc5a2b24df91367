"""Probing, decode-checking and judging a source, through the one runner.

Every message names the input by a label ("the source"), never by its path or URL: they
reach uploaders, failure events and the catalog.
"""

from __future__ import annotations

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
    source = str(path_or_url)
    if not is_url(source) and not Path(source).is_file():
        raise ProbeError("not_found", f"{label} does not exist")
    try:
        data = await run_ffprobe_json(
            [*_input_options(source), "-show_format", "-show_streams", "-i", source], settings)
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


async def inspect_source(path_or_url: str | Path, settings: CommonSettings | None,
                         limits: SourceLimits, *, label: str = SOURCE_LABEL) -> SourceProbe:
    """Probe, decode-check and judge a source by the content rules: what ingest does before
    accepting a source and transcode before encoding one. Raises `ProbeError` with the code
    of the first thing wrong: a probe's, `undecodable`, or a broken rule's (`rules`)."""
    facts = await probe(path_or_url, settings, label=label)
    if facts.video is not None:
        await decode_check(path_or_url, settings, limits.decode_check_frames, label=label)
    violation = first_violation(facts, limits)
    if violation is not None:
        raise ProbeError(violation.code, violation.message)
    return facts
