"""`metadata.json` of a packaged video attempt, shaped like seed 002 §2.6. Pure.

Same sections as the seed (`job_id`, timestamps, `user_metadata`, `source`, `outputs`,
`compression_ratio`, `quality_metrics`), with our layout's paths: object keys relative to
the bucket, renditions under `renditions/{video_id}/{attempt}/` and the streaming package
under `packages/{video_id}/{attempt}/`. `outputs.transcription` is there once the captions
stage reported (`transcription()`); `package` is our addition (manifests, totals).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from schemas.events import MediaType, RenditionDone, VideoUploaded
from services.packager.package import PackagedRendition, PackageResult

_THUMB_POSITION = re.compile(r"(\d{1,3})(?:\.\w+)?$")


def build_metadata(*, video_id: str, attempt: int,
                   rendition_events: Mapping[str, RenditionDone],
                   package: PackageResult, package_prefix: str, completed_at: datetime,
                   upload: VideoUploaded | None = None,
                   captions: RenditionDone | None = None,
                   captions_words: int = 0) -> dict[str, Any]:
    """The metadata document. `rendition_events`: the attempt's `rendition-done` events by
    rendition name; `package_prefix`: the package's key prefix (no bucket, no slash at the
    end); `upload`: the `video-uploaded` event when the caller has it (source facts, user
    metadata), else those sections come from what `rendition-done` repeats.
    """
    events = dict(rendition_events)
    any_event = next(iter(events.values()), None)
    created_at = _instant((any_event.uploaded_at if any_event else None)
                          or (upload.occurred_at if upload else None))
    completed = _instant(completed_at)
    packaged = {r.rendition: r for r in package.renditions}
    source = _source(upload, any_event)
    outputs: dict[str, Any] = {}
    for name, event in sorted(events.items(), key=lambda kv: _ladder_order(kv[1])):
        outputs[name] = _output(event, packaged.get(name), package_prefix)
    if captions is not None:
        outputs["transcription"] = transcription(captions, captions_words)
    return {
        "job_id": video_id,
        "video_id": video_id,
        "attempt": attempt,
        "created_at": _iso(created_at),
        "completed_at": _iso(completed),
        "processing_time_seconds": (round((completed - created_at).total_seconds(), 3)
                                    if created_at and completed else None),
        "status": "completed",
        "user_metadata": _user_metadata(upload),
        "source": source,
        "outputs": outputs,
        "package": {
            "path": package_prefix,
            "hls_master_path": f"{package_prefix}/{package.master_playlist}",
            "dash_manifest_path": f"{package_prefix}/{package.dash_manifest}",
            "duration_seconds": package.duration_seconds,
            "segment_duration_seconds": package.segment_seconds,
            "total_size_bytes": package.total_bytes,
            "file_count": len(package.files),
        },
        "compression_ratio": _compression(events, source.get("size_bytes")),
        "quality_metrics": _quality(events),
    }


def metadata_json(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def transcription(captions: RenditionDone, word_count: int) -> dict[str, Any]:
    """The seed's `transcription` section from a `captions-done` event."""
    files = {a.name.rsplit(".", 1)[-1]: a for a in captions.artifacts}
    section: dict[str, Any] = {
        kind: {"path": _key(files[kind].uri), "size_bytes": files[kind].size_bytes,
               "sha256": files[kind].sha256}
        for kind in ("txt", "srt", "vtt", "json") if kind in files}
    if "txt" in section:
        section["text"] = {**section.pop("txt"), "word_count": word_count,
                           "language": captions.language}
    return {**section, "outcome": captions.captions_outcome,
            "language": captions.language,
            "language_probability": captions.language_probability,
            "processing_time_seconds": captions.encode_seconds,
            "whisper_model": captions.profile}


