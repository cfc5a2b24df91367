"""Named encoding profiles: the ABR rungs and the audio and picture outputs. Pure data.

A profile is chosen by name (`video-uploaded.profile`, else the service default) and can
be adjusted with `get_profile(name, **overrides)`, e.g. `preset="veryfast"` in tests.

Every rung is capped CRF: CRF sets the quality, `maxrate`/`bufsize` keep a difficult
scene from blowing past what the rung's bandwidth class (and H.264 level) promises.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from services.transcode.errors import UnknownProfile


class VideoCodec(enum.StrEnum):
    H264 = "h264"
    HEVC = "hevc"
    AV1 = "av1"


@dataclass(frozen=True)
class Rung:
    """One video rendition class. The box is landscape (long x short); portrait sources
    use it turned, so `short` is the rung's "p" number either way."""

    name: str
    long: int
    short: int
    crf: int
    #: Encoder profile and level (`-profile:v`, `-level:v`); None lets the encoder choose.
    profile: str | None
    level: str | None
    maxrate_kbps: int | None
    #: AAC muxed into this rung's MP4 so the progressive download has sound.
    audio_kbps: int
    audio_rate: int


@dataclass(frozen=True)
class AudioOutput:
    encoder: str
    kbps: int
    rate: int


@dataclass(frozen=True)
class PictureOutputs:
    #: Stills at these fractions of the duration; 1.0 is the last decodable frame.
    positions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    #: The still published as the output's main file (`rendition-done.uri`): a quarter in is
    #: past most fade-ins and title cards.
    poster_position: float = 0.25
    sprite_columns: int = 10
    sprite_tile_width: int = 160
    #: Seconds per sprite tile, raised for long videos to stay within `sprite_max_tiles`.
    sprite_interval_s: float = 2.0
    sprite_max_tiles: int = 100
    jpeg_quality: int = 3  # mjpeg qscale: 2 (best) .. 31


@dataclass(frozen=True)
class Profile:
    name: str
    codec: VideoCodec
    encoder: str
    #: x264/x265 preset name, or the SVT-AV1 preset number as text.
    preset: str
    rungs: tuple[Rung, ...]
    keyframe_interval_s: float = 2.0
    max_frame_rate: float = 60.0
    #: Renditions scoring below this VMAF are flagged `below_floor` (not failed).
    vmaf_floor: float = 90.0
    #: The HLS audio group's source and the audio-only download.
    audio: AudioOutput = AudioOutput("aac", 128, 48000)
    mp3: AudioOutput = AudioOutput("libmp3lame", 192, 48000)
    pictures: PictureOutputs = PictureOutputs()
    #: MP4 sample entry tag; `hvc1` (parameter sets out of band) is what Apple requires.
    tag: str | None = None

    def rung(self, name: str) -> Rung:
        for rung in self.rungs:
            if rung.name == name:
                return rung
        raise KeyError(name)


_AAC_LOW = {"audio_kbps": 96, "audio_rate": 44100}
_AAC = {"audio_kbps": 128, "audio_rate": 48000}

DEFAULT = Profile(
    name="default",
    codec=VideoCodec.H264,
    encoder="libx264",
    preset="medium",
    rungs=(
        Rung("360p", 640, 360, crf=23, profile="main", level="3.1", maxrate_kbps=1200, **_AAC_LOW),
        Rung("720p", 1280, 720, crf=22, profile="high", level="4.0", maxrate_kbps=4500, **_AAC),
        # The seed ladder stops at 720p; this 1080p rung (CRF 21, High@4.1, AAC 128k/48k) is
        # our choice, one CRF step finer per rung like the two it extends.
        Rung("1080p", 1920, 1080, crf=21, profile="high", level="4.1", maxrate_kbps=8000,
             **_AAC),
    ),
)

HEVC = Profile(
    name="hevc",
    codec=VideoCodec.HEVC,
    encoder="libx265",
    preset="medium",
    tag="hvc1",
    # x265's CRF scale sits about 5 above x264's for the same look.
    rungs=(
        Rung("360p", 640, 360, crf=28, profile="main", level="3.1", maxrate_kbps=800, **_AAC_LOW),
        Rung("720p", 1280, 720, crf=27, profile="main", level="4", maxrate_kbps=3000, **_AAC),
        Rung("1080p", 1920, 1080, crf=26, profile="main", level="4.1", maxrate_kbps=5500,
             **_AAC),
    ),
)

AV1 = Profile(
    name="av1",
    codec=VideoCodec.AV1,
    encoder="libsvtav1",
    preset="8",
    # No maxrate: SVT-AV1's capped CRF depends on the library version; plain CRF is
    # predictable. Levels are left to the encoder (it signals the one the stream meets).
    rungs=(
        Rung("360p", 640, 360, crf=36, profile="main", level=None, maxrate_kbps=None, **_AAC_LOW),
        Rung("720p", 1280, 720, crf=34, profile="main", level=None, maxrate_kbps=None, **_AAC),
        Rung("1080p", 1920, 1080, crf=32, profile="main", level=None, maxrate_kbps=None, **_AAC),
    ),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (DEFAULT, HEVC, AV1)}


def get_profile(name: str | None = None, **overrides: object) -> Profile:
    """The named profile (None means `default`), with fields replaced by `overrides`."""
    profile = PROFILES.get(name or DEFAULT.name)
    if profile is None:
        raise UnknownProfile(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}")
    return dataclasses.replace(profile, **overrides) if overrides else profile  # type: ignore[arg-type]
