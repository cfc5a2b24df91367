"""`GET /api/v1/videos/{id}/transcript` (the segments of the newest captions) and
`GET /api/v1/videos/{id}/transcript/search?q=` (the times the words are spoken)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.catalog import contract, queries
from services.catalog.deps import Pool, Who
from services.catalog.rendering import JsonAnswer, not_found
from services.catalog.transcripts import spoken_at

router = APIRouter(prefix="/api/v1/videos/{video_id}/transcript", tags=["videos"])


async def _transcript(pool: Pool, who: Who, video_id: uuid.UUID) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        known, owner = await queries.video_owner(conn, str(video_id))
        if not known or not who.may_see(owner):
            return None
        return await queries.newest_transcript(conn, str(video_id))


@router.get("", responses=contract.TRANSCRIPT, summary="A video's transcript: timed segments")
async def transcript(video_id: uuid.UUID, pool: Pool, who: Who) -> Any:
    found = await _transcript(pool, who, video_id)
    if found is None:
        return not_found(f"transcript of video {video_id}")
    return JsonAnswer({"video_id": str(video_id), "attempt": found["attempt"],
                       "language": found["language"],
                       "language_probability": found["language_probability"],
                       "outcome": found["outcome"], "text": found["text"],
                       "segments": found["segments"]})


@router.get("/search", responses=contract.TRANSCRIPT,
            summary="Where words are spoken in a video (times from word timestamps)")
async def transcript_search(video_id: uuid.UUID, pool: Pool, who: Who,
                            q: Annotated[str, Query(min_length=1, max_length=200,
                                                    description="a word or a phrase")]) -> Any:
    found = await _transcript(pool, who, video_id)
    if found is None:
        return not_found(f"transcript of video {video_id}")
    return JsonAnswer({"video_id": str(video_id), "attempt": found["attempt"], "q": q,
                       "hits": spoken_at(found["segments"], q)})
