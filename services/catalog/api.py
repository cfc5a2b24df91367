"""The catalog's HTTP application (FastAPI; OpenAPI at `/docs`): the routers (`routes/`),
the state they read through `deps`, CORS and request timing. Read-only: it consumes and
emits nothing.

Every `/api/v1` read needs `X-API-Key`: a tenant's key sees its own videos (list, detail,
timeline and stats are scoped to them; another tenant's video is 404), the admin key sees
all, and dead letters and the operations console (`/console`, `/api/v1/console`) are
the admin's only. `/media` takes no API key: a public video's paths hold unguessable video
UUIDs, and a signed video's objects need a playback token in the query (browsers, players
and CDNs fetch them without headers).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import AsyncConnectionPool

from services.catalog import metrics, views
from services.catalog.console_actions import ActionRefused
from services.catalog.console_history import ConsoleHistory
from services.catalog.paging import BadCursor
from services.catalog.playback_guard import PlaybackGuard
from services.catalog.projector import Projector
from services.catalog.queues import QueueBoard
from services.catalog.routes import (
    console,
    cpix,
    dead_letters,
    events,
    health,
    license,
    media,
    pages,
    stats,
    transcripts,
    videos,
)
from services.catalog.settings import CatalogSettings
from services.shared import api_document, http_errors
from services.shared import keyring as keys
from services.shared.content_keys import ContentKeyring
from services.shared.direct_route import DirectRoute, ExpressLane
from services.shared.envelope import Keks
from services.shared.keyring import Keyring
from services.shared.producer import EventProducer
from services.shared.request_timer import RequestTimer
from services.shared.signing_keys import SigningKeyring

Role = Literal["all", "api", "projector"]


def create_app(settings: CatalogSettings, pool: AsyncConnectionPool, producer: EventProducer,
               projector: Projector | None, s3: Any, keyring: Keyring,
               role: Role = "all", *, signing: SigningKeyring,
               content_keys: ContentKeyring, queues: QueueBoard | None = None) -> FastAPI:
    # FastAPI's own request spans only when something exports them: with no exporter the
    # SDK provider still records one per request, a tenth of a detail's CPU (profiled).
    tracing = settings.common.otel_exporter != "none"
    app = FastAPI(title="Reelflow catalog", version="1",
                  description="Videos, renditions, packages, timelines and playback.",
                  dependencies=[Depends(http_errors.plain_parameters)],
                  telemetry={"tracing": tracing})
    state = app.state
    state.settings, state.pool, state.producer, state.projector = (settings, pool, producer,
                                                                   projector)
    state.s3, state.role = s3, role
    state.queues = queues or QueueBoard()
    state.console_history = ConsoleHistory(settings.console_window_s)
    state.caller = keys.caller_of(keyring, metered=False)
    state.links = views.MediaLinks(settings.common.s3_bucket, settings.public_base_url)
    state.guard = PlaybackGuard(pool, signing, settings.media_policy_cache_s)
    state.content_keys, state.keks = content_keys, Keks.from_settings(settings.common)
    keys.install(app)
    http_errors.install(app)
    app.add_exception_handler(RequestValidationError, _on_invalid)  # type: ignore[arg-type]
    # POST for the license service (players on other origins send ClearKey requests).
    app.add_middleware(CORSMiddleware, allow_origins=["*"],
                       allow_methods=["GET", "HEAD", "POST"],
                       allow_headers=["*"],
                       expose_headers=["Content-Range", "Content-Length", "Accept-Ranges"])
    app.add_middleware(RequestTimer, histogram=metrics.HTTP_SECONDS)
    app.add_exception_handler(BadCursor, _on_bad_cursor)  # type: ignore[arg-type]
    app.add_exception_handler(ActionRefused, console.on_refused)  # type: ignore[arg-type]
    api_document.install(app, open_prefixes=("/health", "/metrics", "/media", "/license"))
    if role == "projector":
        app.include_router(health.router)
        return app  # a projector-only process serves just /health and /metrics
    # The video routes first: the router tries routes in order, and the detail is the
    # hottest read; every other path is distinct from /api/v1/videos.
    for router in (videos.router, health.router, events.router, transcripts.router, stats.router,
                   dead_letters.router, media.router, pages.router, console.page_router,
                   console.router, license.router, cpix.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    return app


def front(app: FastAPI) -> ExpressLane:
    """What the server runs: the app behind an `ExpressLane` for the video detail, the
    hottest read (pollers ask every 2 s), answered without the middleware stack and the
    router; every other request goes to the app as it is."""
    assert isinstance(videos.DETAIL, DirectRoute)
    return ExpressLane(app, [videos.DETAIL])


async def _on_bad_cursor(_: Request, exc: BadCursor) -> JSONResponse:
    return JSONResponse({"error": "bad_cursor", "detail": str(exc)}, status_code=400)


async def _on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own checks (path UUIDs, bounds, bodies) in the one error model too."""
    return JSONResponse({"error": "invalid_request",
                         "detail": http_errors.validation_problems(exc)}, status_code=422)
