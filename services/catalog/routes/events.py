"""`GET /api/v1/videos/{id}/events`: a video's timeline, oldest first (cursor paging)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.catalog import contract, queries, views
from services.catalog.deps import Pool, Who
from services.catalog.rendering import JsonAnswer, not_found

router = APIRouter(tags=["videos"])


@router.get("/api/v1/videos/{video_id}/events", responses=contract.EVENTS,
            summary="A video's timeline, oldest first")
async def video_events(video_id: uuid.UUID, pool: Pool, who: Who,
                       limit: Annotated[int, Query(ge=1, le=5000)] = 500,
                       cursor: str | None = None) -> Any:
    async with pool.connection() as conn:
        if not who.admin:
            known, owner = await queries.video_owner(conn, str(video_id))
            if not known or owner != who.name:
                return not_found(f"video {video_id}")
        rows, next_cursor = await queries.timeline(conn, str(video_id), limit, cursor)
        if not rows and not cursor and not await queries.video_known(conn, str(video_id)):
            return not_found(f"video {video_id}")
    return JsonAnswer({"video_id": str(video_id),
                       "events": [views.timeline_entry(r) for r in rows],
                       "next_cursor": next_cursor})
