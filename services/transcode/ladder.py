"""Which outputs a source gets, at what size, and their RFC 6381 codec strings. Pure.

Sizing. A rung's box is landscape `long x short` (720p: 1280x720) and is turned for
portrait sources, so a 720x1280 phone video is in the 720p class. A rung is produced
when the source reaches its box on at least one axis; the output is the source scaled to
fit inside the box, keeping the aspect ratio, with even dimensions. For 16:9 and
narrower (4:3, portrait) that is exactly "scale the short side to the rung's number"
(960x720 -> 720p at 960x720); wider sources are bounded by the long side (1920x800 ->
1080p at 1920x800, 720p at 1280x534), which keeps the pixel count within the rung's
codec level. Nothing is ever upscaled: a source smaller than the lowest box gets that
rung alone, at its own size.

Outputs. Every rung is an MP4 with video and AAC audio (faststart): a proper progressive
download. A source with audio also gets `audio` (AAC-only M4A, the HLS audio group's
source; the packager takes the audio track from it, not from the rungs) and `mp3`. A
source with video gets `thumbnails` (stills, sprite sheet, WebVTT storyboard). The
plan's `outputs` is what `rendition-done.expected_renditions` lists.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

from services.shared.consume import PermanentFailure
from services.transcode.profiles import AudioOutput, Profile, Rung, VideoCodec

AUDIO = "audio"
MP3 = "mp3"
THUMBNAILS = "thumbnails"
EXTRA_OUTPUTS = (AUDIO, MP3, THUMBNAILS)

#: Frame rates a measured average is snapped to (phones record 29.97 as 29.96...).
_COMMON_RATES = tuple(Fraction(n, d) for n, d in (
    (24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (48, 1), (50, 1),
    (60000, 1001), (60, 1)))


class UnknownRendition(PermanentFailure):
    """`video-uploaded.renditions` names an output the profile does not have."""

    def __init__(self, message: str) -> None:
        super().__init__("unknown_rendition", message)


class SourceFacts(Protocol):
    """What planning needs to know; `services.shared.media.probe_parser.SourceProbe` has it."""

    @property
    def has_video(self) -> bool: ...
    @property
    def has_audio(self) -> bool: ...
    @property
    def display_width(self) -> int | None: ...
    @property
    def display_height(self) -> int | None: ...
    @property
    def frame_rate(self) -> Fraction | None: ...
    @property
    def color_transfer(self) -> str | None: ...


@dataclass(frozen=True)
class SourceShape:
    """A `SourceFacts` built by hand (tests, callers without a probe)."""

    display_width: int | None
    display_height: int | None
    has_audio: bool = True
    frame_rate: Fraction | None = Fraction(25)
    color_transfer: str | None = None

    @property
    def has_video(self) -> bool:
        return bool(self.display_width and self.display_height)


@dataclass(frozen=True)
class VideoTarget:
    rung: Rung
    width: int
    height: int
    #: The codec level to signal at the plan's frame rate (`Rung.level_for`).
    level: str | None = None

    @property
    def name(self) -> str:
        return self.rung.name


@dataclass(frozen=True)
class LadderPlan:
    profile: Profile
    videos: tuple[VideoTarget, ...]
    #: AAC-only rendition and MP3; None when the source has no audio.
    audio: AudioOutput | None
    mp3: AudioOutput | None
    thumbnails: bool
    #: Constant output frame rate and the GOP length in frames; None without video.
    frame_rate: Fraction | None
    gop_frames: int | None
    #: Requested rungs left out because the source is too small for them.
    skipped: tuple[str, ...] = field(default=())
    #: The HDR transfer (`smpte2084` PQ, `arib-std-b67` HLG) tone-mapped to SDR BT.709;
    #: None for SDR sources. See `TONE_MAPPED`.
    tone_map_from: str | None = None

    @property
    def outputs(self) -> list[str]:
        """Every output name, in production order: `expected_renditions`."""
        names = [v.name for v in self.videos]
        names += [AUDIO, MP3] if self.audio else []
        names += [THUMBNAILS] if self.thumbnails else []
        return names

    @property
    def keyframe_interval_s(self) -> float | None:
        return self.profile.keyframe_interval_s if self.videos else None


#: HDR transfer characteristics (ffprobe's `color_transfer`) whose pictures are tone-mapped.
#: Decision: every rung of every profile is SDR BT.709, 8-bit 4:2:0. An HDR source is
#: tone-mapped on purpose (zscale + tonemap hable in `encode.source_picture`) rather than
#: carried as 10-bit HDR: one picture then serves every output (rungs, thumbnails, the
#: VMAF reference: libvmaf's v0.6.1 model is trained on SDR), every browser and device
#: decodes the package, and the manifests need no VIDEO-RANGE. A 10-bit SDR source is
#: dithered to 8 bits by the scaler, as before; an HDR ladder would be a profile of its own.
TONE_MAPPED = frozenset({"smpte2084", "arib-std-b67"})


def tone_map_from(transfer: str | None) -> str | None:
    """The transfer to tone-map from, or None when the source is SDR (or untagged)."""
    return transfer if transfer in TONE_MAPPED else None


def output_frame_rate(source: Fraction | None, cap: float) -> Fraction:
    """Constant output rate: the source's, snapped to a common rate within 0.5 %, at most
    `cap` (by halving, so 120 fps becomes 60, not a judder-prone 59.94 or 50)."""
    rate = _snap(source or Fraction(25))
    while rate > cap:
        rate = _snap(rate / 2)
    return rate.limit_denominator(1001)


def _snap(rate: Fraction) -> Fraction:
    nearest = min(_COMMON_RATES, key=lambda common: abs(rate - common))
    return nearest if abs(rate - nearest) / nearest < Fraction(1, 200) else rate


def gop_frames(rate: Fraction, interval_s: float) -> int:
    return max(1, round(rate * Fraction(interval_s).limit_denominator(1000)))


def _even(value: float, cap: int) -> int:
    # Nearest even number, but never above the source's own (even-floored) size.
    return max(2, min(2 * round(value / 2), cap - cap % 2))


def fit(width: int, height: int, rung: Rung) -> tuple[int, int] | None:
    """The rung's size for a `width`x`height` source, or None if the source is too small."""
    portrait = height > width
    box_w, box_h = (rung.short, rung.long) if portrait else (rung.long, rung.short)
    if width < box_w and height < box_h:
        return None
    scale = min(box_w / width, box_h / height, 1.0)
    return _even(width * scale, width), _even(height * scale, height)


