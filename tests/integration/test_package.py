"""Packaging real media: a 2-rung H.264/AAC ladder with an `audio` rendition, cut by the real
ffmpeg and checked independently with ffprobe, the files on disk and the manifests' text.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.events import MediaType, Quality, RenditionDone
from services.packager import playlists
from services.packager.metadata import build_metadata, metadata_json
from services.packager.package import (
    PackageResult,
    PackagingFailed,
    RenditionInput,
    TextTrackInput,
    package_renditions,
)
from tests.tools import require

pytestmark = pytest.mark.integration

FFPROBE = shutil.which("ffprobe") or "/usr/bin/ffprobe"
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
#: A package's files' media types, written down from the formats' registrations (RFC 8216
#: for HLS, ISO/IEC 23009-1 for DASH and its segments, RFC 4337 / 6381 for MP4, W3C WebVTT),
#: not taken from the packager.
MEDIA_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".json": "application/json",
}
#: The README's caching: manifests for 60 s, everything else (attempt-scoped) for good.
MANIFEST_CACHING = "public, max-age=60"
FOREVER = "public, max-age=31536000, immutable"
FPS = 25
SECONDS = 12
LADDER = ((640, 360, "500k"), (1280, 720, "1200k"))


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def encode_rung(out: Path, width: int, height: int, bitrate: str, seconds: int, *,
                gop_seconds: int = 2, audio: bool = True) -> None:
    """A transcode-like rung: H.264 with B-frames, fixed 2 s GOPs, AAC, faststart."""
    gop = gop_seconds * FPS
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={FPS}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-b:v", bitrate, "-pix_fmt", "yuv420p",
             "-force_key_frames", f"expr:gte(t,n_forced*{gop_seconds})", "-sc_threshold", "0",
             "-g", str(gop), "-keyint_min", str(gop), "-r", str(FPS)]
    args += ["-c:a", "aac", "-b:a", "96k", "-ac", "2"] if audio else ["-an"]
    subprocess.run([*args, "-movflags", "+faststart", str(out)], check=True)


def make_test_ladder(directory: Path, seconds: int = SECONDS,
                     ladder: tuple[tuple[int, int, str], ...] = LADDER,
                     audio_rendition: bool = True) -> list[RenditionInput]:
    """Rung MP4s (+ an AAC-only `audio.m4a`) as transcode leaves them, with their metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    inputs = []
    for width, height, bitrate in ladder:
        path = directory / f"{height}p.mp4"
        encode_rung(path, width, height, bitrate, seconds)
        inputs.append(RenditionInput(f"{height}p", path, "VIDEO", "avc1.64001f,mp4a.40.2",
                                     width, height, float(FPS), int(bitrate[:-1]) * 1000))
    if audio_rendition:
        path = directory / "audio.m4a"
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                        "-f", "lavfi", "-i", f"sine=frequency=660:sample_rate=48000:"
                        f"duration={seconds}", "-c:a", "aac", "-b:a", "128k", "-ac", "2",
                        "-movflags", "+faststart", str(path)], check=True)
        inputs.append(RenditionInput("audio", path, "AUDIO", "mp4a.40.2", bitrate=128000))
    return inputs


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> list[RenditionInput]:
    require(None if Path(FFPROBE).exists() else
            f"ffprobe is not installed at {FFPROBE} (Debian package `ffmpeg`)")
    return make_test_ladder(tmp_path_factory.mktemp("ladder"))


@pytest.fixture(scope="module")
def packaged(ladder: list[RenditionInput],
             tmp_path_factory: pytest.TempPathFactory) -> PackageResult:
    vtt = tmp_path_factory.mktemp("text") / "en.vtt"
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:03.000\nHello\n")
    return package_renditions(ladder, tmp_path_factory.mktemp("pkg") / "package",
                              text_tracks=[TextTrackInput("en", "English", vtt)])


