"""`/health` (Postgres, Kafka, the endpoint directory loaded) and `/metrics` (with the
retries-pending and endpoints-disabled gauges refreshed on each scrape)."""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.shared.http_errors import HEALTH, METRICS
from services.webhooks import metrics
from services.webhooks.deps import Store

router = APIRouter()


@router.get("/health", responses=HEALTH,
            summary="Postgres, Kafka and the endpoint directory (200, or 503 with details)")
async def health(request: Request, store: Store) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        async with store.pool.connection(timeout=3) as conn:
            await conn.execute("SELECT 1")
        checks["postgres"] = "ok"
    except (psycopg.Error, TimeoutError, OSError) as exc:
        checks["postgres"] = f"error: {type(exc).__name__}"
    producer = request.app.state.producer
    checks["kafka"] = "ok" if await producer.healthy() else "error: broker unreachable"
    loaded = request.app.state.admin.directory.caught_up.is_set()
    checks["endpoints"] = "ok" if loaded else "error: still loading"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", "checks": checks},
                        status_code=200 if healthy else 503)


@router.get("/metrics", response_class=PlainTextResponse, responses=METRICS,
            summary="Prometheus metrics (text exposition format)")
async def prometheus(request: Request, store: Store) -> Response:
    table = request.app.state.admin.directory.table
    metrics.ENDPOINTS_DISABLED.set(sum(1 for e in table.by_id.values()
                                       if not e.deleted and not e.enabled))
    # The other metrics are still worth scraping while Postgres is away.
    with contextlib.suppress(psycopg.Error, TimeoutError):
        metrics.RETRIES_PENDING.set(await store.pending_count())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
