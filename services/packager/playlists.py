"""HLS and DASH manifests from a measured description of the segments. Pure: text in, text out.

Everything a manifest states is a measurement passed in (segment ticks and bytes, keyframe
byte ranges, bandwidths), so the manifests are exact and the same description always yields
the same bytes. HLS and DASH reference the same fMP4 files; layout, relative to the package:
`master.m3u8`, `manifest.mpd`, `<rendition>/{init.mp4,seg_NNNNN.m4s,playlist.m3u8,
iframes.m3u8}` and, for text tracks, the `.vtt` plus a one-segment `.m3u8` beside it.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

HLS_VERSION = 7  # fMP4 with EXT-X-MAP in every playlist needs 6; 7 is the CMAF baseline
AUDIO_GROUP = "aud"
SUBTITLE_GROUP = "subs"
MEDIA_PLAYLIST = "playlist.m3u8"
IFRAME_PLAYLIST = "iframes.m3u8"
SEGMENT_NAME = "seg_{number:05d}.m4s"
SEGMENT_TEMPLATE = "seg_$Number%05d$.m4s"  # the DASH spelling of SEGMENT_NAME
DASH_PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
_CHANNEL_SCHEME = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"
_ROLE_SCHEME = "urn:mpeg:dash:role:2011"


@dataclass(frozen=True)
class Segment:
    """One media segment: start and duration in the track's ticks, size as stored."""

    uri: str
    start: int
    duration: int
    size_bytes: int


@dataclass(frozen=True)
class IFrame:
    """A keyframe addressed inside a segment file: `moof`, `mdat` header and the sample."""

    uri: str
    offset: int
    length: int
    duration: int  # ticks until the next keyframe (or the end)


@dataclass(frozen=True)
class Rendition:
    """One packaged track in `<name>/`. Bandwidths are measured, in bits per second."""

    name: str
    kind: Literal["video", "audio"]
    codecs: str
    timescale: int
    segments: tuple[Segment, ...]
    peak_bandwidth: int
    average_bandwidth: int
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    iframes: tuple[IFrame, ...] = ()
    iframe_bandwidth: int = 0
    channels: int | None = None
    sample_rate: int | None = None
    language: str = "und"
    init_uri: str = "init.mp4"

    def seconds(self, ticks: int) -> float:
        return ticks / self.timescale

    @property
    def duration_seconds(self) -> float:
        return self.seconds(sum(s.duration for s in self.segments))


@dataclass(frozen=True)
class TextTrack:
    """A WebVTT subtitle file, `uri` relative to the package (e.g. `subtitles/en.vtt`)."""

    language: str
    name: str
    uri: str
    default: bool = False

    @property
    def playlist_uri(self) -> str:
        """HLS needs a media playlist around the WebVTT file; it sits beside it."""
        stem = self.uri.rsplit(".", 1)[0] if self.uri.endswith(".vtt") else self.uri
        return f"{stem}.m3u8"


@dataclass(frozen=True)
class Presentation:
    renditions: tuple[Rendition, ...]
    text_tracks: tuple[TextTrack, ...] = ()

    @property
    def video(self) -> tuple[Rendition, ...]:
        return tuple(r for r in self.renditions if r.kind == "video")

    @property
    def audio(self) -> Rendition | None:
        return next((r for r in self.renditions if r.kind == "audio"), None)

    @property
    def duration_seconds(self) -> float:
        """The video's length: audio tracks also count their encoder priming, which the
        edit list in their init segment trims from the presentation."""
        return max(r.duration_seconds for r in (self.video or self.renditions))


# --- measurements ------------------------------------------------------------------------


def average_bitrate(spans: Sequence[tuple[float, int]]) -> int:
    """Bits per second over all (seconds, bytes) spans: the HLS AVERAGE-BANDWIDTH."""
    seconds = sum(s for s, _ in spans)
    return math.ceil(sum(b for _, b in spans) * 8 / seconds) if seconds > 0 else 0


