"""The license service of encrypted videos (issue 14): a video's content keys, only for a
holder of a valid `v` playback token for that video (`?token=`).

- `POST /license/clearkey/{video_id}`: W3C ClearKey JSON (what EME's ClearKey CDM sends
  and takes; the DASH manifest names this URL in `dashif:laurl`).
- `GET /license/hls/{video_id}/{attempt}`: the attempt's 16-byte key, the URI of HLS
  `EXT-X-KEY` with `KEYFORMAT="identity"` (Shaka Player fetches it, then hands it to the
  ClearKey CDM).

Keys come from the catalog's in-memory `content-keys` projection, unwrapped per request
under the KEK; nothing clear is stored.
"""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from services.catalog import contract, tokens
from services.catalog.deps import ContentKeysDep, Guard, KeksDep
from services.catalog.license import BadLicenseRequest, clearkey_answer, requested_kids
from services.catalog.playback_guard import KeysLoading
from services.shared.envelope import ContentKey, KeyUnavailable

router = APIRouter(tags=["license"])
_NO_STORE = {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}
#: The longest license request body read (a few kids of JSON).
MAX_LICENSE_REQUEST_BYTES = 16 * 1024


async def _refused(guard: Guard, video_id: str, request: Request) -> Response | None:
    try:
        await guard.admit_video(video_id, request.query_params.get(tokens.PARAMETER),
                                tokens.request_origin(request.headers.get("origin"),
                                                      request.headers.get("referer")))
    except tokens.TokenRefused as refused:
        return JSONResponse(refused.body(), status_code=403, headers=_NO_STORE)
    except KeysLoading:
        return _loading()
    return None


def _loading() -> Response:
    return JSONResponse({"error": "keys_loading", "detail": "keys are still being loaded; "
                         "retry in a moment"}, status_code=503,
                        headers={**_NO_STORE, "Retry-After": "2"})


def _no_keys(video_id: str) -> Response:
    return JSONResponse({"error": "not_found", "detail": f"video {video_id} has no content "
                         "keys (it is not encrypted, or not packaged yet)"}, status_code=404,
                        headers=_NO_STORE)


def _clear_keys(keys: ContentKeysDep, keks: KeksDep, video_id: str,
                attempt: int | None = None) -> list[ContentKey] | Response:
    wrapped = [k for k in keys.table.of_video(video_id)
               if attempt is None or k.attempt == attempt]
    if not wrapped:
        return _loading() if not keys.caught_up.is_set() else _no_keys(video_id)
    try:
        return [keks.unwrap(k) for k in wrapped]
    except KeyUnavailable:
        return JSONResponse({"error": "key_unavailable", "detail": "this video's keys cannot "
                             "be unwrapped with the configured KEKs"}, status_code=503,
                            headers=_NO_STORE)


@router.post("/license/clearkey/{video_id}", responses=contract.LICENSE,
             summary="W3C ClearKey license: the video's keys for a valid v token")
async def clearkey_license(video_id: uuid.UUID, request: Request, guard: Guard,
                           keys: ContentKeysDep, keks: KeksDep) -> Response:
    if (refused := await _refused(guard, str(video_id), request)) is not None:
        return refused
    body = await request.body()
    try:
        if len(body) > MAX_LICENSE_REQUEST_BYTES:
            raise BadLicenseRequest("the license request is too large")
        kids, session = requested_kids(body)
    except BadLicenseRequest as exc:
        return JSONResponse({"error": "invalid_license_request", "detail": str(exc)},
                            status_code=400, headers=_NO_STORE)
    clear = await asyncio.to_thread(_clear_keys, keys, keks, str(video_id))
    if isinstance(clear, Response):
        return clear
    return JSONResponse(clearkey_answer(kids, session, clear), headers=_NO_STORE)


@router.get("/license/hls/{video_id}/{attempt}", responses=contract.HLS_KEY,
            summary="An attempt's content key for HLS KEYFORMAT=identity, for a v token")
async def hls_key(video_id: uuid.UUID, attempt: int, request: Request, guard: Guard,
                  keys: ContentKeysDep, keks: KeksDep) -> Response:
    if (refused := await _refused(guard, str(video_id), request)) is not None:
        return refused
    clear = _clear_keys(keys, keks, str(video_id), attempt)
    if isinstance(clear, Response):
        return clear
    return Response(clear[0].key, media_type="application/octet-stream", headers=_NO_STORE)
