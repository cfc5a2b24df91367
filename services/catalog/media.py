"""`GET|HEAD /media/{key}`: playback objects streamed from S3 to players and browsers.

Serves byte ranges (206 + Content-Range, which MP4 seeking and some players need), the
right Content-Type per extension whatever the object was stored with, CORS for players
on other origins, and cache lifetimes by kind: manifests briefly, everything else for a
year, since every object is immutable under its attempt-scoped key.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

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
MANIFEST_CACHE = "public, max-age=5"
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
_CHUNK = 256 * 1024
_CUSTOM_THUMBNAIL = re.compile(r"^sources/[0-9a-f-]{36}/thumbnail\.(jpg|jpeg|png|webp)$")
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
    return key.startswith(prefixes) or bool(_CUSTOM_THUMBNAIL.match(key))


def single_range(header: str | None) -> str | None:
    """The Range header if it asks for one satisfiable-looking range; else serve it all."""
    if not header:
        return None
    match = _SINGLE_RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None  # multiple ranges or nonsense: RFC 9110 lets us answer 200 with all
    return header.strip()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def media_router(s3: Any, bucket: str, prefixes: tuple[str, ...]) -> APIRouter:
    router = APIRouter()

    def base_headers(key: str, meta: dict[str, Any]) -> dict[str, str]:
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

    async def unsatisfiable(key: str) -> Response:
        meta = await asyncio.to_thread(s3.head_object, Bucket=bucket, Key=key)
        return Response(status_code=416, headers={
            "Content-Range": f"bytes */{meta['ContentLength']}",
            "Access-Control-Allow-Origin": "*"})

    @router.api_route("/media/{key:path}", methods=["GET", "HEAD"], include_in_schema=True,
                      summary="Stream a playback object (HLS/DASH/MP4/MP3/thumbnails) from S3")
    async def media(key: str, request: Request) -> Response:
        if not servable(key, prefixes):
            return JSONResponse({"error": "not_found", "detail": key}, status_code=404)
        wanted = single_range(request.headers.get("range"))
        try:
            if request.method == "HEAD":
                meta = await asyncio.to_thread(s3.head_object, Bucket=bucket, Key=key)
                return Response(headers={**base_headers(key, meta),
                                         "Content-Length": str(meta["ContentLength"])})
            kwargs = {"Bucket": bucket, "Key": key, **({"Range": wanted} if wanted else {})}
            obj = await asyncio.to_thread(s3.get_object, **kwargs)
        except ClientError as exc:
            code = _error_code(exc)
            if code in ("NoSuchKey", "404", "NotFound"):
                return JSONResponse({"error": "not_found", "detail": key}, status_code=404)
            if code in ("InvalidRange", "416"):
                return await unsatisfiable(key)
            return JSONResponse({"error": "storage_error", "detail": code}, status_code=502)
        except BotoCoreError as exc:
            return JSONResponse({"error": "storage_unavailable", "detail": str(exc)},
                                status_code=503, headers={"Retry-After": "5"})
        headers = {**base_headers(key, obj), "Content-Length": str(obj["ContentLength"])}
        status = 200
        if wanted and obj.get("ContentRange"):
            headers["Content-Range"] = obj["ContentRange"]
            status = 206
        return StreamingResponse(_chunks(obj["Body"]), status_code=status, headers=headers,
                                 media_type=headers["Content-Type"])

    return router


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(body.read, _CHUNK):
            yield chunk
    finally:
        body.close()
