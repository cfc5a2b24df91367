"""The figures process's HTTP answers, served by faust's own web server."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.figures.app import FiguresApp, _now_ms
from services.figures.view import current


def register(figures: FiguresApp) -> None:
    app = figures.app

    @app.page("/figures")
    async def figures_page(web: Any, request: Any) -> Any:
        """Every kept window, per scheme, and the ones the gauges show right now."""
        now = _now_ms()
        windows = figures.view(now)
        return web.json({"now": now, "current": current(windows, now), "windows": windows})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        # Not healthy until the tables are rebuilt: figures read before would be short.
        if figures.recovered():
            return web.json({"status": "ok"})
        return web.json({"status": "recovering"}, status=503)
