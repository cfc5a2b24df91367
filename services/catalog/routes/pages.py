"""The catalog page: `/` lists videos, `/videos/<id>` shows one; both are the same static
document, which routes on its own URL and reads the JSON API. Plus hls.js for its player.
`/static` itself is mounted by `create_app` (a mount is not a route)."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
INDEX = STATIC_DIR / "index.html"
#: hls.js for the page, from the repo's npm install (`npm ci`); no CDN, no build step.
HLS_JS = Path(__file__).resolve().parents[3] / "node_modules/hls.js/dist/hls.min.js"

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(INDEX, headers={"Cache-Control": "no-cache"})


@router.get("/videos/{video_id}")
async def video_page(video_id: uuid.UUID) -> FileResponse:
    return FileResponse(INDEX, headers={"Cache-Control": "no-cache"})


@router.get("/static/vendor/hls.min.js")
async def hls_js() -> Response:
    if not HLS_JS.is_file():  # without `npm ci` the page still lists, it cannot play
        return Response("/* hls.js is not installed: run `npm ci` */",
                        media_type="text/javascript", status_code=404)
    return FileResponse(HLS_JS, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=3600"})
