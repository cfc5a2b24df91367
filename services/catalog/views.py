"""Pure: read-model rows shaped into API answers, with playback URLs. No I/O.

Playback URLs point at this server's `/media/<key>` (or `public_base_url` + that), for
objects in the configured bucket; an object elsewhere keeps only its `s3://` URI.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from math import isfinite
from typing import Any
from urllib.parse import quote

import orjson

from services.catalog.rendering import same_in_orjson

#: A key `quote` returns unchanged (its always-safe characters, and `/`): the object keys
#: Reelflow writes. A detail holds some 25 URLs, and `quote` was a tenth of its view.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.~/-]+")


@dataclass(frozen=True)
class MediaLinks:
    bucket: str
    base_url: str = ""

    @cached_property
    def _media(self) -> str:
        return f"{self.base_url.rstrip('/')}/media/"

    @cached_property
    def _prefix(self) -> str:
        return f"s3://{self.bucket}/"

    def url(self, uri: str | None) -> str | None:
        if not uri:
            return None
        prefix = self._prefix
        if uri.startswith(prefix) and len(uri) > len(prefix):
            key = uri[len(prefix):]
            return self._media + (key if _PLAIN_KEY.fullmatch(key) else quote(key))
        if not uri.startswith("s3://"):
            return None
        bucket, _, key = uri[5:].partition("/")
        if bucket != self.bucket or not key:
            return None
        return f"{self._media}{quote(key)}"

    def api(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}"


def _tags(metadata: dict[str, Any]) -> list[str]:
    tags = metadata.get("tags")
    return [str(t) for t in tags] if isinstance(tags, list) else []


def _primary_thumbnail(row: dict[str, Any], links: MediaLinks) -> str | None:
    # Transcode publishes the uploader's thumbnail (copied next to the renditions) as the
    # primary picture; the upload's own copy under sources/ is only a fallback until then.
    primary = (row.get("thumbnails") or {}).get("primary") or row.get("custom_thumbnail_uri")
    return links.url(primary)


def video_summary(row: dict[str, Any], links: MediaLinks) -> dict[str, Any]:
    video_id = str(row["video_id"])
    return {
        "video_id": video_id,
        "status": row["status"],
        "attempt": row["attempt"],
        "title": row.get("title"),
        "owner": row.get("owner"),
        "priority": row["priority"],
        "tags": _tags(row["user_metadata"]),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "completed_at": row["completed_at"],
        "duration_seconds": row.get("duration_seconds"),
        "source_size_bytes": row.get("source_size_bytes"),
        "progress": row["progress"],
        "error_code": row.get("error_code"),
        "latency_ms": row.get("latency_ms"),
        "playable": row.get("current_package_attempt") is not None,
        "thumbnail": _primary_thumbnail(row, links),
        "links": {"self": links.api(f"/api/v1/videos/{video_id}")},
    }


def _json_column(text: str) -> tuple[Any, bool]:
    """A JSONB column's text read as `json.loads` (psycopg's loader) reads it, and whether
    orjson writes the value back as `render` would. orjson reads several times faster and
    gives the same values, except numbers beyond 64 bits (a float, or a refusal, where the
    stdlib gives an int or an infinity): any value not `same_in_orjson` is read again."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    else:
        if same_in_orjson(value):
            return value, True
    return json.loads(text), False


def _whole_minutes(moment: datetime) -> bool:
    """Whether orjson writes this aware datetime as `isoformat()` does: not for a UTC offset
    with seconds (a zone's local mean time before its standard time, e.g. +00:53:28)."""
    offset = moment.utcoffset()
    return offset is not None and not offset.seconds % 60 and not offset.microseconds


def listed_videos(rows: list[tuple[Any, ...]], links: MediaLinks,
                  ) -> tuple[list[dict[str, Any]], bool]:
    """A listing's items, each its video's `video_summary`, from rows of
    `queries.LISTED_COLUMNS` (shaped in SQL); and whether orjson renders all of them
    (`rendering.render_plain`) byte for byte as `render` does."""
    items, plain = [], True
    for (video_id, status, attempt, title, owner, priority, tags, created_at, updated_at,
         completed_at, duration, size, progress, error_code, latency_ms, playable,
         thumbnail, *_) in rows:
        progress, plain_progress = _json_column(progress)
        if tags is not None:
            tags, plain_tags = _json_column(tags)
            plain = plain and plain_tags
        plain = (plain and plain_progress and same_in_orjson(duration)
                 and _whole_minutes(created_at) and _whole_minutes(updated_at)
                 and (completed_at is None or _whole_minutes(completed_at)))
        items.append({
            "video_id": video_id,
            "status": status,
            "attempt": attempt,
            "title": title,
            "owner": owner,
            "priority": priority,
            "tags": _tags({"tags": tags}),
            "created_at": created_at,
            "updated_at": updated_at,
            "completed_at": completed_at,
            "duration_seconds": duration,
            "source_size_bytes": size,
            "progress": progress,
            "error_code": error_code,
            "latency_ms": latency_ms,
            "playable": playable,
            "thumbnail": links.url(thumbnail),
            "links": {"self": links.api(f"/api/v1/videos/{video_id}")},
        })
    return items, plain


