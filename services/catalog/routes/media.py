"""`GET|HEAD /media/{key}`: playback objects streamed from S3, with ranges, CORS and cache
headers (see `services.catalog.media` for the rules). Open by design: playback URLs are
capability URLs holding the video's random UUID."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from services.catalog import contract
from services.catalog.deps import S3, Settings
from services.catalog.media import error_code, object_headers, servable, single_range
from services.catalog.rendering import not_found

router = APIRouter(tags=["media"])
_CHUNK = 256 * 1024


@router.api_route("/media/{key:path}", methods=["GET", "HEAD"], responses=contract.MEDIA,
                  summary="Stream a playback object (HLS/DASH/MP4/MP3/thumbnails) from S3")
async def media(key: str, request: Request, s3: S3, settings: Settings) -> Response:
    if not servable(key, settings.media_prefixes):
        return not_found(key)
    bucket = settings.common.s3_bucket
    wanted = single_range(request.headers.get("range"))
    try:
        if request.method == "HEAD":
            meta = await asyncio.to_thread(s3.head_object, Bucket=bucket, Key=key)
            return Response(headers={**object_headers(key, meta),
                                     "Content-Length": str(meta["ContentLength"])})
        kwargs = {"Bucket": bucket, "Key": key, **({"Range": wanted} if wanted else {})}
        obj = await asyncio.to_thread(s3.get_object, **kwargs)
    except ClientError as exc:
        code = error_code(exc)
        if code in ("NoSuchKey", "404", "NotFound"):
            return not_found(key)
        if code in ("InvalidRange", "416"):
            meta = await asyncio.to_thread(s3.head_object, Bucket=bucket, Key=key)
            return Response(status_code=416, headers={
                "Content-Range": f"bytes */{meta['ContentLength']}",
                "Access-Control-Allow-Origin": "*"})
        return JSONResponse({"error": "storage_error", "detail": code}, status_code=502)
    except BotoCoreError as exc:
        return JSONResponse({"error": "storage_unavailable", "detail": str(exc)},
                            status_code=503, headers={"Retry-After": "5"})
    headers = {**object_headers(key, obj), "Content-Length": str(obj["ContentLength"])}
    status = 200
    if wanted and obj.get("ContentRange"):
        headers["Content-Range"] = obj["ContentRange"]
        status = 206
    return StreamingResponse(_chunks(obj["Body"]), status_code=status, headers=headers,
                             media_type=headers["Content-Type"])


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(body.read, _CHUNK):
            yield chunk
    finally:
        body.close()