def peak_bitrate(spans: Sequence[tuple[float, int]], target_seconds: int) -> int:
    """The HLS peak segment bit rate (RFC 8216bis 4.4.6.2): the highest rate of any run of
    consecutive segments lasting 0.5 to 1.5 target durations. Windows, not single segments,
    so a short tail segment cannot inflate it; with no qualifying run, the whole average.
    """
    low, high = 0.5 * target_seconds, 1.5 * target_seconds
    best = 0
    for i in range(len(spans)):
        seconds, size = 0.0, 0
        for span_seconds, span_bytes in spans[i:]:
            seconds += span_seconds
            size += span_bytes
            if seconds > high:
                break
            if seconds >= low:
                best = max(best, math.ceil(size * 8 / seconds))
    return best or average_bitrate(spans)


def target_duration(durations_seconds: Sequence[float]) -> int:
    """Whole seconds >= every segment (stricter than the rounding RFC 8216 allows)."""
    # Round to the microsecond first: 4.0000000001 s of float noise is not a 5 s target.
    return max(1, max(math.ceil(round(d, 6)) for d in durations_seconds))


# --- HLS ---------------------------------------------------------------------------------


def media_playlist(rendition: Rendition) -> str:
    durations = [rendition.seconds(s.duration) for s in rendition.segments]
    lines = _playlist_head(target_duration(durations))
    lines.append(f'#EXT-X-MAP:URI="{rendition.init_uri}"')
    for segment, seconds in zip(rendition.segments, durations, strict=True):
        lines += [f"#EXTINF:{seconds:.6f},", segment.uri]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def iframe_playlist(rendition: Rendition) -> str:
    durations = [rendition.seconds(f.duration) for f in rendition.iframes]
    lines = _playlist_head(target_duration(durations))
    lines += ["#EXT-X-I-FRAMES-ONLY", f'#EXT-X-MAP:URI="{rendition.init_uri}"']
    for frame, seconds in zip(rendition.iframes, durations, strict=True):
        lines += [f"#EXTINF:{seconds:.6f},",
                  f"#EXT-X-BYTERANGE:{frame.length}@{frame.offset}", frame.uri]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def subtitle_playlist(track: TextTrack, duration_seconds: float) -> str:
    """A one-segment VOD playlist over the whole WebVTT file, in the file's directory."""
    lines = _playlist_head(target_duration([duration_seconds]))
    lines += [f"#EXTINF:{duration_seconds:.6f},", track.uri.rsplit("/", 1)[-1], "#EXT-X-ENDLIST"]
    return "\n".join(lines) + "\n"


