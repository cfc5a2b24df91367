"""`GET /api/v1/videos` (filters, text search, cursor paging) and `GET /api/v1/videos/{id}`.
A tenant sees only its own videos (another tenant's is 404); the admin sees all."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import WithJsonSchema

from services.catalog import contract, queries, views
from services.catalog.deps import Reads
from services.catalog.projection import STATUSES
from services.catalog.rendering import (
    JsonAnswer,
    conditional,
    not_found,
    render,
    render_plain,
    same_in_orjson,
)
from services.shared.direct_route import DirectRoute

_ONE = "(?:" + "|".join(STATUSES) + ")"
#: Documents the statuses; the route itself answers `bad_status` for an unknown one.
STATUS_LIST = {"type": "string", "pattern": f"^,*(?:{_ONE}(?:,+{_ONE})*)?,*$"}

router = APIRouter(prefix="/api/v1/videos", tags=["videos"])


@router.get("", responses=contract.VIDEOS,
            summary="List videos (filters, text search, cursor paging)")
async def list_videos(
    request: Request,
    reads: Reads,
    status: Annotated[list[Annotated[str, WithJsonSchema(STATUS_LIST)]] | None,
                      Query(description="repeat or comma-separate")] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    tag: Annotated[list[str] | None, Query(description="all must be present")] = None,
    q: Annotated[str | None, Query(description="text search: title + description")] = None,
    owner: str | None = None,
    sort: Literal["created_at", "completed_at", "priority"] = "created_at",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """Also filters by user metadata: `meta.<key>=<value>` (JSONB containment)."""
    statuses = tuple(s for value in status or () for s in value.split(",") if s)
    unknown = set(statuses) - set(STATUSES)
    if unknown:
        return JSONResponse({"error": "bad_status", "detail": sorted(unknown),
                             "allowed": list(STATUSES)}, status_code=422)
    meta = {k[5:]: v for k, v in request.query_params.multi_items()
            if k.startswith("meta.") and len(k) > 5}
    who = reads.who
    if not who.admin:
        if owner not in (None, who.name):
            return JsonAnswer({"items": [], "next_cursor": None, "limit": limit,
                               "sort": sort, "order": order})
        owner = who.name
    filters = queries.VideoFilters(statuses, created_from, created_to, tuple(tag or ()), meta,
                                   q or None, owner)
    async with reads.pool.connection() as conn:
        rows, next_cursor = await queries.list_videos(conn, filters, sort, order, limit,
                                                      cursor)
    items, plain = views.listed_videos(rows, reads.links)
    for item in items:
        place = None
        if item["status"] == "uploaded":
            place = reads.queues.place(item["video_id"], item["attempt"])
            plain = plain and same_in_orjson(place)
        item["queue"] = place
    content = {"items": items, "next_cursor": next_cursor, "limit": limit, "sort": sort,
               "order": order}
    # The bytes `JsonAnswer` would render, by orjson when it writes them the same.
    return Response(render_plain(content) if plain else render(content),
                    media_type="application/json")


async def get_video(video_id: uuid.UUID, request: Request, reads: Reads) -> Any:
    """Answers carry an `ETag`; send it back in `If-None-Match` to get `304` while the
    video has not changed. `queue` is a waiting video's place in its lane and estimated
    start (else null)."""
    async with reads.pool.connection() as conn:
        video = await queries.get_video(conn, str(video_id))
    if video is None or not reads.who.may_see(video["owner"]):
        return not_found(f"video {video_id}")
    detail = views.video_detail(video, reads.links)
    waiting = video["status"] == "uploaded"
    place = reads.queues.place(str(video_id), video["attempt"]) if waiting else None
    detail["queue"] = place
    # By orjson where it writes the stdlib's bytes (a fifth of the view's time).
    finite = views.finite_columns(video) and (place is None or same_in_orjson(place))
    return conditional(request, detail, finite)


# The hottest read (pollers ask every 2 s): answered without FastAPI's per-request solve
# (`DirectRoute`), which cost about a quarter of its Python time (issue 18).
router.add_api_route("/{video_id}", get_video, methods=["GET"], responses=contract.VIDEO,
                     summary="One video: state, renditions, playback",
                     route_class_override=DirectRoute)
#: The detail's route: the app's `ExpressLane` answers it (`services.catalog.api.front`).
DETAIL = router.routes[-1]
