"""Ingest's HTTP application: the routers (`routes/`), the state they read through `deps`,
and how refusals are answered. A `202` means the source is durably stored and the event
durably on Kafka (acks=all, idempotent producer). Every refusal is a coded 4xx that leaves
nothing behind in storage and emits no event. Every write needs `X-API-Key` (see `gate`);
the video's `owner` is the key's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram

from services.ingest.errors import Rejection, Unavailable
from services.ingest.resumable import ResumableUploads
from services.ingest.routes import health, imports, keys, playback, priority, uploads, videos
from services.ingest.settings import IngestSettings
from services.ingest.state import IngestState
from services.ingest.upload import return_free_heap_to_the_os
from services.shared import api_document, http_errors, keyring
from services.shared.media import forkserver
from services.shared.producer import EventProducer
from services.shared.request_timer import RequestTimer
from services.shared.storage import ObjectStore

HTTP_SECONDS = Histogram("reelflow_ingest_http_request_seconds", "Ingest HTTP latency",
                         ["method", "route", "status"])
log = logging.getLogger(__name__)
REFUSALS = Counter("reelflow_ingest_refusals_total", "Refused submissions", ["error"])


def create_app(settings: IngestSettings, producer: EventProducer, store: ObjectStore,
               state: IngestState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Every upload is probed: its ffprobe runs fork from one loaded ffprobe.
        async with state.running(producer), forkserver.serve(settings.common.ffprobe_path):
            return_free_heap_to_the_os()
            sweeper = asyncio.create_task(_sweep(resumable, settings.upload_sweep_s),
                                          name="upload-sweep")
            try:
                yield
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper

    resumable = ResumableUploads(state.pool, store, settings.common.pg_dsn, settings.common,
                                 settings.upload_expiry_s)
    app = FastAPI(title="Reelflow ingest", version="1", lifespan=lifespan,
                  dependencies=[Depends(http_errors.plain_parameters)])
    app.state.settings, app.state.producer, app.state.store = settings, producer, store
    app.state.ingest, app.state.uploads = state, resumable
    app.state.streaming = asyncio.Semaphore(settings.concurrent_uploads)
    keyring.install(app)
    http_errors.install(app)
    app.add_exception_handler(RequestValidationError, _on_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(Unavailable, _on_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Rejection, _on_rejection)  # type: ignore[arg-type]
    app.add_middleware(RequestTimer, histogram=HTTP_SECONDS)
    for router in (keys.router, videos.router, priority.router, health.router, imports.router,
                   uploads.router, playback.router):
        app.include_router(router)
    api_document.install(app, open_prefixes=("/health", "/metrics"))
    return app


async def _sweep(resumable: ResumableUploads, every_s: float) -> None:
    """Expire abandoned tus uploads, for as long as the app runs."""
    while True:
        try:
            if swept := await resumable.sweep():
                log.info("expired %d abandoned uploads", swept)
        except Exception:
            log.exception("sweeping expired uploads failed; retrying next round")
        await asyncio.sleep(every_s)


async def _on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's own checks (path UUIDs, the key-admin body) as coded refusals too."""
    problems = http_errors.validation_problems(exc)
    REFUSALS.labels("invalid_request").inc()
    return JSONResponse({"error": "invalid_request", "detail": problems}, status_code=422)


async def _on_unavailable(_: Request, exc: Unavailable) -> JSONResponse:
    return JSONResponse({"error": "unavailable", "detail": str(exc)}, status_code=503,
                        headers={"Retry-After": "5"})


async def _on_rejection(_: Request, exc: Rejection) -> JSONResponse:
    REFUSALS.labels(exc.code).inc()
    return JSONResponse(exc.body(), status_code=exc.status)
