"""`GET /api/v1/stats`: counts, bytes, processing times and throughput."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.catalog import contract, queries
from services.catalog.deps import Pool, Who
from services.catalog.projection import STATUSES
from services.catalog.rendering import JsonAnswer

router = APIRouter(tags=["stats"])


@router.get("/api/v1/stats", responses=contract.STATS,
            summary="Counts, bytes, processing times, throughput")
async def stats(pool: Pool, who: Who) -> Any:
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


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(float(ms) / 1000, 3)