def plan_ladder(source: SourceFacts, profile: Profile,
                requested: Collection[str] | None = None) -> LadderPlan:
    """Plan every output of one source. `requested` limits the rungs (None: all that fit);
    it may also name `audio`, `mp3`, `thumbnails`, which are produced whenever possible."""
    known = {r.name for r in profile.rungs}
    if requested is not None:
        unknown = sorted(set(requested) - known - set(EXTRA_OUTPUTS))
        if unknown:
            raise UnknownRendition(f"profile {profile.name!r} has no rendition "
                                   f"{', '.join(unknown)}; it offers "
                                   f"{', '.join([*known, *EXTRA_OUTPUTS])}")
    wanted = [r for r in profile.rungs if requested is None or r.name in requested]

    videos: list[VideoTarget] = []
    skipped: list[str] = []
    width, height = source.display_width, source.display_height
    rate = None
    if source.has_video and width and height:
        rate = output_frame_rate(source.frame_rate, profile.max_frame_rate)
        for rung in wanted:
            size = fit(width, height, rung)
            if size is None:
                skipped.append(rung.name)
            else:
                videos.append(VideoTarget(rung, *size, level=rung.level_for(float(rate))))
        if not videos:
            # Too small for every wanted rung: the profile's largest rung that fits, else
            # its lowest at the source's own size. Never upscaled, never picture-less.
            fallback = next((r for r in reversed(profile.rungs) if fit(width, height, r)),
                            profile.rungs[0])
            size = fit(width, height, fallback) or (_even(width, width), _even(height, height))
            videos.append(VideoTarget(fallback, *size, level=fallback.level_for(float(rate))))
    return LadderPlan(
        profile=profile,
        videos=tuple(videos),
        audio=profile.audio if source.has_audio else None,
        mp3=profile.mp3 if source.has_audio else None,
        thumbnails=bool(videos),
        frame_rate=rate,
        gop_frames=gop_frames(rate, profile.keyframe_interval_s) if rate else None,
        skipped=tuple(skipped),
        tone_map_from=tone_map_from(source.color_transfer) if videos else None,
    )


