"""The content rules every source must pass, whichever way it came in (an HTTP upload, an
import, or an upstream service publishing `video-uploaded` itself). Pure: a probe and the
limits in, the first broken rule out. Ingest refuses with it; transcode fails the video
with it. Decodability needs ffmpeg to run, so `probing.inspect_source` checks it between
probing and these rules; its code is `undecodable`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


# Read-only members (properties), so the probe's frozen dataclasses satisfy them.
class VideoFacts(Protocol):
    @property
    def codec(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def fps(self) -> float | None: ...
    @property
    def bitrate(self) -> int | None: ...
    @property
    def pix_fmt(self) -> str | None: ...


class AudioFacts(Protocol):
    @property
    def codec(self) -> str: ...
    @property
    def channels(self) -> int | None: ...
    @property
    def sample_rate(self) -> int | None: ...
    @property
    def bitrate(self) -> int | None: ...


class ProbeFacts(Protocol):
    @property
    def container(self) -> str: ...
    @property
    def duration(self) -> float: ...
    @property
    def bitrate(self) -> int | None: ...
    @property
    def video(self) -> VideoFacts | None: ...
    @property
    def audio(self) -> AudioFacts | None: ...


class Limits(Protocol):
    """`services.shared.settings.SourceLimits` has these."""

    @property
    def min_width(self) -> int: ...
    @property
    def min_height(self) -> int: ...
    @property
    def min_duration_s(self) -> float: ...
    @property
    def max_duration_s(self) -> float: ...


@dataclass(frozen=True)
class Violation:
    """A broken rule: its machine-readable code and a sentence for people."""

    code: str
    message: str


Rule = Callable[[ProbeFacts, Limits], Violation | None]


def has_streams(probe: ProbeFacts, _: Limits) -> Violation | None:
    if probe.video is None and probe.audio is None:
        return Violation("no_streams", f"the {probe.container} file has no video or audio stream")
    return None


def long_enough(probe: ProbeFacts, limits: Limits) -> Violation | None:
    if probe.duration < limits.min_duration_s:
        return Violation("duration_too_short", f"source lasts {probe.duration:.2f} s; the "
                                               f"minimum is {limits.min_duration_s:g} s")
    return None


def short_enough(probe: ProbeFacts, limits: Limits) -> Violation | None:
    if probe.duration > limits.max_duration_s:
        return Violation("duration_too_long", f"source lasts {probe.duration:.0f} s; the "
                                              f"maximum is {limits.max_duration_s:.0f} s")
    return None


def sharp_enough(probe: ProbeFacts, limits: Limits) -> Violation | None:
    video = probe.video
    if video is None:
        return None  # audio-only sources are welcome
    # Judge by the short and long side so portrait videos are treated like landscape.
    long_side, short_side = max(video.width, video.height), min(video.width, video.height)
    if long_side < limits.min_width or short_side < limits.min_height:
        return Violation("resolution_too_low", f"source is {video.width}x{video.height}; the "
                                               f"minimum is {limits.min_width}x{limits.min_height}")
    return None


#: In the order they are judged: the first broken one is reported.
RULES: tuple[Rule, ...] = (has_streams, long_enough, short_enough, sharp_enough)
#: Every code a rule may report (transcode fails a video with these as they are).
RULE_CODES = frozenset({"no_streams", "duration_too_short", "duration_too_long",
                        "resolution_too_low"})


def first_violation(probe: ProbeFacts, limits: Limits) -> Violation | None:
    """The first rule `probe` breaks under `limits`, or None when it may become a video."""
    for rule in RULES:
        violation = rule(probe, limits)
        if violation is not None:
            return violation
    return None