def probe_packets(init: Path, data: bytes, *,
                  truncated: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Decode init + media bytes with ffprobe: {"packets": [...], "frames": [...]}. Any
    complaint fails, except a cut-short `mdat` when we asked for a byte range (`truncated`).
    """
    done = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries",
         "packet=dts_time,duration_time,flags:frame=pict_type,key_frame",
         "-of", "json", "-i", "pipe:0"],
        input=init.read_bytes() + data, capture_output=True, check=True)
    complaints = [line for line in done.stderr.decode().splitlines()
                  if not (truncated and line.endswith("partial file"))]
    assert complaints == [], complaints
    found: dict[str, list[dict[str, Any]]] = {"packets": [], "frames": []}
    for entry in json.loads(done.stdout).get("packets_and_frames", []):
        found[entry["type"] + "s"].append(entry)
    return found


def uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def extinfs(playlist: str) -> list[float]:
    return [float(m) for m in re.findall(r"#EXTINF:([\d.]+),", playlist)]


def stream_inf(master: str) -> dict[str, dict[str, str]]:
    lines = master.splitlines()
    found = {}
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))
            found[lines[i + 1].split("/")[0]] = {k: v.strip('"') for k, v in attrs.items()}
    return found


def test_every_segment_decodes(packaged: PackageResult) -> None:
    root = packaged.out_dir
    for rendition in packaged.renditions:
        folder = root / rendition.rendition
        frames = 0
        for uri in uris((root / rendition.playlist_path).read_text()):
            result = probe_packets(folder / "init.mp4", (folder / uri).read_bytes())
            assert result["frames"], f"{rendition.rendition}/{uri} decodes to nothing"
            frames += len(result["frames"])
            if rendition.media_type == "VIDEO":
                assert result["frames"][0]["key_frame"] == 1
        if rendition.media_type == "VIDEO":
            assert frames == SECONDS * FPS


def test_segments_align_across_rungs(packaged: PackageResult) -> None:
    root = packaged.out_dir
    rungs = [r for r in packaged.renditions if r.media_type == "VIDEO"]
    durations = [extinfs((root / r.playlist_path).read_text()) for r in rungs]
    assert durations[0] == [4.0, 4.0, 4.0]
    assert all(d == durations[0] for d in durations)
    assert {r.segment_count for r in rungs} == {3}
    mpd = ET.fromstring((root / "manifest.mpd").read_text())
    timelines = [[(s.get("t"), s.get("d"), s.get("r")) for s in rep.iter(f"{{{NS['d']}}}S")]
                 for rep in mpd.findall(".//d:AdaptationSet[@contentType='video']/"
                                        "d:Representation", NS)]
    assert len(timelines) == 2 and timelines[0] == timelines[1]


def test_manifests_match_the_files_on_disk(packaged: PackageResult) -> None:
    root = packaged.out_dir
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {f.path for f in packaged.files} == on_disk
    assert packaged.total_bytes == sum((root / p).stat().st_size for p in on_disk)
    referenced = {"master.m3u8", "manifest.mpd"}
    master = (root / "master.m3u8").read_text()
    for playlist in uris(master) + re.findall(r'URI="([^"]+)"', master):
        referenced.add(playlist)
        folder = playlist.rsplit("/", 1)[0]
        text = (root / playlist).read_text()
        referenced.update(f"{folder}/{u}" for u in uris(text))
        referenced.update(f"{folder}/{u}" for u in re.findall(r'URI="([^"]+)"', text))
    dash: set[str] = set()
    mpd = ET.fromstring((root / "manifest.mpd").read_text())
    for template in mpd.iter(f"{{{NS['d']}}}SegmentTemplate"):
        dash.add(template.get("initialization", ""))
        count = sum(int(s.get("r", "0")) + 1 for s in template.iter(f"{{{NS['d']}}}S"))
        media = template.get("media", "")
        dash.update(media.replace("$Number%05d$", f"{n:05d}") for n in range(1, count + 1))
    dash.update(b.text or "" for b in mpd.iter(f"{{{NS['d']}}}BaseURL"))
    assert dash <= referenced, "DASH must reference the very files HLS does"
    assert referenced == on_disk
    for f in packaged.files:
        assert f.content_type == MEDIA_TYPES[Path(f.path).suffix]
        assert f.cache_control == (MANIFEST_CACHING if f.path.endswith((".m3u8", ".mpd"))
                                   else FOREVER)


def track_end(path: Path, kind: str) -> float:
    """Decode-time end of a source track, read from the unfragmented input's sample table."""
    done = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v:0" if kind == "VIDEO" else "a:0",
         "-show_entries", "packet=dts_time,duration_time", "-of", "json", str(path)],
        capture_output=True, check=True)
    packets = json.loads(done.stdout)["packets"]
    return max(float(p["dts_time"]) + float(p["duration_time"]) for p in packets)


