"""The console's pipeline charts over the last hour, each as uPlot reads it: `times`
(epoch seconds) and one equally long list per series.

- dead letters by code: the catalog's own `dead_letters` table, per minute;
- retries: `reelflow_retries_total` of every service, per minute, from Prometheus (the
  counters live in each service's process; Prometheus scrapes them all);
- the windowed figures: the figures service's 1-minute tumbling windows (`GET /figures`).

Throughput per topic comes from the sampler's history (`ConsoleHistory.throughput`).
Shaping is pure; the readers around it only fetch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from services.catalog.queries import Conn

MINUTE = 60


def minute_grid(now: float, span_s: float = 3600) -> list[float]:
    """The start of every minute of the last `span_s` seconds, oldest first."""
    last = int(now // MINUTE) * MINUTE
    return [float(t) for t in range(int(last - span_s + MINUTE), last + 1, MINUTE)]


def per_minute(rows: Iterable[tuple[float, str, float]], grid: list[float]
               ) -> dict[str, list[float]]:
    """(minute start, series name, value) rows as one list per series on `grid`, 0 where
    a minute has no row."""
    index = {t: i for i, t in enumerate(grid)}
    series: dict[str, list[float]] = {}
    for minute, name, value in rows:
        at = index.get(float(minute))
        if at is None:
            continue
        series.setdefault(name, [0.0] * len(grid))[at] += value
    return dict(sorted(series.items()))


async def dead_letters_by_code(conn: Conn, now: float) -> dict[str, Any]:
    grid = minute_grid(now)
    cur = await conn.execute(
        "SELECT extract(epoch FROM date_trunc('minute', occurred_at))::float8, error_code,"
        " count(*) FROM dead_letters WHERE occurred_at >= to_timestamp(%s)"
        " GROUP BY 1, 2", (grid[0],))
    return {"times": grid, "series": per_minute(await cur.fetchall(), grid), "unit": "per minute"}


def prometheus_series(answer: Mapping[str, Any], label: str, grid: list[float]
                      ) -> dict[str, list[float]]:
    """A Prometheus `query_range` matrix as one list per value of `label` on `grid`."""
    rows = [(float(t), result["metric"].get(label, "-"), float(v))
            for result in answer.get("data", {}).get("result", [])
            for t, v in result["values"]]
    return per_minute(rows, grid)


async def retries(client: httpx.AsyncClient, prometheus_url: str, now: float) -> dict[str, Any]:
    grid = minute_grid(now)
    try:
        reply = await client.get(f"{prometheus_url}/api/v1/query_range", params={
            "query": "sum by (group) (increase(reelflow_retries_total[1m]))",
            "start": grid[0], "end": grid[-1], "step": MINUTE})
        reply.raise_for_status()
        series = prometheus_series(reply.json(), "group", grid)
    except (httpx.HTTPError, ValueError, KeyError):
        return {"times": grid, "series": {}, "unit": "per minute",
                "error": "prometheus_unavailable"}
    return {"times": grid, "series": series, "unit": "per minute"}


def figure_series(answer: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The 1-minute windows of the last hour: counts, and time to playable in seconds."""
    grid = minute_grid(now)
    counts: list[tuple[float, str, float]] = []
    playable: list[tuple[float, str, float]] = []
    for window in answer.get("windows", {}).get("1m", []):
        start, overall = window["start"] / 1000, window["overall"]
        for name in ("accepted", "ready", "failed_total", "cancelled"):
            counts.append((start, name, float(overall.get(name) or 0)))
        for name in ("playable_p50_ms", "playable_p95_ms"):
            if overall.get(name) is not None:
                playable.append((start, name.replace("_ms", "_s"), overall[name] / 1000))
    current = (answer.get("current") or {}).get("5m") or {}
    return {"times": grid, "counts": per_minute(counts, grid),
            "playable": per_minute(playable, grid),
            "failure_rate_5m": (current.get("overall") or {}).get("failure_rate")}


async def figures(client: httpx.AsyncClient, figures_url: str, now: float) -> dict[str, Any]:
    try:
        reply = await client.get(f"{figures_url}/figures")
        reply.raise_for_status()
        return figure_series(reply.json(), now)
    except (httpx.HTTPError, ValueError, KeyError):
        grid = minute_grid(now)
        return {"times": grid, "counts": {}, "playable": {}, "failure_rate_5m": None,
                "error": "figures_unavailable"}
