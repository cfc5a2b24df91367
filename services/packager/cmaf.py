"""CMAF segmentation: remux renditions into aligned fragmented-MP4 segments, then measure them.

ffmpeg only cuts (`-c copy`, never a re-encode): one `dash` muxer output per rendition writes
`<name>/init.mp4` and `<name>/seg_00001.m4s`, ... Its own MPD is thrown away; every manifest
is written by `playlists` from what `read_track` measures in the boxes:

* segment duration = the sum of the sample durations in its `trun`s (exact, in track ticks),
  and its start = the first `tfdt`, so the DASH timeline and the HLS EXTINFs agree exactly;
* video is fragmented at every keyframe (`movflags=frag_keyframe`), so each GOP is one
  `moof`+`mdat` and an I-frame is addressable as a byte range: `moof`, the `mdat` header and
  the keyframe sample (the layout Apple's segmenter and nginx-vod use for fMP4 trick play).

The one ffmpeg invocation is an argument list from `segment_args` (inputs and outputs only,
no binary, no global options: the shape `services.shared.media.process.run_ffmpeg` takes). It
is run by an injectable `FfmpegRunner`; `blocking_runner` is the synchronous default, and
like every runner it goes through that one shared wrapper with the configured binary.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services.shared.media.errors import FfmpegError
from services.shared.media.process import run_blocking
from services.shared.settings import CommonSettings

INIT_NAME = "init.mp4"
SEGMENT_TEMPLATE = "seg_$Number%05d$.m4s"  # the dash muxer's template; numbering starts at 1
_SCRATCH_MPD = ".ffmpeg.mpd"  # the muxer insists on writing one; we discard it

StreamKind = Literal["video", "audio"]
FfmpegRunner = Callable[[Sequence[str]], None]  # runs ffmpeg with these args; raises on failure
_NON_SYNC = 0x00010000  # sample_is_non_sync_sample in ISO/IEC 14496-12 sample flags


class SegmentingFailed(RuntimeError):
    """ffmpeg could not cut the renditions, or its output is not what we asked for."""


@dataclass(frozen=True)
class TrackSource:
    """One track to cut: the `stream` of `path` becomes the rendition directory `name`."""

    name: str
    path: Path
    stream: StreamKind


@dataclass(frozen=True)
class TrackHeader:
    """What the init segment says about the track."""

    timescale: int
    handler: str  # "vide" | "soun"
    sample_entry: str  # "avc1", "mp4a", ...
    avc_codec: str | None  # RFC 6381 string from avcC, e.g. "avc1.64001f"
    channels: int | None
    sample_rate: int | None
    default_duration: int
    default_size: int
    default_flags: int


@dataclass(frozen=True)
class Fragment:
    """One `moof`+`mdat` pair inside a segment file; offsets are from the file's start."""

    offset: int
    size: int
    decode_time: int
    duration: int
    starts_with_sync: bool
    first_sample_end: int  # where the first sample's bytes end: an I-frame range stops here


@dataclass(frozen=True)
class CutSegment:
    path: Path
    size_bytes: int
    decode_time: int
    duration: int
    fragments: tuple[Fragment, ...]


@dataclass(frozen=True)
class CutTrack:
    name: str
    kind: StreamKind
    header: TrackHeader
    init_path: Path
    segments: tuple[CutSegment, ...]


