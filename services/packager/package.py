"""Packaging a video attempt: rendition files in, a complete HLS + DASH package directory out.

Pure local work (no Kafka, no S3) so the shell can run it in a worker thread and upload the
directory as it is: `PackageResult.files` names every file with its Content-Type and
Cache-Control. Video rungs become video-only CMAF tracks; the `audio` rendition (or, when
there is none, the audio of the lowest rung) becomes the one audio group. Other outputs
(`mp3`, `thumbnails`) are downloads, not stream tracks: they are skipped and reported.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from schemas import events
from schemas.events import RenditionDone
from services.packager import cmaf, playlists

log = logging.getLogger(__name__)

AUDIO_RENDITION = "audio"

CONTENT_TYPES: dict[str, str] = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".jpg": "image/jpeg",
    ".vtt": "text/vtt",
    ".json": "application/json",
}
# Media bytes never change under a key: packages are attempt-scoped and a reprocess writes a
# new attempt prefix, so segments, init segments and downloads are cached for good.
IMMUTABLE = "public, max-age=31536000, immutable"
# Manifests are just as fixed for a finished VOD attempt, but they are the entry point: a
# short lifetime lets a takedown or a re-run of a broken packaging (same keys) take effect
# within a minute, at the cost of one small revalidation per viewer per minute.
MANIFEST_CACHE = "public, max-age=60"
_SHORT_LIVED = {".m3u8", ".mpd", ".json"}
_ALIGNMENT_TOLERANCE_S = 0.001  # far under one frame: rungs must cut at the same GOP


class PackagingFailed(ValueError):
    """The renditions cannot make a valid package (a contract breach, not worth a retry)."""


@dataclass(frozen=True)
class RenditionInput:
    """One transcode output on local disk, with what `rendition-done` says about it."""

    name: str
    path: Path
    media_type: str  # VIDEO | AUDIO | IMAGES
    codecs: str = ""
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    bitrate: int = 0

    @classmethod
    def from_event(cls, event: RenditionDone, path: Path) -> RenditionInput:
        return cls(name=event.rendition, path=path, media_type=str(event.media_type),
                   codecs=event.codecs, width=event.width, height=event.height,
                   frame_rate=event.frame_rate, bitrate=event.bitrate)


@dataclass(frozen=True)
class TextTrackInput:
    """A WebVTT file to offer as subtitles; copied to `subtitles/<language>.vtt`."""

    language: str
    name: str
    path: Path
    default: bool = False


@dataclass(frozen=True)
class PackagedFile:
    path: str  # POSIX, relative to the package directory
    size_bytes: int
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class PackagedRendition:
    rendition: str
    media_type: str  # VIDEO | AUDIO
    codecs: str
    bandwidth: int  # this track's peak segment bit rate
    average_bandwidth: int
    variant_bandwidth: int  # the master's BANDWIDTH for a rung (with audio); track peak else
    segment_count: int
    segment_bytes: int  # init + media segments
    duration_seconds: float
    playlist_path: str
    iframe_playlist_path: str | None
    source: str  # input rendition the track was cut from
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    channels: int | None = None
    sample_rate: int | None = None


@dataclass(frozen=True)
class PackageResult:
    out_dir: Path
    master_playlist: str
    dash_manifest: str
    duration_seconds: float
    segment_seconds: float  # the target; measured lengths are in the manifests
    total_bytes: int
    files: tuple[PackagedFile, ...]
    renditions: tuple[PackagedRendition, ...]
    skipped: tuple[str, ...]
    elapsed_seconds: float

    def event_renditions(self, package_uri: str,
                         download_uris: Mapping[str, str] | None = None,
                         ) -> tuple[events.PackagedRendition, ...]:
        """The renditions `video-transcoded` lists (package_uri: the s3:// prefix)."""
        prefix = package_uri.rstrip("/")
        downloads = download_uris or {}
        return tuple(events.PackagedRendition(
            rendition=r.rendition, media_type=r.media_type, width=r.width,
            height=r.height, bandwidth=r.variant_bandwidth, codecs=r.codecs,
            playlist_uri=f"{prefix}/{r.playlist_path}",
            download_uri=downloads.get(r.source if r.media_type == "AUDIO" else r.rendition),
            segment_count=r.segment_count,
        ) for r in self.renditions)


def content_type(path: str | Path) -> str:
    return CONTENT_TYPES.get(PurePosixPath(str(path)).suffix.lower(), "application/octet-stream")


def cache_control(path: str | Path) -> str:
    return MANIFEST_CACHE if PurePosixPath(str(path)).suffix.lower() in _SHORT_LIVED else IMMUTABLE


def package_renditions(renditions: list[RenditionInput], out_dir: Path, *,
                       segment_seconds: float = 4.0,
                       text_tracks: Sequence[TextTrackInput] = (),
                       run_ffmpeg: cmaf.FfmpegRunner | None = None) -> PackageResult:
    """Cut the renditions into CMAF segments in `out_dir` (new or empty) and write every
    manifest. Raises `PackagingFailed` for inputs that cannot make a valid package and
    `cmaf.SegmentingFailed` when ffmpeg fails.

    `run_ffmpeg` runs the one ffmpeg command (args without binary or global options);
    by default `cmaf.blocking_runner` with the configured ffmpeg (`REELFLOW_FFMPEG`).
    """
    started = time.monotonic()
    chosen = select_tracks(renditions)
    if out_dir.exists() and any(out_dir.iterdir()):
        # Stale segments from an earlier run would be measured as ours: insist on a clean dir.
        # The path for the operator's log; the message may become a failure reason.
        log.error("package directory %s is not empty", out_dir)
        raise FileExistsError("the package directory is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)
    run = run_ffmpeg or cmaf.blocking_runner()
    tracks = cmaf.cut_tracks(chosen.sources, out_dir, segment_seconds, run)
    return assemble(chosen, tracks, out_dir, segment_seconds, started, text_tracks)


@dataclass(frozen=True)
class Selection:
    """Which renditions become stream tracks: the video rungs (lowest first) and the one
    audio track's source; the rest are downloads (`skipped`)."""

    rungs: tuple[RenditionInput, ...]
    audio_from: RenditionInput | None
    sources: tuple[cmaf.TrackSource, ...]
    skipped: tuple[str, ...]


def select_tracks(renditions: list[RenditionInput]) -> Selection:
    rungs = sorted((r for r in renditions if r.media_type == "VIDEO"),
                   key=lambda r: (r.height or 0, r.bitrate, r.name))
    audio_input = next((r for r in renditions
                        if r.media_type == "AUDIO" and r.name == AUDIO_RENDITION), None)
    if not rungs and audio_input is None:
        raise PackagingFailed("no video or audio rendition to package")
    used = {r.name for r in rungs} | ({audio_input.name} if audio_input else set())
    skipped = tuple(sorted(r.name for r in renditions if r.name not in used))

    sources = [cmaf.TrackSource(r.name, r.path, "video") for r in rungs]
    audio_from = audio_input
    if audio_from is None and rungs and "soun" in cmaf.stream_kinds(rungs[0].path):
        audio_from = rungs[0]  # no separate audio output: the lowest rung carries the same
    if audio_from is not None:
        sources.append(cmaf.TrackSource(AUDIO_RENDITION, audio_from.path, "audio"))
    return Selection(tuple(rungs), audio_from, tuple(sources), skipped)


def assemble(chosen: Selection, tracks: list[cmaf.CutTrack], out_dir: Path,
             segment_seconds: float, started: float,
             text_tracks: Sequence[TextTrackInput] = (), *,
             write_manifests: bool = True) -> PackageResult:
    """The package's result from its measured tracks; the manifests are written here
    unless another tool wrote them (the encrypted package's are Shaka Packager's)."""
    by_name = {r.name: r for r in chosen.rungs}
    audio_from = chosen.audio_from
    video = [_video_rendition(t, by_name[t.name]) for t in tracks if t.kind == "video"]
    _check_alignment(video)
    audio = [_audio_rendition(t, audio_from) for t in tracks if t.kind == "audio" and audio_from]
    texts = _place_text_tracks(text_tracks, out_dir)
    presentation = playlists.Presentation(tuple(video + audio), tuple(texts))
    if write_manifests:
        _write_manifests(presentation, out_dir)

    audio_peak = audio[0].peak_bandwidth if audio else 0
    packaged = [_packaged(r, tracks, r.peak_bandwidth + audio_peak, r.name) for r in video]
    packaged += [_packaged(r, tracks, r.peak_bandwidth, audio_from.name)
                 for r in audio if audio_from]
    files = _list_files(out_dir)
    return PackageResult(
        out_dir=out_dir, master_playlist="master.m3u8", dash_manifest="manifest.mpd",
        duration_seconds=round(presentation.duration_seconds, 6),
        segment_seconds=segment_seconds,
        total_bytes=sum(f.size_bytes for f in files), files=files, renditions=tuple(packaged),
        skipped=chosen.skipped, elapsed_seconds=round(time.monotonic() - started, 3))


def _segments(track: cmaf.CutTrack) -> tuple[playlists.Segment, ...]:
    return tuple(playlists.Segment(s.path.name, s.decode_time, s.duration, s.size_bytes)
                 for s in track.segments)


def _iframes(track: cmaf.CutTrack) -> tuple[playlists.IFrame, ...]:
    keyframes = [(s.path.name, f) for s in track.segments for f in s.fragments
                 if f.starts_with_sync]
    end = track.segments[-1].decode_time + track.segments[-1].duration
    starts = [f.decode_time for _, f in keyframes[1:]] + [end]
    return tuple(playlists.IFrame(uri, f.offset, f.first_sample_end - f.offset,
                                  next_start - f.decode_time)
                 for (uri, f), next_start in zip(keyframes, starts, strict=True))


def _bandwidths(spans: list[tuple[float, int]]) -> tuple[int, int]:
    target = playlists.target_duration([seconds for seconds, _ in spans])
    return playlists.peak_bitrate(spans, target), playlists.average_bitrate(spans)


def _video_rendition(track: cmaf.CutTrack, source: RenditionInput) -> playlists.Rendition:
    for segment in track.segments:
        if not segment.fragments[0].starts_with_sync:
            raise PackagingFailed(f"{track.name}: {segment.path.name} does not start on a "
                                  "keyframe; the rung's GOPs do not fit the segment length")
    segments = _segments(track)
    timescale = track.header.timescale
    peak, average = _bandwidths([(s.duration / timescale, s.size_bytes) for s in segments])
    iframes = _iframes(track)
    iframe_peak, _ = _bandwidths([(f.duration / timescale, f.length) for f in iframes])
    declared = _codec_part(source.codecs, _VIDEO_CODECS)
    return playlists.Rendition(
        name=track.name, kind="video", codecs=track.header.avc_codec or declared or "avc1",
        timescale=timescale, segments=segments, peak_bandwidth=peak, average_bandwidth=average,
        width=source.width, height=source.height, frame_rate=source.frame_rate,
        iframes=iframes, iframe_bandwidth=iframe_peak)


def _audio_rendition(track: cmaf.CutTrack, source: RenditionInput) -> playlists.Rendition:
    segments = _segments(track)
    timescale = track.header.timescale
    peak, average = _bandwidths([(s.duration / timescale, s.size_bytes) for s in segments])
    codecs = _codec_part(source.codecs, _AUDIO_CODECS) or (
        "mp4a.40.2" if track.header.sample_entry == "mp4a" else track.header.sample_entry)
    return playlists.Rendition(
        name=track.name, kind="audio", codecs=codecs, timescale=timescale, segments=segments,
        peak_bandwidth=peak, average_bandwidth=average, channels=track.header.channels,
        sample_rate=track.header.sample_rate)


_VIDEO_CODECS = ("avc1", "avc3", "hvc1", "hev1", "av01", "vp09", "dvh1", "dvhe")
_AUDIO_CODECS = ("mp4a", "ac-3", "ec-3", "opus", "flac", "fLaC")


def _codec_part(codecs: str, prefixes: tuple[str, ...]) -> str:
    """The one codec of a kind from an RFC 6381 list such as `avc1.4d401f,mp4a.40.2`."""
    return next((c.strip() for c in codecs.split(",") if c.strip().startswith(prefixes)), "")


def _check_alignment(video: list[playlists.Rendition]) -> None:
    """Every rung must cut at the same instants, or players cannot switch between them."""
    def bounds(r: playlists.Rendition) -> list[float]:
        return [r.seconds(s.start) for s in r.segments] + [r.seconds(
            r.segments[-1].start + r.segments[-1].duration)]

    if not video:
        return  # an audio-only package: one track, nothing to align
    reference = bounds(video[0])
    for rendition in video[1:]:
        other = bounds(rendition)
        if len(other) != len(reference) or any(
                abs(a - b) > _ALIGNMENT_TOLERANCE_S for a, b in zip(reference, other, strict=True)):
            raise PackagingFailed(f"segments of {rendition.name} do not align with "
                                  f"{video[0].name}: {other} vs {reference}")


def _place_text_tracks(tracks: Sequence[TextTrackInput],
                       out_dir: Path) -> list[playlists.TextTrack]:
    placed: list[playlists.TextTrack] = []
    for track in tracks:
        stem = track.language
        taken = {t.uri for t in placed}
        suffix = 2
        while f"subtitles/{stem}.vtt" in taken:
            stem, suffix = f"{track.language}-{suffix}", suffix + 1
        target = out_dir / "subtitles" / f"{stem}.vtt"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(track.path, target)
        placed.append(playlists.TextTrack(track.language, track.name,
                                          f"subtitles/{stem}.vtt", track.default))
    return placed


def _write_manifests(presentation: playlists.Presentation, out_dir: Path) -> None:
    for rendition in presentation.renditions:
        folder = out_dir / rendition.name
        (folder / playlists.MEDIA_PLAYLIST).write_text(playlists.media_playlist(rendition))
        if rendition.iframes:
            (folder / playlists.IFRAME_PLAYLIST).write_text(playlists.iframe_playlist(rendition))
    for track in presentation.text_tracks:
        (out_dir / track.playlist_uri).write_text(
            playlists.subtitle_playlist(track, presentation.duration_seconds))
    (out_dir / "master.m3u8").write_text(playlists.master_playlist(presentation))
    (out_dir / "manifest.mpd").write_text(playlists.dash_manifest(presentation))


def _packaged(rendition: playlists.Rendition, tracks: list[cmaf.CutTrack],
              variant_bandwidth: int, source: str) -> PackagedRendition:
    track = next(t for t in tracks if t.name == rendition.name)
    size = track.init_path.stat().st_size + sum(s.size_bytes for s in track.segments)
    return PackagedRendition(
        rendition=rendition.name, media_type=rendition.kind.upper(), codecs=rendition.codecs,
        bandwidth=rendition.peak_bandwidth, average_bandwidth=rendition.average_bandwidth,
        variant_bandwidth=variant_bandwidth, segment_count=len(rendition.segments),
        segment_bytes=size, duration_seconds=round(rendition.duration_seconds, 6),
        playlist_path=f"{rendition.name}/{playlists.MEDIA_PLAYLIST}",
        iframe_playlist_path=(f"{rendition.name}/{playlists.IFRAME_PLAYLIST}"
                              if rendition.iframes else None),
        source=source, width=rendition.width, height=rendition.height,
        frame_rate=rendition.frame_rate, channels=rendition.channels,
        sample_rate=rendition.sample_rate)


def _list_files(out_dir: Path) -> tuple[PackagedFile, ...]:
    files = []
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        relative = path.relative_to(out_dir).as_posix()
        if any(part.startswith(".") for part in relative.split("/")):
            continue  # scratch files of the muxer
        files.append(PackagedFile(relative, path.stat().st_size, content_type(relative),
                                  cache_control(relative)))
    return tuple(files)
