"""The operations console: `/console` (the page) and its admin-only JSON API under
`/api/v1/console`: consumer groups with their status, the pipeline charts, stuck work, and
the two actions (redrive a dead letter; replay a group to a point in time, dry run first).
The logic lives in `console_*`, `lag_status` and `stuck`; the routes only wire it up.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from services.catalog import console_actions, console_charts, contract, stuck
from services.catalog.console_actions import ActionRefused
from services.catalog.deps import ConsoleAdmin, History, Pool, Settings
from services.catalog.lag_status import RULES
from services.catalog.rendering import JsonAnswer
from services.catalog.routes.pages import STATIC_DIR

CONSOLE = STATIC_DIR / "console.html"
UPLOT = Path(__file__).resolve().parents[3] / "node_modules/uplot/dist"

page_router = APIRouter(include_in_schema=False)
router = APIRouter(prefix="/api/v1/console", tags=["console"])


@page_router.get("/console")
async def console_page() -> FileResponse:
    return FileResponse(CONSOLE, headers={"Cache-Control": "no-cache"})


@page_router.get("/static/vendor/{name}")
async def uplot_file(name: str) -> Response:
    types = {"uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css"}
    if name not in types:
        return Response(status_code=404)
    if not (UPLOT / name).is_file():  # without `npm ci` the page lists groups, no charts
        return Response("/* uPlot is not installed: run `npm ci` */", media_type=types[name],
                        status_code=404)
    return FileResponse(UPLOT / name, media_type=types[name],
                        headers={"Cache-Control": "public, max-age=3600"})


@router.get("/groups", responses=contract.CONSOLE,
            summary="Every consumer group's lag per partition, with its status")
async def groups(history: History, _: ConsoleAdmin) -> Any:
    latest = history.latest
    return JsonAnswer({"taken_at": latest.at if latest else None, "error": history.error,
                       "window_s": history.window_s, "rules": RULES,
                       "groups": history.groups()})


@router.get("/charts", responses=contract.CONSOLE,
            summary="Throughput, figures, dead letters and retries, last hour")
async def charts(history: History, pool: Pool, settings: Settings, _: ConsoleAdmin) -> Any:
    now = time.time()
    async with pool.connection() as conn:
        letters = await console_charts.dead_letters_by_code(conn, now)
    async with httpx.AsyncClient(timeout=3.0) as client:
        retries = await console_charts.retries(client, settings.prometheus_url, now)
        figures = await console_charts.figures(client, settings.figures_url, now)
    return JsonAnswer({"now": now, "throughput": history.throughput(),
                       "dead_letters": letters, "retries": retries, "figures": figures})


@router.get("/stuck", responses=contract.CONSOLE,
            summary="Videos in a stage for longer than N times its median")
async def stuck_work(pool: Pool, settings: Settings, _: ConsoleAdmin) -> Any:
    async with pool.connection() as conn:
        medians = await stuck.medians(conn)
        videos = await stuck.in_stage(conn)
    return JsonAnswer({"factor": settings.console_stuck_factor,
                       "floor_s": settings.console_stuck_floor_s, "medians_s": medians,
                       "items": stuck.stuck(videos, medians, settings.console_stuck_factor,
                                            settings.console_stuck_floor_s)})


@router.post("/dead-letters/{dead_letter_id}/redrive", responses=contract.REDRIVE,
             summary="Re-publish one dead letter's original record to its topic")
async def redrive(dead_letter_id: uuid.UUID, pool: Pool, settings: Settings,
                  _: ConsoleAdmin) -> Any:
    async with pool.connection() as conn:
        return JsonAnswer(await console_actions.redrive(settings, conn,
                                                        str(dead_letter_id)))


class ReplayRequest(BaseModel):
    group: str = Field(min_length=1, max_length=255)
    topic: str = Field(min_length=1, max_length=255)
    to_datetime: datetime
    #: False (the default) answers the plan only; True applies it.
    execute: bool = False


@router.post("/replay", responses=contract.REPLAY,
             summary="Move a stopped group's offsets to a point in time")
async def replay(body: ReplayRequest, settings: Settings, _: ConsoleAdmin) -> Any:
    when = body.to_datetime if body.to_datetime.tzinfo else body.to_datetime.replace(tzinfo=UTC)
    return JsonAnswer(await console_actions.replay_to(settings, body.group, body.topic,
                                                      when, body.execute))


async def on_refused(_: Request, exc: ActionRefused) -> JSONResponse:
    return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status)
