"""`/health` (Postgres, Kafka and, in a process that projects, the projector) and
`/metrics` (Prometheus, with the videos-by-status gauge refreshed on each scrape)."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.catalog import metrics, queries
from services.catalog.deps import Pool, Producer, ProjectorDep
from services.catalog.projection import STATUSES
from services.shared.http_errors import HEALTH, METRICS

router = APIRouter()


@router.get("/health", responses=HEALTH,
            summary="Postgres and Kafka reachability (200, or 503 with details)")
async def health(request: Request, pool: Pool, producer: Producer,
                 projector: ProjectorDep) -> JSONResponse:
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
    return JSONResponse({"status": "ok" if healthy else "degraded",
                         "role": request.app.state.role, "checks": checks},
                        status_code=200 if healthy else 503)


@router.get("/metrics", response_class=PlainTextResponse, responses=METRICS,
            summary="Prometheus metrics (text exposition format)")
async def prometheus(pool: Pool) -> Response:
    try:
        async with pool.connection(timeout=3) as conn:
            counts = await queries.status_counts(conn)
        for status in STATUSES:
            metrics.VIDEOS.labels(status).set(counts.get(status, 0))
    except (psycopg.Error, TimeoutError):
        pass  # the other metrics are still worth scraping while Postgres is away
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