def master_playlist(presentation: Presentation) -> str:
    audio = presentation.audio
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{HLS_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None and presentation.video:
        attrs = [("TYPE", "AUDIO"), ("GROUP-ID", _q(AUDIO_GROUP)), ("NAME", _q(audio.name)),
                 ("LANGUAGE", _q(audio.language)), ("DEFAULT", "YES"), ("AUTOSELECT", "YES")]
        if audio.channels:
            attrs.append(("CHANNELS", _q(str(audio.channels))))
        attrs.append(("URI", _q(f"{audio.name}/{MEDIA_PLAYLIST}")))
        lines.append("#EXT-X-MEDIA:" + _attrs(attrs))
    lines += [subtitles_media_tag(track) for track in presentation.text_tracks]
    if audio is not None and not presentation.video:
        # Audio only (a podcast, a music track): the audio playlist is the one variant.
        attrs = [("BANDWIDTH", str(audio.peak_bandwidth)),
                 ("AVERAGE-BANDWIDTH", str(audio.average_bandwidth)),
                 ("CODECS", _q(audio.codecs))]
        if presentation.text_tracks:
            attrs.append(("SUBTITLES", _q(SUBTITLE_GROUP)))
        lines += ["#EXT-X-STREAM-INF:" + _attrs(attrs), f"{audio.name}/{MEDIA_PLAYLIST}"]
    for video in presentation.video:
        # A variant plays its video with the audio group: its rates are the sums.
        peak = video.peak_bandwidth + (audio.peak_bandwidth if audio else 0)
        average = video.average_bandwidth + (audio.average_bandwidth if audio else 0)
        codecs = ",".join(c for c in (video.codecs, audio.codecs if audio else "") if c)
        attrs = [("BANDWIDTH", str(peak)), ("AVERAGE-BANDWIDTH", str(average)),
                 ("CODECS", _q(codecs)), *_picture(video)]
        if audio is not None:
            attrs.append(("AUDIO", _q(AUDIO_GROUP)))
        if presentation.text_tracks:
            attrs.append(("SUBTITLES", _q(SUBTITLE_GROUP)))
        lines += ["#EXT-X-STREAM-INF:" + _attrs(attrs), f"{video.name}/{MEDIA_PLAYLIST}"]
    for video in presentation.video:
        if video.iframes:
            lines.append("#EXT-X-I-FRAME-STREAM-INF:" + _attrs([
                ("BANDWIDTH", str(video.iframe_bandwidth)), ("CODECS", _q(video.codecs)),
                *[a for a in _picture(video) if a[0] == "RESOLUTION"],
                ("URI", _q(f"{video.name}/{IFRAME_PLAYLIST}"))]))
    return "\n".join(lines) + "\n"


def subtitles_media_tag(track: TextTrack) -> str:
    """The master's `EXT-X-MEDIA` line of a text track (group `SUBTITLE_GROUP`)."""
    return "#EXT-X-MEDIA:" + _attrs([
        ("TYPE", "SUBTITLES"), ("GROUP-ID", _q(SUBTITLE_GROUP)), ("NAME", _q(track.name)),
        ("LANGUAGE", _q(track.language)), ("DEFAULT", "YES" if track.default else "NO"),
        ("AUTOSELECT", "YES"), ("URI", _q(track.playlist_uri))])


def _playlist_head(target: int) -> list[str]:
    return ["#EXTM3U", f"#EXT-X-VERSION:{HLS_VERSION}", f"#EXT-X-TARGETDURATION:{target}",
            "#EXT-X-MEDIA-SEQUENCE:1", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS"]


def _picture(video: Rendition) -> list[tuple[str, str]]:
    attrs = []
    if video.width and video.height:
        attrs.append(("RESOLUTION", f"{video.width}x{video.height}"))
    if video.frame_rate:
        attrs.append(("FRAME-RATE", f"{video.frame_rate:.3f}"))
    return attrs


def _q(value: str) -> str:
    return '"' + value.replace('"', "'").replace("\n", " ") + '"'


def _attrs(pairs: Sequence[tuple[str, str]]) -> str:
    return ",".join(f"{k}={v}" for k, v in pairs)


# --- DASH --------------------------------------------------------------------------------


def dash_manifest(presentation: Presentation) -> str:
    """A static MPD: one AdaptationSet per media type, SegmentTemplate + SegmentTimeline."""
    video, audio = presentation.video, presentation.audio
    longest = max(r.seconds(s.duration) for r in presentation.renditions for s in r.segments)
    mpd = ET.Element("MPD", {
        "xmlns": "urn:mpeg:dash:schema:mpd:2011",
        "profiles": DASH_PROFILE,
        "type": "static",
        "mediaPresentationDuration": _iso_duration(presentation.duration_seconds),
        "maxSegmentDuration": _iso_duration(longest),
        # Every @bandwidth is a peak over segment-length windows, so buffering one longest
        # segment is enough to play on at that rate.
        "minBufferTime": _iso_duration(math.ceil(round(longest, 6))),
    })
    period = ET.SubElement(mpd, "Period", {"id": "0", "start": "PT0S"})
    set_id = 0
    if video:
        top = max(video, key=lambda r: (r.height or 0, r.peak_bandwidth))
        attrs = {"id": str(set_id), "contentType": "video", "mimeType": "video/mp4",
                 "segmentAlignment": "true", "startWithSAP": "1"}
        if top.width and top.height:
            attrs |= {"maxWidth": str(max(r.width or 0 for r in video)),
                      "maxHeight": str(max(r.height or 0 for r in video)), "par": _par(top)}
        adaptation = ET.SubElement(period, "AdaptationSet", attrs)
        for rendition in video:
            rep = {"id": rendition.name, "bandwidth": str(rendition.peak_bandwidth),
                   "codecs": rendition.codecs}
            if rendition.width and rendition.height:
                rep |= {"width": str(rendition.width), "height": str(rendition.height),
                        "sar": "1:1"}
            if rendition.frame_rate:
                rep["frameRate"] = _frame_rate(rendition.frame_rate)
            _segment_template(ET.SubElement(adaptation, "Representation", rep), rendition)
        set_id += 1
    if audio is not None:
        adaptation = ET.SubElement(period, "AdaptationSet", {
            "id": str(set_id), "contentType": "audio", "mimeType": "audio/mp4",
            "lang": audio.language, "segmentAlignment": "true", "startWithSAP": "1"})
        ET.SubElement(adaptation, "Role", {"schemeIdUri": _ROLE_SCHEME, "value": "main"})
        rep = {"id": audio.name, "bandwidth": str(audio.peak_bandwidth), "codecs": audio.codecs}
        if audio.sample_rate:
            rep["audioSamplingRate"] = str(audio.sample_rate)
        representation = ET.SubElement(adaptation, "Representation", rep)
        if audio.channels:
            ET.SubElement(representation, "AudioChannelConfiguration",
                          {"schemeIdUri": _CHANNEL_SCHEME, "value": str(audio.channels)})
        _segment_template(representation, audio)
        set_id += 1
    for index, track in enumerate(presentation.text_tracks):
        text_adaptation_set(period, set_id + index, index, track)
    ET.indent(mpd, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(mpd, encoding="unicode") + "\n"


def text_adaptation_set(period: ET.Element, set_id: int, index: int,
                        track: TextTrack) -> ET.Element:
    """A WebVTT text AdaptationSet (with `lang`) under `period`."""
    adaptation = ET.SubElement(period, "AdaptationSet", {
        "id": str(set_id), "contentType": "text", "mimeType": "text/vtt",
        "lang": track.language})
    ET.SubElement(adaptation, "Role", {"schemeIdUri": _ROLE_SCHEME, "value": "subtitle"})
    representation = ET.SubElement(adaptation, "Representation",
                                   {"id": f"text-{index}", "bandwidth": "256"})
    ET.SubElement(representation, "BaseURL").text = track.uri
    return adaptation


def _segment_template(representation: ET.Element, rendition: Rendition) -> None:
    template = ET.SubElement(representation, "SegmentTemplate", {
        "timescale": str(rendition.timescale),
        "initialization": f"{rendition.name}/{rendition.init_uri}",
        "media": f"{rendition.name}/{SEGMENT_TEMPLATE}",
        "startNumber": "1",
    })
    timeline = ET.SubElement(template, "SegmentTimeline")
    for start, duration, repeat in timeline_runs(rendition.segments):
        attrs = {"d": str(duration)}
        if start is not None:
            attrs = {"t": str(start), **attrs}
        if repeat:
            attrs["r"] = str(repeat)
        ET.SubElement(timeline, "S", attrs)


def timeline_runs(segments: Sequence[Segment]) -> list[tuple[int | None, int, int]]:
    """SegmentTimeline `S` entries as (t or None when contiguous, d, r)."""
    runs: list[tuple[int | None, int, int]] = []
    expected_start = None
    for segment in segments:
        contiguous = segment.start == expected_start
        if runs and contiguous and runs[-1][1] == segment.duration:
            start, duration, repeat = runs[-1]
            runs[-1] = (start, duration, repeat + 1)
        else:
            runs.append((None if contiguous else segment.start, segment.duration, 0))
        expected_start = segment.start + segment.duration
    return runs


def _iso_duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _frame_rate(rate: float) -> str:
    exact = Fraction(rate).limit_denominator(1001)
    if exact.denominator == 1:
        return str(exact.numerator)
    return f"{exact.numerator}/{exact.denominator}"


def _par(rendition: Rendition) -> str:
    ratio = Fraction(rendition.width or 1, rendition.height or 1)
    return f"{ratio.numerator}:{ratio.denominator}"
