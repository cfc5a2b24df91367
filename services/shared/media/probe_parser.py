"""What ffprobe's JSON says about a source, as a `SourceProbe`. Pure: no process is run here
(`probing` runs ffprobe), so every rule below has unit tests on recorded ffprobe output.

Messages name the input by the label the caller gives ("the source"), never by its path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from services.shared.media.errors import ProbeError
from services.shared.media.fields import to_float, to_int, to_ratio

Json = dict[str, Any]

#: Demuxers that mean "a picture, not a video".
_STILL_IMAGE_FORMATS = re.compile(r"^(image2|.*_pipe)$")
#: ffprobe's `field_order` values of interlaced (field-coded) video.
_INTERLACED = frozenset({"tt", "bb", "tb", "bt"})
#: A frame rate above this is a time base (e.g. 90000/1), not a rate.
_MAX_FRAME_RATE = 1000


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
    #: Transfer characteristic as tagged (`bt709`, `smpte2084` for PQ, `arib-std-b67` HLG).
    color_transfer: str | None = None

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
    def color_transfer(self) -> str | None:
        return self.video.color_transfer if self.video else None

    @property
    def video_duration(self) -> float:
        """The picture's own length (audio can outlast it); the container's as fallback."""
        return (self.video.duration if self.video and self.video.duration else self.duration)


def parse_probe(data: Json, source: str = "the input") -> SourceProbe:
    """A `SourceProbe` from ffprobe's `-show_format -show_streams` JSON; `ProbeError` when it
    describes no usable media. `source` names the input in messages."""
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    if not fmt and not streams:
        raise ProbeError("not_media", f"{source} is not a media file")
    container = str(fmt.get("format_name") or "")
    video_json, audio_json = pick_video(streams), pick_audio(streams)
    refuse_non_media(container, video_json, audio_json, source)
    video = video_stream(video_json) if video_json is not None else None
    audio = audio_stream(audio_json) if audio_json is not None else None
    duration = overall_duration(fmt, video, audio)
    if not duration:
        raise ProbeError("no_duration", f"{source} has no usable duration")
    return SourceProbe(container=container, duration=duration, bitrate=to_int(fmt.get("bit_rate")),
                       video=video, audio=audio, size_bytes=to_int(fmt.get("size")), raw=data)


def pick_video(streams: list[Json]) -> Json | None:
    """The first real picture stream: cover art (`attached_pic`) and sizeless streams are
    not video."""
    return next((s for s in streams if s.get("codec_type") == "video"
                 and not (s.get("disposition") or {}).get("attached_pic")
                 and to_int(s.get("width")) and to_int(s.get("height"))), None)


def pick_audio(streams: list[Json]) -> Json | None:
    """The first audio stream that has channels (0 channels is a placeholder track)."""
    return next((s for s in streams if s.get("codec_type") == "audio"
                 and to_int(s.get("channels")) != 0), None)


def refuse_non_media(container: str, video: Json | None, audio: Json | None,
                     source: str) -> None:
    """Raise `ProbeError` for a file without streams and for a still picture."""
    if video is None and audio is None:
        raise ProbeError("no_streams", f"the {container or 'unknown'} file {source} has "
                                       "no audio or video stream")
    if video is not None and audio is None and _STILL_IMAGE_FORMATS.match(container):
        raise ProbeError("not_media", f"{source} is a still image ({container}), not a video")


def video_stream(stream: Json) -> VideoStream:
    rate = frame_rate(stream)
    return VideoStream(
        index=int(stream["index"]), codec=str(stream.get("codec_name") or "unknown"),
        width=int(stream["width"]), height=int(stream["height"]),
        fps=float(rate) if rate else None, bitrate=to_int(stream.get("bit_rate")),
        pix_fmt=stream.get("pix_fmt"), frame_rate=rate, rotation=rotation(stream),
        sample_aspect_ratio=to_ratio(stream.get("sample_aspect_ratio")),
        duration=to_float(stream.get("duration")), profile=stream.get("profile"),
        level=to_int(stream.get("level")), interlaced=stream.get("field_order") in _INTERLACED,
        color_transfer=stream.get("color_transfer"),
    )


def audio_stream(stream: Json) -> AudioStream:
    return AudioStream(
        index=int(stream["index"]), codec=str(stream.get("codec_name") or "unknown"),
        channels=to_int(stream.get("channels")), sample_rate=to_int(stream.get("sample_rate")),
        bitrate=to_int(stream.get("bit_rate")), profile=stream.get("profile"),
        duration=to_float(stream.get("duration")),
    )


def overall_duration(fmt: Json, video: VideoStream | None, audio: AudioStream | None) -> float:
    """The container's duration, else the longest stream's; 0.0 when nothing says."""
    return to_float(fmt.get("duration")) or max(
        (d for d in (video and video.duration, audio and audio.duration) if d), default=0.0)


def rotation(stream: Json) -> int:
    """Clockwise display rotation (0/90/180/270) from the display matrix or the legacy tag."""
    degrees = 0.0
    for side in stream.get("side_data_list") or ():
        if "rotation" in side:
            degrees = float(side["rotation"])
    if not degrees and "rotate" in (stream.get("tags") or {}):
        degrees = -float(stream["tags"]["rotate"])  # legacy tag is clockwise
    # The display matrix angle is counter-clockwise; we report clockwise, like the tag.
    return int(round(-degrees / 90.0)) % 4 * 90


def frame_rate(stream: Json) -> Fraction | None:
    for key in ("avg_frame_rate", "r_frame_rate"):
        rate = to_ratio(stream.get(key))
        if rate is not None and rate <= _MAX_FRAME_RATE:
            return rate
    return None


def extradata_bytes(stream: Json) -> bytes:
    """Decode ffprobe's `extradata` hexdump (`00000000: 0164 001e ...  ascii`)."""
    out = bytearray()
    for line in str(stream.get("extradata") or "").splitlines():
        if ": " in line:
            out += bytes.fromhex(line.split(": ", 1)[1].split("  ", 1)[0].replace(" ", ""))
    return bytes(out)
