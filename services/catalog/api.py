"""The catalog's HTTP API (FastAPI; OpenAPI at `/docs`): videos, their timelines, stats and
dead letters from the Postgres read models, `/media` playback from S3, `/health` and
`/metrics`. Read-only: it consumes and emits nothing.

Every `/api/v1` read needs `X-API-Key`: a tenant's key sees its own videos (list, detail,
timeline and stats are scoped to them; another tenant's video is 404), the admin key sees
all, and dead letters are the admin's only. `/media` stays open by design: its paths hold
unguessable video UUIDs and browsers, players and CDNs fetch them without headers.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from fastapi import Depends, FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool

from services.catalog import metrics, queries, views
from services.catalog.media import media_router
from services.catalog.paging import BadCursor
from services.catalog.projection import STATUSES
from services.catalog.projector import Projector
from services.catalog.rendering import JsonAnswer
from services.catalog.settings import CatalogSettings
from services.shared import keyring as keys
from services.shared.access import AccessDenied, Caller
from services.shared.keyring import Keyring
from services.shared.producer import EventProducer

Role = Literal["all", "api", "projector"]
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: hls.js for the page, from the repo's npm install (`npm ci`); no CDN, no build step.
HLS_JS = Path(__file__).resolve().parents[2] / "node_modules/hls.js/dist/hls.min.js"
KafkaCheck = Callable[[], Awaitable[bool]]


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "detail": what}, status_code=404)


def create_app(settings: CatalogSettings, pool: AsyncConnectionPool, producer: EventProducer,
               projector: Projector | None, s3: Any, keyring: Keyring,
               role: Role = "all") -> FastAPI:
    app = FastAPI(title="Reelflow catalog", version="1",
                  description="Videos, renditions, packages, timelines and playback.")
    keys.install(app)
    # Dependencies as defaults: the annotations are strings (PEP 563), which FastAPI
    # resolves in module globals, where a local Annotated alias is not found.
    # Reads are authenticated and scoped, not metered: the hourly limit guards what costs
    # (uploads and transcodes), and the page alone polls ~1,800 times an hour.
    caller = Depends(keys.caller_of(keyring, metered=False))

    async def require_admin(who: Caller = caller) -> Caller:
        if not who.admin:
            raise AccessDenied(403, "admin_only", "dead letters are visible to the admin only")
        return who

    admin = Depends(require_admin)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "HEAD"],
                       allow_headers=["*"],
                       expose_headers=["Content-Range", "Content-Length", "Accept-Ranges"])
    links = views.MediaLinks(settings.common.s3_bucket, settings.public_base_url)

    app.add_middleware(metrics.RequestTimer)

    @app.exception_handler(BadCursor)
    async def on_bad_cursor(_: Request, exc: BadCursor) -> JSONResponse:
        return JSONResponse({"error": "bad_cursor", "detail": str(exc)}, status_code=400)

    @app.get("/health", summary="Postgres and Kafka reachability (200, or 503 with details)")
    async def health() -> JSONResponse:
        checks: dict[str, Any] = {}
        try:
            async with pool.connection(timeout=3) as conn:
                await conn.execute("SELECT 1")
            checks["postgres"] = "ok"
        except (psycopg.Error, TimeoutError, OSError) as exc:
            checks["postgres"] = f"error: {exc}"
        checks["kafka"] = "ok" if await producer.healthy() else "error: broker unreachable"
        if projector is not None:
            if not projector.running:
                checks["projector"] = f"error: not running ({projector.last_error or 'starting'})"
            elif projector.last_error:
                checks["projector"] = f"error: retrying after {projector.last_error}"
            else:
                checks["projector"] = "ok"
            checks["projector_lag"] = projector.lag
            checks["projector_partitions"] = len(projector.consumer.assignment())
        healthy = all(v == "ok" for k, v in checks.items() if not k.startswith("projector_"))
        return JSONResponse({"status": "ok" if healthy else "degraded", "role": role,
                             "checks": checks}, status_code=200 if healthy else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        try:
            async with pool.connection(timeout=3) as conn:
                counts = await queries.status_counts(conn)
            for status in STATUSES:
                metrics.VIDEOS.labels(status).set(counts.get(status, 0))
        except (psycopg.Error, TimeoutError):
            pass  # the other metrics are still worth scraping while Postgres is away
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if role == "projector":
        return app  # a projector-only process serves just /health and /metrics

    @app.get("/api/v1/videos", summary="List videos (filters, text search, cursor paging)")
    async def list_videos(
        request: Request,
        status: Annotated[list[str] | None, Query(description="repeat or comma-separate")] = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        tag: Annotated[list[str] | None, Query(description="all must be present")] = None,
        q: Annotated[str | None, Query(description="text search: title + description")] = None,
        owner: str | None = None,
        sort: Literal["created_at", "completed_at", "priority"] = "created_at",
        order: Literal["asc", "desc"] = "desc",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: str | None = None,
        who: Caller = caller,
    ) -> Any:
        """Also filters by user metadata: `meta.<key>=<value>` (JSONB containment)."""
        statuses = tuple(s for value in status or () for s in value.split(",") if s)
        unknown = set(statuses) - set(STATUSES)
        if unknown:
            return JSONResponse({"error": "bad_status", "detail": sorted(unknown),
                                 "allowed": list(STATUSES)}, status_code=422)
        meta = {k[5:]: v for k, v in request.query_params.multi_items()
                if k.startswith("meta.") and len(k) > 5}
        if not who.admin:
            if owner not in (None, who.name):
                return JsonAnswer({"items": [], "next_cursor": None, "limit": limit,
                                   "sort": sort, "order": order})
            owner = who.name
        filters = queries.VideoFilters(statuses, created_from, created_to, tuple(tag or ()), meta,
                                       q or None, owner)
        async with pool.connection() as conn:
            rows, next_cursor = await queries.list_videos(conn, filters, sort, order, limit,
                                                          cursor)
        return JsonAnswer({"items": [views.video_summary(r, links) for r in rows],
                           "next_cursor": next_cursor, "limit": limit, "sort": sort,
                           "order": order})

    @app.get("/api/v1/videos/{video_id}", summary="One video: state, renditions, playback")
    async def get_video(video_id: uuid.UUID, who: Caller = caller) -> Any:
        async with pool.connection() as conn:
            video = await queries.get_video(conn, str(video_id))
        if video is None or not who.may_see(video["owner"]):
            return _not_found(f"video {video_id}")
        return JsonAnswer(views.video_detail(video, links))

    @app.get("/api/v1/videos/{video_id}/events", summary="A video's timeline, oldest first")
    async def video_events(video_id: uuid.UUID,
                           limit: Annotated[int, Query(ge=1, le=5000)] = 500,
                           cursor: str | None = None, who: Caller = caller) -> Any:
        async with pool.connection() as conn:
            if not who.admin:
                known, owner = await queries.video_owner(conn, str(video_id))
                if not known or owner != who.name:
                    return _not_found(f"video {video_id}")
            rows, next_cursor = await queries.timeline(conn, str(video_id), limit, cursor)
            if not rows and not cursor and not await queries.video_known(conn, str(video_id)):
                return _not_found(f"video {video_id}")
        return JsonAnswer({"video_id": str(video_id),
                           "events": [views.timeline_entry(r) for r in rows],
                           "next_cursor": next_cursor})

    @app.get("/api/v1/stats", summary="Counts, bytes, processing times, throughput")
    async def stats(who: Caller = caller) -> Any:
        """Over every video for the admin, over the caller's own for a tenant."""
        async with pool.connection() as conn:
            found = await queries.stats(conn, None if who.admin else who.name)
        return JsonAnswer({
            "total_videos": found["total"],
            "by_status": {s: found["by_status"].get(s, 0) for s in STATUSES},
            "input_bytes": found["input_bytes"],
            "output_bytes": found["output_bytes"],
            "rendition_bytes": found["rendition_bytes"],
            "processing_seconds": {
                "avg": _seconds(found["avg_latency_ms"]),
                "p95": _seconds(found["p95_latency_ms"]),
            },
            "throughput": {
                "ready_last_hour": found["ready_last_hour"],
                "ready_last_day": found["ready_last_day"],
                "ready_input_bytes_last_hour": found["ready_bytes_last_hour"],
                "ready_input_bytes_last_day": found["ready_bytes_last_day"],
                "submitted_last_hour": found["submitted_last_hour"],
                "submitted_last_day": found["submitted_last_day"],
            },
            "dead_letters": found["dead_letters"],
        })

    @app.get("/api/v1/dead-letters", summary="Dead-lettered records, newest first")
    async def list_dead_letters(original_topic: str | None = None,
                                error_code: str | None = None,
                                consumer_group: str | None = None, video_id: str | None = None,
                                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                                cursor: str | None = None, _: Caller = admin) -> Any:
        filters = queries.DeadLetterFilters(original_topic, error_code, consumer_group, video_id)
        async with pool.connection() as conn:
            rows, next_cursor = await queries.dead_letters(conn, filters, limit, cursor)
        return JsonAnswer({"items": rows, "next_cursor": next_cursor, "limit": limit})

    @app.get("/api/v1/dead-letters/{dead_letter_id}",
             summary="One dead letter, with the original bytes (base64) and stack trace")
    async def get_dead_letter(dead_letter_id: uuid.UUID, _: Caller = admin) -> Any:
        async with pool.connection() as conn:
            row = await queries.dead_letter(conn, str(dead_letter_id))
        if row is None:
            return _not_found(f"dead letter {dead_letter_id}")
        return JsonAnswer(views.dead_letter_detail(row))

    app.include_router(media_router(s3, settings.common.s3_bucket, settings.media_prefixes))
    _add_page(app)
    return app


def _add_page(app: FastAPI) -> None:
    """The catalog page: `/` lists videos, `/videos/<id>` shows one; both are the same
    static document, which routes on its own URL and reads the JSON API."""
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    @app.get("/videos/{video_id}", include_in_schema=False)
    async def video_page(video_id: uuid.UUID) -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    @app.get("/static/vendor/hls.min.js", include_in_schema=False)
    async def hls_js() -> Response:
        if not HLS_JS.is_file():  # without `npm ci` the page still lists, it cannot play
            return Response("/* hls.js is not installed: run `npm ci` */",
                            media_type="text/javascript", status_code=404)
        return FileResponse(HLS_JS, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=3600"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(float(ms) / 1000, 3)

