"""`GET /api/v1/dead-letters` and `GET /api/v1/dead-letters/{id}`: the admin's only."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.catalog import contract, queries, views
from services.catalog.deps import Admin, Pool
from services.catalog.rendering import JsonAnswer, not_found

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])


@router.get("", responses=contract.DEAD_LETTERS, summary="Dead-lettered records, newest first")
async def list_dead_letters(pool: Pool, _: Admin, original_topic: str | None = None,
                            error_code: str | None = None,
                            consumer_group: str | None = None, video_id: str | None = None,
                            limit: Annotated[int, Query(ge=1, le=500)] = 50,
                            cursor: str | None = None) -> Any:
    filters = queries.DeadLetterFilters(original_topic, error_code, consumer_group, video_id)
    async with pool.connection() as conn:
        rows, next_cursor = await queries.dead_letters(conn, filters, limit, cursor)
    return JsonAnswer({"items": rows, "next_cursor": next_cursor, "limit": limit})


@router.get("/{dead_letter_id}", responses=contract.DEAD_LETTER,
            summary="One dead letter, with the original bytes (base64) and stack trace")
async def get_dead_letter(dead_letter_id: uuid.UUID, pool: Pool, _: Admin) -> Any:
    async with pool.connection() as conn:
        row = await queries.dead_letter(conn, str(dead_letter_id))
    if row is None:
        return not_found(f"dead letter {dead_letter_id}")
    return JsonAnswer(views.dead_letter_detail(row))