#: The media type of the captions stage's rendition (rendition-done v5).
CAPTIONS = "CAPTIONS"


def rendition_view(row: dict[str, Any], links: MediaLinks) -> dict[str, Any]:
    quality = None
    if any(row.get(k) is not None for k in ("vmaf", "psnr", "ssim")):
        quality = {k: row.get(k) for k in ("vmaf", "psnr", "ssim", "vmaf_floor", "below_floor",
                                           "frames_scored")}
        if row.get("quality_chunks"):  # a rung encoded in chunks: each chunk's figures
            quality["chunks"] = row["quality_chunks"]
    return {
        "rendition": row["rendition"],
        "attempt": row["attempt"],
        "media_type": row["media_type"],
        "uri": row["uri"],
        "url": links.url(row["uri"]),
        **{k: row.get(k) for k in ("container", "codecs", "video_codec", "audio_codec", "width",
                                   "height", "frame_rate", "keyframe_interval_seconds",
                                   "bitrate", "size_bytes", "sha256", "duration_seconds",
                                   "encode_seconds", "profile", "occurred_at")},
        "quality": quality,
        "artifacts": [{**a, "url": links.url(a.get("uri"))} for a in row.get("artifacts") or []],
    }


def package_view(row: dict[str, Any], links: MediaLinks) -> dict[str, Any]:
    return {
        "attempt": row["attempt"],
        "revision": row.get("revision", 1),
        "captions_language": row.get("captions_language"),
        "current": row["current"],
        "occurred_at": row["occurred_at"],
        "package_uri": row["package_uri"],
        "hls_master_uri": row["hls_master_uri"],
        "dash_manifest_uri": row.get("dash_manifest_uri"),
        "metadata_uri": row.get("metadata_uri"),
        "duration_seconds": row.get("duration_seconds"),
        "total_bytes": row.get("total_bytes"),
        "latency_ms": row.get("latency_ms"),
        "renditions": [
            {**r, "playlist_url": links.url(r.get("playlist_uri")),
             "download_url": links.url(r.get("download_uri"))}
            for r in row.get("renditions") or []
        ],
    }


def playback(video: dict[str, Any], package: dict[str, Any] | None,
             renditions: list[dict[str, Any]], links: MediaLinks) -> dict[str, Any]:
    """Every URL a player or a download page needs, from the current package."""
    packaged = {r["rendition"]: r for r in (package or {}).get("renditions") or []}
    downloads, audio = [], None
    for r in renditions:
        if r["media_type"] == "VIDEO":
            uri = packaged.get(r["rendition"], {}).get("download_uri") or r["uri"]
            downloads.append({"rendition": r["rendition"], "url": links.url(uri),
                              "width": r.get("width"), "height": r.get("height"),
                              "bitrate": r.get("bitrate"), "size_bytes": r.get("size_bytes")})
        elif r["media_type"] == "AUDIO" and (r.get("container") == "mp3"
                                             or r["rendition"] == "mp3"):
            audio = links.url(r["uri"])
    thumbs = video.get("thumbnails") or {}
    return {
        "hls": links.url(package["hls_master_uri"]) if package else None,
        "dash": links.url(package.get("dash_manifest_uri")) if package else None,
        "metadata": links.url(package.get("metadata_uri")) if package else None,
        "mp4": downloads,
        "mp3": audio,
        "thumbnail": _primary_thumbnail(video, links),
        "thumbnails": [links.url(t["uri"]) for t in thumbs.get("images") or []],
        "storyboard": links.url(thumbs.get("storyboard")),
        "sprite": links.url(thumbs.get("sprite")),
    }