def segment_args(sources: Sequence[TrackSource], out_dir: Path,
                 segment_seconds: float) -> list[str]:
    """One ffmpeg run, one `dash` output per track: each input is read once for all tracks."""
    inputs: list[Path] = list(dict.fromkeys(s.path for s in sources))
    args: list[str] = []
    for path in inputs:
        args += ["-i", str(path)]
    for source in sources:
        selector = "v:0" if source.stream == "video" else "a:0"
        args += [
            "-map", f"{inputs.index(source.path)}:{selector}", "-c", "copy",
            "-f", "dash", "-dash_segment_type", "mp4",
            "-seg_duration", f"{segment_seconds:g}",
            # Without a timeline the muxer cuts at the first keyframe at or after
            # n * seg_duration from the start, not seg_duration after the previous cut, so
            # every rung cuts at the same GOP boundary even when GOPs are not exact.
            "-use_template", "1", "-use_timeline", "0",
            # cmaf: CMAF brands; skip_sidx: players use the manifests, not per-fragment
            # sidx boxes; frag_keyframe: one fragment per GOP (I-frame byte ranges).
            "-format_options", "movflags=+cmaf+skip_sidx+frag_keyframe",
            "-init_seg_name", INIT_NAME, "-media_seg_name", SEGMENT_TEMPLATE,
            str(out_dir / source.name / _SCRATCH_MPD),
        ]
    return args


def blocking_runner(settings: CommonSettings | None = None,
                    timeout_s: float = 1800.0) -> FfmpegRunner:
    """A runner for a thread without an event loop: the shared wrapper (configured binary,
    standard global options, logging, terminate-then-kill) run to completion."""
    def run(args: Sequence[str]) -> None:
        try:
            run_blocking(args, settings, name="package", timeout_s=timeout_s)
        except TimeoutError as exc:
            raise SegmentingFailed(f"ffmpeg timed out after {timeout_s:.0f} s") from exc
        except FfmpegError as exc:
            raise SegmentingFailed(str(exc)) from exc

    return run


def cut_tracks(sources: Sequence[TrackSource], out_dir: Path, segment_seconds: float,
               run: FfmpegRunner) -> list[CutTrack]:
    """Cut every track into `out_dir/<name>/` and measure the result."""
    for source in sources:
        (out_dir / source.name).mkdir(parents=True, exist_ok=True)
    run(segment_args(sources, out_dir, segment_seconds))
    tracks = []
    for source in sources:
        track_dir = out_dir / source.name
        (track_dir / _SCRATCH_MPD).unlink(missing_ok=True)
        track = read_track(source.name, source.stream, track_dir)
        if fold_runt(track, segment_seconds / 4):
            track = read_track(source.name, source.stream, track_dir)
        tracks.append(track)
    return tracks


def fold_runt(track: CutTrack, min_seconds: float) -> bool:
    """Append a final segment shorter than `min_seconds` to the one before it.

    AAC priming puts the audio's cutting grid 1024 samples before the video's, so audio
    usually ends with a one-frame segment (~10 ms). Its fragments move as they are: the
    `tfhd` has default-base-is-moof, so data offsets do not depend on where a fragment sits
    and a segment may hold several fragments.
    """
    if len(track.segments) < 2:
        return False
    last, before = track.segments[-1], track.segments[-2]
    if last.duration >= min_seconds * track.header.timescale:
        return False
    with before.path.open("ab") as f:
        f.write(last.path.read_bytes()[last.fragments[0].offset:])  # without its `styp`
    last.path.unlink()
    return True


def read_track(name: str, kind: StreamKind, track_dir: Path) -> CutTrack:
    init_path = track_dir / INIT_NAME
    if not init_path.is_file():
        raise SegmentingFailed(f"{name}: no {INIT_NAME} was written")
    header = read_header(init_path.read_bytes())
    paths = sorted(track_dir.glob("seg_*.m4s"))
    if not paths:
        raise SegmentingFailed(f"{name}: no media segments were written")
    segments = tuple(read_segment(p, header) for p in paths)
    return CutTrack(name, kind, header, init_path, segments)


def stream_kinds(path: Path) -> set[str]:
    """Handler types ("vide", "soun") of an MP4's tracks, reading only its `moov`."""
    kinds: set[str] = set()
    with path.open("rb") as f:
        size = path.stat().st_size
        offset = 0
        while offset + 8 <= size:
            f.seek(offset)
            box_size, box_type, _ = _box_header(f.read(16), 0, size - offset)
            if box_type == b"moov":
                f.seek(offset)
                moov = f.read(box_size)
                kinds.update(_handler(trak) for trak in _children_of_type(moov, b"trak"))
                break
            offset += box_size
    return kinds