def spec_average_bitrate(spans: list[tuple[float, int]]) -> float:
    """RFC 8216bis 4.4.6.2 AVERAGE-BANDWIDTH: all segments' bits over the playlist's duration."""
    return sum(size for _, size in spans) * 8 / sum(seconds for seconds, _ in spans)


def spec_peak_bitrate(spans: list[tuple[float, int]], target: int) -> float:
    """RFC 8216bis 4.4.6.2 peak segment bit rate: the largest bit rate of any contiguous set
    of segments whose total duration is between 0.5 and 1.5 times the target duration."""
    rates = []
    for first in range(len(spans)):
        for last in range(first, len(spans)):
            seconds = sum(s for s, _ in spans[first:last + 1])
            if 0.5 * target <= seconds <= 1.5 * target:
                rates.append(sum(b for _, b in spans[first:last + 1]) * 8 / seconds)
    assert rates, f"no run of segments lasts 0.5-1.5 x {target} s: {spans}"
    return max(rates)


def test_bandwidths_equal_independent_measurements(packaged: PackageResult,
                                                   ladder: list[RenditionInput]) -> None:
    """Durations from ffprobe (segment starts, the source's end) and sizes from disk."""
    root = packaged.out_dir
    sources = {r.name: r.path for r in ladder}
    measured: dict[str, tuple[int, int]] = {}
    for rendition in packaged.renditions:
        folder = root / rendition.rendition
        names = uris((root / rendition.playlist_path).read_text())
        starts = [float(probe_packets(folder / "init.mp4", (folder / n).read_bytes())
                        ["packets"][0]["dts_time"]) for n in names]
        bounds = [*starts, track_end(sources[rendition.source], rendition.media_type)]
        spans = [(end - start, (folder / n).stat().st_size)
                 for n, start, end in zip(names, bounds, bounds[1:], strict=False)]
        target = math.ceil(round(max(s for s, _ in spans), 6))
        measured[rendition.rendition] = (spec_peak_bitrate(spans, target),
                                         spec_average_bitrate(spans))
        assert (rendition.bandwidth, rendition.average_bandwidth) == pytest.approx(
            measured[rendition.rendition], rel=1e-4)
    audio_peak, audio_average = measured["audio"]
    variants = stream_inf((root / "master.m3u8").read_text())
    for name in ("360p", "720p"):
        peak, average = measured[name]
        assert int(variants[name]["BANDWIDTH"]) == pytest.approx(peak + audio_peak, rel=1e-4)
        assert int(variants[name]["AVERAGE-BANDWIDTH"]) == pytest.approx(
            average + audio_average, rel=1e-4)
        assert variants[name]["AUDIO"] == "aud" and variants[name]["SUBTITLES"] == "subs"
    mpd = ET.fromstring((root / "manifest.mpd").read_text())
    for rep in mpd.iter(f"{{{NS['d']}}}Representation"):
        if rep.get("id") in measured:
            assert int(rep.get("bandwidth", "0")) == pytest.approx(measured[rep.get("id", "")][0],
                                                                   rel=1e-4)


