"""`GET|HEAD /media/{key}`: playback objects streamed from S3, with ranges, CORS and cache
headers (see `services.catalog.media` for the rules). A public video's objects are open
(capability URLs holding the video's random UUID); a signed video's need a playback token
(`?token=`, see `services.catalog.tokens`), and its manifests are rewritten so that every
URL in them carries it (`services.catalog.signed_manifests`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from services.catalog import contract, tokens
from services.catalog.deps import S3, Guard, Settings
from services.catalog.media import (
    content_type,
    error_code,
    object_headers,
    private_headers,
    servable,
    single_range,
)
from services.catalog.playback_guard import KeysLoading
from services.catalog.rendering import not_found
from services.catalog.signed_manifests import REWRITES

router = APIRouter(tags=["media"])
_CHUNK = 256 * 1024


@router.api_route("/media/{key:path}", methods=["GET", "HEAD"], responses=contract.MEDIA,
                  summary="Stream a playback object (HLS/DASH/MP4/MP3/thumbnails) from S3")
async def media(key: str, request: Request, s3: S3, settings: Settings,
                guard: Guard) -> Response:
    if not servable(key, settings.media_prefixes):
        return not_found(key)
    try:
        token = await guard.admit(key, request.query_params.get(tokens.PARAMETER),
                                  tokens.request_origin(request.headers.get("origin"),
                                                        request.headers.get("referer")))
    except tokens.TokenRefused as refused:
        return JSONResponse(refused.body(), status_code=403,
                            headers={"Access-Control-Allow-Origin": "*",
                                     "Cache-Control": "no-store"})
    except KeysLoading:
        return JSONResponse({"error": "keys_loading", "detail": "signing keys are still "
                             "being loaded; retry in a moment"}, status_code=503,
                            headers={"Retry-After": "2", "Access-Control-Allow-Origin": "*"})
    bucket = settings.common.s3_bucket
    rewrite = REWRITES.get(PurePosixPath(key).suffix.lower()) if token else None
    wanted = None if rewrite else single_range(request.headers.get("range"))
    try:
        if request.method == "HEAD":
            meta = await asyncio.to_thread(s3.head_object, Bucket=bucket, Key=key)
            shown = private_headers(key, meta) if token else object_headers(key, meta)
            return Response(headers={**shown,
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
    if token and rewrite:
        text = await asyncio.to_thread(_read_all, obj["Body"])
        body = rewrite(text, token).encode()
        return Response(body, headers={**private_headers(key, obj, manifest=True),
                                       "Content-Length": str(len(body))},
                        media_type=content_type(key))
    headers = {**(private_headers(key, obj) if token else object_headers(key, obj)),
               "Content-Length": str(obj["ContentLength"])}
    status = 200
    if wanted and obj.get("ContentRange"):
        headers["Content-Range"] = obj["ContentRange"]
        status = 206
    return StreamingResponse(_chunks(obj["Body"]), status_code=status, headers=headers,
                             media_type=headers["Content-Type"])


def _read_all(body: Any) -> str:
    try:
        return str(body.read().decode("utf-8"))
    finally:
        body.close()


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(body.read, _CHUNK):
            yield chunk
    finally:
        body.close()
