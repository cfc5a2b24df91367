"""What `GET|HEAD /media/{key}` (routes.media) decides, without I/O: which objects it
serves, their headers, the one range it honours. Playback objects go from S3 to players.

Serves byte ranges (206 + Content-Range, which MP4 seeking and some players need), the
right Content-Type per extension whatever the object was stored with, CORS for players
on other origins, and cache lifetimes by kind: manifests for a minute (a manifest may be
revised, e.g. for captions), everything else for a year, since segments, downloads and
thumbnails are immutable under their attempt-scoped keys.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import ClientError

from schemas import layout

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".vtt": "text/vtt",
    ".json": "application/json",
}
MANIFESTS = frozenset({".m3u8", ".mpd"})
#: A VOD package is attempt-scoped and complete before any event names it, so its
#: manifests do not change while a viewer watches (a new attempt gets new URLs). But they
#: are not immutable: a manifest may get a new revision under the same key (captions will
#: add tracks to an attempt's master playlist), so players and CDNs may keep one a minute
#: and then ask again. The README states this value; a test reads it from there.
MANIFEST_CACHE = "public, max-age=60"
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
_SINGLE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def content_type(key: str, stored: str | None = None) -> str:
    suffix = PurePosixPath(key).suffix.lower()
    return CONTENT_TYPES.get(suffix) or stored or "application/octet-stream"


def cache_control(key: str) -> str:
    return MANIFEST_CACHE if PurePosixPath(key).suffix.lower() in MANIFESTS else IMMUTABLE_CACHE


def servable(key: str, prefixes: tuple[str, ...]) -> bool:
    """Playback objects only: the original uploads (`sources/`) stay private."""
    if ".." in key.split("/"):
        return False
    return key.startswith(prefixes) or layout.is_custom_thumbnail(key)


def single_range(header: str | None) -> str | None:
    """The Range header if it asks for one satisfiable-looking range; else serve it all."""
    if not header:
        return None
    match = _SINGLE_RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None  # multiple ranges or nonsense: RFC 9110 lets us answer 200 with all
    return header.strip()


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def object_headers(key: str, meta: dict[str, Any]) -> dict[str, str]:
    """Headers of an object from its S3 metadata (HEAD or GET)."""
    headers = {
        "Content-Type": content_type(key, meta.get("ContentType")),
        "Cache-Control": cache_control(key),
        "Accept-Ranges": "bytes",
        "Access-Control-Allow-Origin": "*",
    }
    if meta.get("ETag"):
        headers["ETag"] = meta["ETag"]
    if meta.get("LastModified"):
        headers["Last-Modified"] = meta["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT")
    return headers


#: A signed video's objects: never in a shared cache (the token is the key to them), and
#: a rewritten manifest holds the request's token, so it is not kept at all.
SIGNED_CACHE = "private, max-age=31536000, immutable"
SIGNED_MANIFEST_CACHE = "private, no-store"


def private_headers(key: str, meta: dict[str, Any], manifest: bool = False) -> dict[str, str]:
    """Headers of a signed video's object (a rewritten manifest has no ETag of its own)."""
    headers = object_headers(key, meta)
    headers["Cache-Control"] = SIGNED_MANIFEST_CACHE if manifest else SIGNED_CACHE
    if manifest:
        headers.pop("ETag", None)
        headers.pop("Accept-Ranges", None)
    return headers
