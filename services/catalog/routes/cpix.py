"""`GET /api/v1/videos/{id}/cpix`: a CPIX 2.3 document with the video's content keys (every
attempt's), for the admin or the video's owner, to hand to a commercial DRM service."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from services.catalog import contract, queries
from services.catalog.cpix import cpix_document
from services.catalog.deps import ContentKeysDep, KeksDep, Pool, Who
from services.catalog.rendering import not_found
from services.shared.envelope import KeyUnavailable

router = APIRouter(tags=["videos"])


@router.get("/api/v1/videos/{video_id}/cpix", responses=contract.CPIX,
            summary="The video's content keys as a CPIX 2.3 document (admin or owner)")
async def video_cpix(video_id: uuid.UUID, pool: Pool, who: Who, keys: ContentKeysDep,
                     keks: KeksDep) -> Any:
    async with pool.connection() as conn:
        known, owner = await queries.video_owner(conn, str(video_id))
    if not known or not (who.admin or owner == who.name):
        return not_found(f"video {video_id}")
    wrapped = keys.table.of_video(str(video_id))
    if not wrapped:
        return not_found(f"content keys of video {video_id} (it is not encrypted, or not "
                         "packaged yet)")
    try:
        clear = [(keks.unwrap(k), k.scheme) for k in wrapped]
    except KeyUnavailable as exc:
        return Response(f'{{"error": "key_unavailable", "detail": "{exc}"}}', 503,
                        media_type="application/json")
    return Response(cpix_document(str(video_id), clear), media_type="application/xml",
                    headers={"Cache-Control": "no-store"})