def _output(event: RenditionDone, packaged: PackagedRendition | None,
            package_prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {"path": _key(event.uri), "size_bytes": event.size_bytes}
    if event.media_type is MediaType.IMAGES:
        return _thumbnails(event)
    if event.width and event.height:
        out["resolution"] = f"{event.width}x{event.height}"
    out["bitrate"] = event.bitrate
    if event.codecs:
        out["codecs"] = event.codecs
    if event.tone_mapped_from:  # lineage: this SDR picture came from an HDR source
        out["tone_mapped_from"] = event.tone_mapped_from
    if event.media_type is MediaType.AUDIO:
        out["duration_seconds"] = event.duration_seconds
        if packaged and packaged.sample_rate:
            out["sample_rate"] = packaged.sample_rate
    out["processing_time_seconds"] = event.encode_seconds
    if packaged is not None:
        out["segments"] = {
            "count": packaged.segment_count,
            "duration_seconds": packaged.duration_seconds / max(packaged.segment_count, 1),
            "total_size_bytes": packaged.segment_bytes,
            "bandwidth": packaged.bandwidth,
            "average_bandwidth": packaged.average_bandwidth,
            "playlist_path": f"{package_prefix}/{packaged.playlist_path}",
        }
        if packaged.iframe_playlist_path:
            out["segments"]["iframe_playlist_path"] = (
                f"{package_prefix}/{packaged.iframe_playlist_path}")
    return out


def _thumbnails(event: RenditionDone) -> dict[str, Any]:
    generated = []
    for artifact in event.artifacts:
        entry: dict[str, Any] = {"name": artifact.name, "path": _key(artifact.uri),
                                 "size_bytes": artifact.size_bytes}
        position = _THUMB_POSITION.search(artifact.name)
        if position and int(position.group(1)) <= 100:
            entry["position_percent"] = int(position.group(1))
        generated.append(entry)
    return {"primary": {"path": _key(event.uri), "size_bytes": event.size_bytes},
            "auto_generated": generated}


def _source(upload: VideoUploaded | None, event: RenditionDone | None) -> dict[str, Any]:
    # What ingest declared, else what transcode measured (rendition-done v2).
    info = (upload.source_info if upload else None) or (event.source_info if event else None)
    video = info.video if info else None
    audio = info.audio if info else None
    source: dict[str, Any] = {
        "filename": upload.source_filename if upload else None,
        "path": _key(upload.source_uri) if upload and upload.source_uri else None,
        "size_bytes": (upload.source_size_bytes if upload else None)
        or (event.source_size_bytes if event else None),
        "format": info.container if info else None,
        "codec": video.codec if video else None,
        "width": video.width if video else None,
        "height": video.height if video else None,
        "duration_seconds": info.duration_seconds if info else None,
        "bitrate": info.bitrate if info else None,
        "fps": video.fps if video else None,
        "audio_codec": audio.codec if audio else None,
        "audio_bitrate": audio.bitrate if audio else None,
        "audio_sample_rate": audio.sample_rate if audio else None,
    }
    if video and video.width and video.height:
        source["resolution"] = f"{video.width}x{video.height}"
    return {k: v for k, v in source.items() if v is not None}


def _user_metadata(upload: VideoUploaded | None) -> dict[str, Any]:
    try:
        value = json.loads((upload.user_metadata_json if upload else None) or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _compression(events: Mapping[str, RenditionDone],
                 source_bytes: int | None) -> dict[str, float]:
    """Source size over each rung's size; `total_saved_percent` compares the top rung."""
    rungs = {n: e for n, e in events.items()
             if e.media_type is MediaType.VIDEO and e.size_bytes}
    if not source_bytes or not rungs:
        return {}
    ratios: dict[str, float] = {n: round(source_bytes / e.size_bytes, 2)
                                for n, e in sorted(rungs.items(), key=lambda kv:
                                                   _ladder_order(kv[1]))}
    top = max(rungs.values(), key=_ladder_order)
    ratios["total_saved_percent"] = round(100 * (1 - top.size_bytes / source_bytes), 1)
    return ratios


def _quality(events: Mapping[str, RenditionDone]) -> dict[str, dict[str, float]]:
    metrics = {}
    for name, event in sorted(events.items(), key=lambda kv: _ladder_order(kv[1])):
        quality = event.quality
        if quality is None:
            continue
        scores = {k: v for k, v in (("vmaf", quality.vmaf), ("psnr", quality.psnr),
                                    ("ssim", quality.ssim)) if v is not None}
        if scores:
            metrics[name] = scores
    return metrics


_KINDS = {MediaType.VIDEO: 0, MediaType.AUDIO: 1, MediaType.IMAGES: 2}


def _ladder_order(event: RenditionDone) -> tuple[int, int, str]:
    return (_KINDS.get(event.media_type, 3), event.height or 0, event.rendition)


def _key(uri: str) -> str:
    """`s3://bucket/renditions/x/1/360p.mp4` -> `renditions/x/1/360p.mp4`."""
    if uri.startswith("s3://"):
        return uri[5:].split("/", 1)[1] if "/" in uri[5:] else ""
    return uri


def _instant(value: datetime | int | float | None) -> datetime | None:
    """Avro timestamp-millis arrive as aware datetimes (fastavro) or as epoch millis."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value / 1000, UTC)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