def test_iframe_byte_ranges_point_at_keyframes(packaged: PackageResult) -> None:
    root = packaged.out_dir
    for rendition in (r for r in packaged.renditions if r.media_type == "VIDEO"):
        assert rendition.iframe_playlist_path is not None
        text = (root / rendition.iframe_playlist_path).read_text()
        entries = re.findall(r"#EXTINF:([\d.]+),\n#EXT-X-BYTERANGE:(\d+)@(\d+)\n(\S+)", text)
        assert len(entries) == SECONDS // 2  # one per 2 s GOP
        assert sum(float(e[0]) for e in entries) == pytest.approx(SECONDS)
        folder = root / rendition.rendition
        for _, length, offset, uri in entries:
            data = (folder / uri).read_bytes()[int(offset): int(offset) + int(length)]
            assert data[4:8] == b"moof"
            frames = probe_packets(folder / "init.mp4", data, truncated=True)["frames"]
            assert frames[0]["key_frame"] == 1 and frames[0]["pict_type"] == "I"


def test_subtitles_are_placed_and_referenced(packaged: PackageResult) -> None:
    root = packaged.out_dir
    assert (root / "subtitles/en.vtt").read_text().startswith("WEBVTT")
    assert '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs"' in (root / "master.m3u8").read_text()
    assert uris((root / "subtitles/en.m3u8").read_text()) == ["en.vtt"]


def test_metadata_document_describes_the_package(packaged: PackageResult,
                                                 ladder: list[RenditionInput]) -> None:
    events = {r.name: RenditionDone(
        event_id=f"e-{r.name}", video_id="v1", occurred_at=datetime(2025, 11, 18, tzinfo=UTC),
        expected_renditions=tuple(x.name for x in ladder),
        rendition=r.name, media_type=MediaType(r.media_type), width=r.width,
        height=r.height, bitrate=r.bitrate, codecs=r.codecs,
        uri=f"s3://reelflow/renditions/v1/1/{r.path.name}",
        size_bytes=r.path.stat().st_size, encode_seconds=1.5,
        duration_seconds=float(SECONDS), source_size_bytes=10_000_000,
        uploaded_at=datetime(2025, 11, 18, 14, 30, 22, tzinfo=UTC),
        quality=Quality(vmaf=93.1, psnr=None, ssim=0.97))
              for r in ladder}
    doc = build_metadata(video_id="v1", attempt=1, rendition_events=events, package=packaged,
                         package_prefix="packages/v1/1",
                         completed_at=datetime(2025, 11, 18, 14, 31, 0, tzinfo=UTC))
    assert json.loads(metadata_json(doc)) == doc
    assert doc["created_at"] == "2025-11-18T14:30:22Z"
    assert doc["processing_time_seconds"] == 38.0
    assert list(doc["outputs"]) == ["360p", "720p", "audio"]
    out = doc["outputs"]["720p"]
    assert out["path"] == "renditions/v1/1/720p.mp4" and out["resolution"] == "1280x720"
    assert out["segments"]["count"] == 3
    assert out["segments"]["playlist_path"] == "packages/v1/1/720p/playlist.m3u8"
    assert doc["outputs"]["audio"]["sample_rate"] == 48000
    assert doc["package"]["hls_master_path"] == "packages/v1/1/master.m3u8"
    assert doc["quality_metrics"]["360p"] == {"vmaf": 93.1, "ssim": 0.97}
    assert set(doc["compression_ratio"]) == {"360p", "720p", "total_saved_percent"}


