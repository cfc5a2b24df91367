"""`/health` (S3 and Kafka reachability) and `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.ingest.deps import Producer, Store
from services.shared.http_errors import HEALTH, METRICS
from services.shared.storage import StorageError

router = APIRouter()


@router.get("/metrics", response_class=PlainTextResponse, responses=METRICS,
            summary="Prometheus metrics (text exposition format)")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/health", responses=HEALTH, summary="S3 and Kafka reachability")
async def health(store: Store, producer: Producer) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await asyncio.to_thread(store.head, store.ref("health-probe"))
        checks["s3"] = "ok"
    except StorageError as exc:
        checks["s3"] = f"error: {exc}"
    checks["kafka"] = "ok" if await producer.healthy() else "error: broker unreachable"
    healthy = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", "checks": checks},
                        status_code=200 if healthy else 503)
