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
from typing import TypedDict

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
    #: The level above 30 fps, where `level` is too low for 60 fps (None: `level` serves).
    level_hfr: str | None = None

    def level_for(self, frame_rate: float) -> str | None:
        """The level to signal at `frame_rate` (frames per second of the output)."""
        return self.level_hfr if self.level_hfr and frame_rate > 30.5 else self.level


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


class _RungAudio(TypedDict):
    audio_kbps: int
    audio_rate: int


_AAC_LOW: _RungAudio = {"audio_kbps": 96, "audio_rate": 44100}
_AAC: _RungAudio = {"audio_kbps": 128, "audio_rate": 48000}

# Rungs share names and boxes across profiles (Apple's HLS authoring spec spans 416x234 to
# 3840x2160; 426x240 is the 16:9 box at 240 lines). A source gets the rungs it reaches,
# never upscaled (ladder.fit); a caller may ask for a subset by name.
#
# H.264 stops at 1080p. 1080p60 needs High@4.2, which every H.264 decoder of the last decade
# has; 1440p and 2160p need levels 5.1/5.2, which many of the devices that need H.264 at all
# (older TVs, set-top boxes, phones without HEVC) do not decode; a device that decodes 4K
# at all decodes HEVC, which needs far fewer bits there. The 1440p and 2160p rungs are
# therefore only in the `hevc` and `av1` profiles.
#
# Levels are chosen per frame rate where 60 fps needs a higher one (`level_hfr`): a 1080p60
# stream signalled as 4.1 would promise a decoder less than it has to do. The codec strings
# in events and manifests are still read from the written files, never from these.
#
# H.264 caps (`maxrate_kbps`, with a 2x VBV buffer) sit at the knees of the ladder study
# (`./run bench ladder`, table in the README) and at or under Shaka Streamer's rates for
# 360p/720p/1080p: CRF decides on easy pictures, the cap on grain and fast motion.

DEFAULT = Profile(
    name="default",
    codec=VideoCodec.H264,
    encoder="libx264",
    preset="medium",
    rungs=(
        Rung("240p", 426, 240, crf=23, profile="main", level="3.0", maxrate_kbps=250,
             **_AAC_LOW),
        Rung("360p", 640, 360, crf=23, profile="main", level="3.1", maxrate_kbps=360,
             **_AAC_LOW),
        Rung("480p", 854, 480, crf=23, profile="main", level="3.1", maxrate_kbps=700,
             **_AAC_LOW),
        Rung("720p", 1280, 720, crf=22, profile="high", level="4.0", maxrate_kbps=1800, **_AAC),
        # The seed ladder stops at 720p; 1080p (CRF 21, High@4.1, 4.2 above 30 fps) is our
        # choice, one CRF step finer per rung like the two it extends.
        Rung("1080p", 1920, 1080, crf=21, profile="high", level="4.1", level_hfr="4.2",
             maxrate_kbps=3600, **_AAC),
    ),
)

HEVC = Profile(
    name="hevc",
    codec=VideoCodec.HEVC,
    encoder="libx265",
    preset="medium",
    tag="hvc1",
    # x265's CRF scale sits about 5 above x264's for the same look. Main tier levels: 2.1
    # covers 240p60, 3.1 480p60, 4 720p60, 4.1 1080p60, 5 1440p60 and 2160p30, 5.1 2160p60.
    # Caps up to 1440p: the H.264 knees times 0.7 (HEVC's usual saving at equal VMAF), not
    # measured here; 2160p from the study's 2160p CRF curve.
    rungs=(
        Rung("240p", 426, 240, crf=28, profile="main", level="2.1", maxrate_kbps=180,
             **_AAC_LOW),
        Rung("360p", 640, 360, crf=28, profile="main", level="3.1", maxrate_kbps=250,
             **_AAC_LOW),
        Rung("480p", 854, 480, crf=28, profile="main", level="3.1", maxrate_kbps=500,
             **_AAC_LOW),
        Rung("720p", 1280, 720, crf=27, profile="main", level="4", maxrate_kbps=1250, **_AAC),
        Rung("1080p", 1920, 1080, crf=26, profile="main", level="4.1", maxrate_kbps=2500,
             **_AAC),
        # 1440p and 2160p caps from the ladder study's hevc points (README, "The ladder"):
        # 4,500k costs 0.6 VMAF against uncapped CRF 26; at 2160p the gain per Mb/s halves
        # past 12,000k and halves again past 16,000k.
        Rung("1440p", 2560, 1440, crf=26, profile="main", level="5", maxrate_kbps=4500,
             **_AAC),
        Rung("2160p", 3840, 2160, crf=25, profile="main", level="5", level_hfr="5.1",
             maxrate_kbps=16000, **_AAC),
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
        Rung("240p", 426, 240, crf=37, profile="main", level=None, maxrate_kbps=None,
             **_AAC_LOW),
        Rung("360p", 640, 360, crf=36, profile="main", level=None, maxrate_kbps=None, **_AAC_LOW),
        Rung("480p", 854, 480, crf=35, profile="main", level=None, maxrate_kbps=None, **_AAC_LOW),
        Rung("720p", 1280, 720, crf=34, profile="main", level=None, maxrate_kbps=None, **_AAC),
        Rung("1080p", 1920, 1080, crf=32, profile="main", level=None, maxrate_kbps=None, **_AAC),
        Rung("1440p", 2560, 1440, crf=31, profile="main", level=None, maxrate_kbps=None, **_AAC),
        Rung("2160p", 3840, 2160, crf=30, profile="main", level=None, maxrate_kbps=None, **_AAC),
    ),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (DEFAULT, HEVC, AV1)}


def get_profile(name: str | None = None, **overrides: object) -> Profile:
    """The named profile (None means `default`), with fields replaced by `overrides`."""
    profile = PROFILES.get(name or DEFAULT.name)
    if profile is None:
        raise UnknownProfile(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}")
    return dataclasses.replace(profile, **overrides) if overrides else profile  # type: ignore[arg-type]