def test_audio_comes_from_the_lowest_rung_without_an_audio_rendition(
        ladder: list[RenditionInput], tmp_path: Path) -> None:
    rungs = [r for r in ladder if r.media_type == "VIDEO"]
    result = package_renditions(list(reversed(rungs)), tmp_path / "pkg")
    audio = [r for r in result.renditions if r.media_type == "AUDIO"]
    assert [(a.rendition, a.source) for a in audio] == [("audio", "360p")]
    assert 'GROUP-ID="aud"' in (tmp_path / "pkg/master.m3u8").read_text()
    probe_packets(tmp_path / "pkg/audio/init.mp4", (tmp_path / "pkg/audio/seg_00001.m4s")
                  .read_bytes())


def test_silent_ladder_has_no_audio_group(ladder: list[RenditionInput], tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-nostdin", "-y", "-i",
                    str(ladder[0].path), "-an", "-c", "copy", str(silent)], check=True)
    rung = RenditionInput("360p", silent, "VIDEO", "avc1.64001f", 640, 360, 25.0, 500_000)
    thumbs = RenditionInput("thumbnails", silent, "IMAGES")
    result = package_renditions([rung, thumbs], tmp_path / "pkg")
    assert [r.media_type for r in result.renditions] == ["VIDEO"]
    assert result.skipped == ("thumbnails",)
    master = (tmp_path / "pkg/master.m3u8").read_text()
    assert "AUDIO" not in master
    assert 'CODECS="avc1.64001e"' in master  # measured from avcC; the declared 64001f is wrong


def test_an_audio_only_set_packages_as_one_audio_variant(
        ladder: list[RenditionInput], tmp_path: Path) -> None:
    audio = next(r for r in ladder if r.name == "audio")
    mp3 = RenditionInput("mp3", audio.path, "AUDIO", "mp3", bitrate=192000)
    result = package_renditions([audio, mp3], tmp_path / "pkg")
    assert [(r.rendition, r.media_type) for r in result.renditions] == [("audio", "AUDIO")]
    assert result.skipped == ("mp3",)
    master = (tmp_path / "pkg/master.m3u8").read_text()
    variants = stream_inf(master)
    assert list(variants) == ["audio"]
    assert variants["audio"]["CODECS"] == "mp4a.40.2"
    assert "RESOLUTION" not in variants["audio"] and "#EXT-X-MEDIA" not in master
    playlist = (tmp_path / "pkg/audio" / playlists.MEDIA_PLAYLIST).read_text()
    assert math.isclose(sum(extinfs(playlist)), SECONDS, abs_tol=0.1)
    mpd = ET.parse(tmp_path / "pkg/manifest.mpd").getroot()
    sets = mpd.findall("d:Period/d:AdaptationSet", NS)
    assert [a.get("contentType") for a in sets] == ["audio"]
    found = probe_packets(tmp_path / "pkg/audio/init.mp4",
                          b"".join(p.read_bytes() for p in
                                   sorted((tmp_path / "pkg/audio").glob("seg_*.m4s"))))
    assert math.isclose(float(found["packets"][-1]["dts_time"]), SECONDS, abs_tol=0.1)


def test_a_set_without_video_or_audio_is_refused(tmp_path: Path) -> None:
    thumbs = RenditionInput("thumbnails", tmp_path / "sheet.jpg", "IMAGES")
    with pytest.raises(PackagingFailed, match="no video or audio"):
        package_renditions([thumbs], tmp_path / "pkg")


def test_rungs_with_other_gops_are_refused(ladder: list[RenditionInput], tmp_path: Path) -> None:
    odd = tmp_path / "180p.mp4"
    encode_rung(odd, 320, 180, "200k", SECONDS, gop_seconds=3)
    bad = RenditionInput("180p", odd, "VIDEO", "", 320, 180, 25.0, 200_000)
    with pytest.raises(PackagingFailed, match="align"):
        package_renditions([bad, ladder[1]], tmp_path / "pkg")


def test_a_used_directory_is_refused(ladder: list[RenditionInput], tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "stale.m4s").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        package_renditions(ladder, tmp_path / "pkg")