def read_header(init: bytes) -> TrackHeader:
    moov = _top(init, b"moov")
    mdia = _child(init, _child(init, moov, b"trak"), b"mdia")
    mdhd = _body(init, _child(init, mdia, b"mdhd"))
    timescale = struct.unpack_from(">I", mdhd, 20 if mdhd[0] == 1 else 12)[0]
    handler = _body(init, _child(init, mdia, b"hdlr"))[8:12].decode("latin-1")
    stbl = _child(init, _child(init, mdia, b"minf"), b"stbl")
    stsd_start, stsd_end = _child(init, stbl, b"stsd")
    entry_start = stsd_start + 16  # box header, version/flags, entry_count
    entry_size, entry_type, _ = _box_header(init, entry_start, stsd_end)
    entry = init[entry_start + 8: entry_start + entry_size]
    avc_codec = channels = sample_rate = None
    if handler == "soun":
        channels = struct.unpack_from(">H", entry, 16)[0]
        sample_rate = struct.unpack_from(">I", entry, 24)[0] >> 16
    elif entry_type in (b"avc1", b"avc3"):
        # VisualSampleEntry is 78 bytes before its child boxes; avcC carries the
        # profile, compatibility and level bytes that make the RFC 6381 string.
        for child_type, (start, _end) in _boxes(entry, 78, len(entry)):
            if child_type == b"avcC":
                avc_codec = f"{entry_type.decode()}.{entry[start + 9: start + 12].hex()}"
    trex = _body(init, _child(init, _child(init, moov, b"mvex"), b"trex"))
    defaults = struct.unpack_from(">III", trex, 12)
    return TrackHeader(timescale, handler, entry_type.decode("latin-1"), avc_codec, channels,
                       sample_rate, *defaults)


def read_segment(path: Path, header: TrackHeader) -> CutSegment:
    data = path.read_bytes()
    fragments = []
    for box_type, (start, end) in _boxes(data, 0, len(data)):
        if box_type == b"moof":
            fragments.append(_read_fragment(data, start, end, header))
        elif box_type == b"mdat" and fragments:
            last = fragments[-1]
            fragments[-1] = Fragment(last.offset, end - last.offset, last.decode_time,
                                     last.duration, last.starts_with_sync, last.first_sample_end)
    if not fragments:
        # The rendition and file names, never the job directory: failure reasons reach users.
        raise SegmentingFailed(f"{path.parent.name}/{path.name}: no movie fragment")
    return CutSegment(path, len(data), fragments[0].decode_time,
                      sum(f.duration for f in fragments), tuple(fragments))


def _read_fragment(data: bytes, start: int, end: int, header: TrackHeader) -> Fragment:
    traf = _child(data, (start, end), b"traf")
    tfhd = _body(data, _child(data, traf, b"tfhd"))
    flags = int.from_bytes(tfhd[1:4], "big")
    base = start  # default-base-is-moof (CMAF requires it), or the moof for a lone track
    pos = 8  # version/flags, track_ID
    if flags & 0x01:
        # An absolute base would pin the fragment to its file position (see fold_runt).
        raise SegmentingFailed("tfhd with base-data-offset: fragments are not relocatable")
    if flags & 0x02:
        pos += 4
    default_duration, default_size, default_flags = (
        header.default_duration, header.default_size, header.default_flags)
    if flags & 0x08:
        default_duration = struct.unpack_from(">I", tfhd, pos)[0]
        pos += 4
    if flags & 0x10:
        default_size = struct.unpack_from(">I", tfhd, pos)[0]
        pos += 4
    if flags & 0x20:
        default_flags = struct.unpack_from(">I", tfhd, pos)[0]
    tfdt = _body(data, _child(data, traf, b"tfdt"))
    decode_time = struct.unpack_from(">Q" if tfdt[0] == 1 else ">I", tfdt, 4)[0]
    duration, first_sync, first_end = 0, False, start
    truns = [span for box_type, span in _boxes(data, traf[0] + 8, traf[1]) if box_type == b"trun"]
    for index, span in enumerate(truns):
        samples = list(_trun_samples(_body(data, span), base, default_duration, default_size,
                                     default_flags))
        duration += sum(s[0] for s in samples)
        if index == 0 and samples:
            first_sync = not samples[0][2] & _NON_SYNC
            first_end = samples[0][3] + samples[0][1]
    return Fragment(start, end - start, decode_time, duration, first_sync, first_end)