# --------------------------------------------------------------------------- RFC 6381

_H264_PROFILE_IDC = {"baseline": 66, "main": 77, "extended": 88, "high": 100, "high10": 110,
                     "high422": 122, "high444": 244}
#: constraint_set flags x264 writes: Main streams also satisfy Extended (set1).
_H264_CONSTRAINTS = {"baseline": 0xC0, "main": 0x40}
_AAC_OBJECT_TYPES = {"lc": 2, "he-aac": 5, "he-aacv2": 29, "main": 1, "ltp": 4}


def avc1(profile_idc: int, constraints: int, level_idc: int) -> str:
    return f"avc1.{profile_idc:02x}{constraints:02x}{level_idc:02x}"


def avc1_from_config(avcc: bytes) -> str:
    """From an `avcC` record: version, profile_idc, constraint flags, level_idc."""
    if len(avcc) < 4 or avcc[0] != 1:
        raise ValueError("not an avcC record")
    return avc1(avcc[1], avcc[2], avcc[3])


def hvc1_from_config(hvcc: bytes, tag: str = "hvc1") -> str:
    """From an `hvcC` record (ISO/IEC 14496-15 annex E: hvc1.A1.6.L93.B0)."""
    if len(hvcc) < 13 or hvcc[0] != 1:
        raise ValueError("not an hvcC record")
    space, tier, profile_idc = hvcc[1] >> 6, (hvcc[1] >> 5) & 1, hvcc[1] & 0x1F
    compat = int.from_bytes(hvcc[2:6], "big")
    reversed_compat = int(f"{compat:032b}"[::-1], 2)
    constraints = list(hvcc[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    parts = [tag, f"{'' if space == 0 else 'ABC'[space - 1]}{profile_idc}",
             f"{reversed_compat:X}", f"{'H' if tier else 'L'}{hvcc[12]}"]
    parts += [f"{c:X}" for c in constraints]
    return ".".join(parts)


def av01_from_config(av1c: bytes) -> str:
    """From an `av1C` record (AV1-ISOBMFF: av01.P.LLT.DD)."""
    if len(av1c) < 4 or av1c[0] != 0x81:
        raise ValueError("not an av1C record")
    profile, level = av1c[1] >> 5, av1c[1] & 0x1F
    tier = "H" if av1c[2] & 0x80 else "M"
    depth = 12 if av1c[2] & 0x20 else 10 if av1c[2] & 0x40 else 8
    return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"


def codecs_from_names(codec: str, profile_name: str | None, level: int | None) -> str:
    """Fallback from ffprobe's profile name and level when no configuration record is
    available. Exact for x264's H.264; approximate (no constraint flags) otherwise."""
    key = (profile_name or "").lower().replace(" ", "")
    if codec == "h264" and level:
        key = key.removeprefix("constrained")
        return avc1(_H264_PROFILE_IDC.get(key, 100), _H264_CONSTRAINTS.get(key, 0), level)
    if codec == "hevc" and level:
        return f"hvc1.{2 if '10' in key else 1}.{4 if '10' in key else 6}.L{level}.B0"
    if codec == "av1" and level is not None:
        return f"av01.0.{level:02d}M.08"
    return codec


def mp4a(profile_name: str | None) -> str:
    """mp4a.40.<audio object type> from ffprobe's AAC profile name (LC unless told)."""
    return f"mp4a.40.{_AAC_OBJECT_TYPES.get((profile_name or 'lc').lower(), 2)}"


def expected_video_codec(profile: Profile, rung: Rung, frame_rate: float = 30) -> str | None:
    """The codec string a rung should come out with at `frame_rate`, from its settings.

    Only H.264 can be told in advance (x265 and SVT-AV1 choose constraint flags and levels
    themselves); the encode reports the real string from the written file either way.
    """
    rung_level = rung.level_for(frame_rate)
    if profile.codec is not VideoCodec.H264 or not rung.profile or not rung_level:
        return None
    level = round(float(rung_level) * 10)
    return avc1(_H264_PROFILE_IDC[rung.profile], _H264_CONSTRAINTS.get(rung.profile, 0), level)