def video_detail(video: dict[str, Any], links: MediaLinks) -> dict[str, Any]:
    video_id = str(video["video_id"])
    current = next((p for p in video["packages"] if p["current"]), None)
    # Renditions of what plays now; while a reprocess runs, that is the older attempt.
    shown = video["current_package_attempt"] or video["attempt"]
    # Captions are listed on their own: they are text tracks, not encoded renditions. A
    # captions-only attempt plays an earlier attempt's encodings: those are shown.
    encoded = {r["attempt"] for r in video["renditions"] if r["media_type"] != CAPTIONS}
    if shown not in encoded and any(a < shown for a in encoded):
        shown = max(a for a in encoded if a < shown)
    renditions = [r for r in video["renditions"]
                  if r["attempt"] == shown and r["media_type"] != CAPTIONS]
    processing = None
    started = video.get("uploaded_at") or video.get("attempt_started_at")
    if video.get("completed_at") and started:
        processing = (video["completed_at"] - started).total_seconds()
    cancelled = video["status"] == "cancelled"
    return {
        **video_summary(video, links),
        "profile": video.get("profile"),
        "origin": video.get("origin"),
        "user_metadata": video["user_metadata"],
        "requested_renditions": video.get("requested_renditions"),
        "states": {
            "uploaded": video.get("uploaded_at"),
            "transcoding": video.get("transcoding_at"),
            "packaging": video.get("packaging_at"),
            "ready": video.get("ready_at"),
            "failed": video.get("failed_at"),
            "cancelled": video.get("cancelled_at") if cancelled else None,
        },
        "expected_renditions": video.get("expected_renditions"),
        "error": {"stage": video["error_stage"], "code": video["error_code"],
                  "message": video["error_message"]} if video.get("failed_at") else None,
        "cancellation": {"at": video["cancelled_at"], "reason": video.get("cancel_reason"),
                         "requested_by": video.get("cancelled_by")} if cancelled else None,
        "processing_seconds": processing,
        "source": {
            "uri": video.get("source_uri"),
            "sha256": video.get("source_sha256"),
            "size_bytes": video.get("source_size_bytes"),
            "filename": video.get("source_filename"),
            "info": video.get("source_info"),
        },
        "renditions_attempt": shown,
        "renditions": [rendition_view(r, links) for r in renditions],
        "package": package_view(current, links) if current else None,
        "captions": captions_view(video, links),
        "attempts": sorted({r["attempt"] for r in video["renditions"]}
                           | {p["attempt"] for p in video["packages"]} | {video["attempt"]}),
        "playback": {**playback(video, current, renditions, links),
                     "page": links.api(f"/videos/{video_id}"),
                     # signed: every URL above needs ?token=<a playback token> the API
                     # caller mints (README, Protecting videos); the URLs never carry one.
                     "policy": video.get("playback_policy") or "public",
                     "encryption": video.get("encryption")},
        "links": {"self": links.api(f"/api/v1/videos/{video_id}"),
                  "events": links.api(f"/api/v1/videos/{video_id}/events")},
    }


def finite_columns(video: dict[str, Any]) -> bool:
    """Whether no float column of the video's rows (as `queries.get_video` gives them:
    the video, its renditions and packages) holds a NaN or an infinity, so its
    `video_detail` holds none (`rendering.render_finite` may write it): JSONB values never
    do, and what the view computes (`processing_seconds`) is finite."""
    for row in (video, *video["renditions"], *video["packages"]):
        for value in row.values():
            if type(value) is float and not isfinite(value):
                return False
    return True


def captions_view(video: dict[str, Any], links: MediaLinks) -> dict[str, Any] | None:
    """The newest attempt's captions: outcome, language, and each file's URL."""
    found = [r for r in video["renditions"] if r["media_type"] == CAPTIONS]
    if not found:
        return None
    newest = max(found, key=lambda r: r["attempt"])
    files = {a["name"].rsplit(".", 1)[-1]: links.url(a.get("uri"))
             for a in newest.get("artifacts") or []}
    video_id = str(video["video_id"])
    return {
        "attempt": newest["attempt"],
        "outcome": newest.get("captions_outcome"),
        "language": newest.get("language"),
        "language_probability": newest.get("language_probability"),
        "model": newest.get("profile"),
        "vtt": files.get("vtt"), "srt": files.get("srt"), "text": files.get("txt"),
        "json": files.get("json"),
        "transcript": links.api(f"/api/v1/videos/{video_id}/transcript"),
    }


def timeline_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("event_id", "occurred_at", "kind", "topic", "partition",
                                "offset", "attempt", "summary", "details", "recorded_at")}


def _b64(value: bytes | None) -> str | None:
    return base64.b64encode(value).decode() if value is not None else None


def dead_letter_detail(row: dict[str, Any]) -> dict[str, Any]:
    key, value = row.get("original_key"), row.get("original_value")
    out = {k: v for k, v in row.items() if k not in ("original_key", "original_value")}
    out["original_key_base64"] = _b64(bytes(key) if key is not None else None)
    out["original_key_text"] = bytes(key).decode(errors="replace") if key is not None else None
    out["original_value_base64"] = _b64(bytes(value) if value is not None else None)
    out["original_value_size"] = len(value) if value is not None else None
    return out
