"""What running and probing media raise. Messages may reach users (API answers, failure
events, the catalog), so they never name a server path or a presigned URL: callers give
inputs a label ("the source"), and the runner scrubs ffmpeg's own words
(`services.shared.locations.scrub`) before they become part of a message."""

from __future__ import annotations

from collections.abc import Sequence
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
