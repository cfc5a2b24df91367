"""What running and probing media raise. Messages may reach users (API answers, failure
events, the catalog), so they never name a server path or a presigned URL: callers give
inputs a label ("the source"), and ffmpeg's own words are scrubbed by `scrub`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import Any


class FfmpegError(Exception):
    """An ffmpeg/ffprobe run failed, or the binary cannot do what we need."""

    def __init__(self, message: str, *, command: str = "", returncode: int | None = None,
                 stderr_tail: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        #: Shell-quoted argv, for logs only: it names paths, so it is never in the message.
        self.command = command
        self.returncode = returncode
        #: ffmpeg's last stderr lines, already scrubbed of paths by the runner.
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
    `undecodable` (probes, but frames do not decode), and the content rules' codes
    (`rules.RULE_CODES`: e.g. `resolution_too_low`) from `probing.inspect_source`.
    """

    def __init__(self, code: str, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.code = code

    def __str__(self) -> str:
        # Shown to uploaders as-is: the sentence, without ffmpeg's raw log.
        return self.message


def is_url(path_or_url: str | PurePosixPath) -> bool:
    return "://" in str(path_or_url)


def redact(source: str) -> str:
    """`source` without a URL's query string (presigned credentials); for logs."""
    return source.split("?", 1)[0] if is_url(source) else source


#: An absolute path or a URL as ffmpeg prints them: up to whitespace, a quote, or the
#: `: ` that separates a name from ffmpeg's complaint about it.
_LOCATION = re.compile(r"(?:[a-z][a-z0-9+.-]*://|(?<![\w.])/)[^\s'\"]*?(?=:\s|[\s'\",]|$)")


def placeholder(location: str) -> str:
    """What a message says instead of a path or URL: its last name, never its directory
    (`/srv/.reelflow/transcode-work/<id>/out/360p.mp4` -> `360p.mp4`; a URL -> `input`)."""
    if is_url(location):
        return "input"
    return PurePosixPath(location).name or "input"


def scrub(text: str, locations: Iterable[str] = ()) -> str:
    """`text` with every known location (an argv's inputs and outputs) replaced by its
    placeholder, then any other absolute path or URL ffmpeg printed as well."""
    for location in sorted({str(x) for x in locations if _names_a_location(str(x))},
                           key=len, reverse=True):
        text = text.replace(location, placeholder(location))
    return _LOCATION.sub(lambda match: placeholder(match.group(0)), text)


def _names_a_location(arg: str) -> bool:
    return is_url(arg) or arg.startswith("/")
