"""`metadata.json` of a packaged video attempt, shaped like seed 002 §2.6. Pure.

Same sections as the seed (`job_id`, timestamps, `user_metadata`, `source`, `outputs`,
`compression_ratio`, `quality_metrics`), with our layout's paths: object keys relative to
the bucket, renditions under `renditions/{video_id}/{attempt}/` and the streaming package
under `packages/{video_id}/{attempt}/`. Facts the pipeline does not produce (transcription)
are left out rather than invented; `package` is our addition (manifests, totals).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.packager.package import PackagedRendition, PackageResult

_THUMB_POSITION = re.compile(r"(\d{1,3})(?:\.\w+)?$")


def build_metadata(*, video_id: str, attempt: int,
                   rendition_events: Mapping[str, Mapping[str, Any]],
                   package: PackageResult, package_prefix: str, completed_at: datetime,
                   upload: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The metadata document. `rendition_events`: the attempt's `rendition-done` events by
    rendition name; `package_prefix`: the package's key prefix (no bucket, no slash at the
    end); `upload`: the `video-uploaded` event when the caller has it (source facts, user
    metadata), else those sections come from what `rendition-done` repeats.
    """
    events = dict(rendition_events)
    any_event = next(iter(events.values()), {})
    created_at = _instant(any_event.get("uploaded_at") or (upload or {}).get("occurred_at"))
    completed = _instant(completed_at)
    packaged = {r.rendition: r for r in package.renditions}
    source = _source(upload, any_event)
    outputs: dict[str, Any] = {}
    for name, event in sorted(events.items(), key=lambda kv: _ladder_order(kv[1])):
        outputs[name] = _output(event, packaged.get(name), package_prefix)
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


def _output(event: Mapping[str, Any], packaged: PackagedRendition | None,
            package_prefix: str) -> dict[str, Any]:
    media_type = event.get("media_type", "VIDEO")
    out: dict[str, Any] = {"path": _key(event.get("uri", "")),
                           "size_bytes": event.get("size_bytes", 0)}
    if media_type == "IMAGES":
        return _thumbnails(event)
    if event.get("width") and event.get("height"):
        out["resolution"] = f"{event['width']}x{event['height']}"
    out["bitrate"] = event.get("bitrate", 0)
    if event.get("codecs"):
        out["codecs"] = event["codecs"]
    if media_type == "AUDIO":
        out["duration_seconds"] = event.get("duration_seconds", 0.0)
        if packaged and packaged.sample_rate:
            out["sample_rate"] = packaged.sample_rate
    out["processing_time_seconds"] = event.get("encode_seconds", 0.0)
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


def _thumbnails(event: Mapping[str, Any]) -> dict[str, Any]:
    generated = []
    for artifact in event.get("artifacts") or []:
        entry: dict[str, Any] = {"name": artifact["name"], "path": _key(artifact["uri"]),
                                 "size_bytes": artifact.get("size_bytes", 0)}
        position = _THUMB_POSITION.search(artifact["name"])
        if position and int(position.group(1)) <= 100:
            entry["position_percent"] = int(position.group(1))
        generated.append(entry)
    return {"primary": {"path": _key(event.get("uri", "")),
                        "size_bytes": event.get("size_bytes", 0)},
            "auto_generated": generated}


def _source(upload: Mapping[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any]:
    upload = upload or {}
    info = upload.get("source_info") or {}
    video, audio = info.get("video") or {}, info.get("audio") or {}
    source: dict[str, Any] = {
        "filename": upload.get("source_filename"),
        "path": _key(upload["source_uri"]) if upload.get("source_uri") else None,
        "size_bytes": upload.get("source_size_bytes") or event.get("source_size_bytes"),
        "format": info.get("container"),
        "codec": video.get("codec"),
        "width": video.get("width"),
        "height": video.get("height"),
        "duration_seconds": info.get("duration_seconds"),
        "bitrate": info.get("bitrate"),
        "fps": video.get("fps"),
        "audio_codec": audio.get("codec"),
        "audio_bitrate": audio.get("bitrate"),
        "audio_sample_rate": audio.get("sample_rate"),
    }
    if video.get("width") and video.get("height"):
        source["resolution"] = f"{video['width']}x{video['height']}"
    return {k: v for k, v in source.items() if v is not None}


def _user_metadata(upload: Mapping[str, Any] | None) -> dict[str, Any]:
    try:
        value = json.loads((upload or {}).get("user_metadata_json") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _compression(events: Mapping[str, Mapping[str, Any]],
                 source_bytes: int | None) -> dict[str, float]:
    """Source size over each rung's size; `total_saved_percent` compares the top rung."""
    rungs = {n: e for n, e in events.items()
             if e.get("media_type", "VIDEO") == "VIDEO" and e.get("size_bytes")}
    if not source_bytes or not rungs:
        return {}
    ratios: dict[str, float] = {n: round(source_bytes / e["size_bytes"], 2)
                                for n, e in sorted(rungs.items(), key=lambda kv:
                                                   _ladder_order(kv[1]))}
    top = max(rungs.values(), key=_ladder_order)
    ratios["total_saved_percent"] = round(100 * (1 - top["size_bytes"] / source_bytes), 1)
    return ratios


def _quality(events: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    metrics = {}
    for name, event in sorted(events.items(), key=lambda kv: _ladder_order(kv[1])):
        quality = event.get("quality") or {}
        scores = {k: quality[k] for k in ("vmaf", "psnr", "ssim") if quality.get(k) is not None}
        if scores:
            metrics[name] = scores
    return metrics


def _ladder_order(event: Mapping[str, Any]) -> tuple[int, int, str]:
    kinds = {"VIDEO": 0, "AUDIO": 1, "IMAGES": 2}
    return (kinds.get(event.get("media_type", "VIDEO"), 3), event.get("height") or 0,
            str(event.get("rendition", "")))


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