def _trun_samples(trun: bytes, base: int, default_duration: int, default_size: int,
                  default_flags: int) -> Iterator[tuple[int, int, int, int]]:
    """(duration, size, flags, data offset) of each sample in a `trun`."""
    flags = int.from_bytes(trun[1:4], "big")
    count = struct.unpack_from(">I", trun, 4)[0]
    pos = 8
    data_offset = base
    if flags & 0x001:
        data_offset = base + struct.unpack_from(">i", trun, pos)[0]
        pos += 4
    first_flags = None
    if flags & 0x004:
        first_flags = struct.unpack_from(">I", trun, pos)[0]
        pos += 4
    for i in range(count):
        duration, size, sample_flags = default_duration, default_size, default_flags
        if flags & 0x100:
            duration = struct.unpack_from(">I", trun, pos)[0]
            pos += 4
        if flags & 0x200:
            size = struct.unpack_from(">I", trun, pos)[0]
            pos += 4
        if flags & 0x400:
            sample_flags = struct.unpack_from(">I", trun, pos)[0]
            pos += 4
        if flags & 0x800:
            pos += 4  # composition offset: presentation order does not move segment bounds
        if i == 0 and first_flags is not None:
            sample_flags = first_flags
        yield duration, size, sample_flags, data_offset
        data_offset += size


def _box_header(data: bytes, offset: int, end: int) -> tuple[int, bytes, int]:
    size, box_type = struct.unpack_from(">I4s", data, offset)
    header_len = 8
    if size == 1:
        size = struct.unpack_from(">Q", data, offset + 8)[0]
        header_len = 16
    elif size == 0:
        size = end - offset
    if size < header_len:
        raise SegmentingFailed(f"corrupt box {box_type!r} at {offset}")
    return size, box_type, header_len


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, tuple[int, int]]]:
    """Child boxes of a span: (type, (box start, box end))."""
    offset = start
    while offset + 8 <= end:
        size, box_type, _ = _box_header(data, offset, end)
        yield box_type, (offset, offset + size)
        offset += size


def _top(data: bytes, box_type: bytes) -> tuple[int, int]:
    for found, span in _boxes(data, 0, len(data)):
        if found == box_type:
            return span
    raise SegmentingFailed(f"no top-level {box_type.decode()} box")


def _child(data: bytes, container: tuple[int, int], box_type: bytes) -> tuple[int, int]:
    """Span of the first child of `box_type` inside a container box (32-bit header)."""
    for found, span in _boxes(data, container[0] + 8, container[1]):
        if found == box_type:
            return span
    raise SegmentingFailed(f"no {box_type.decode()} box")


def _body(data: bytes, span: tuple[int, int]) -> bytes:
    return data[span[0] + 8: span[1]]


def _children_of_type(container: bytes, box_type: bytes) -> Iterator[bytes]:
    for found, (start, end) in _boxes(container, 8, len(container)):
        if found == box_type:
            yield container[start:end]


def _handler(trak: bytes) -> str:
    mdia = _child(trak, (0, len(trak)), b"mdia")
    return _body(trak, _child(trak, mdia, b"hdlr"))[8:12].decode("latin-1")
