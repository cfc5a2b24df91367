"""The figures as Prometheus gauges (`reelflow_figures_*`), computed at each scrape.

Each gauge shows, per scheme (`window` label: 1m, 5m, 60m), the window that contains now and
has seen the most of the past: `window="5m"` is the last five minutes to the minute. The
overall figures carry `tenant="*"`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.figures.figures import ALL_TENANTS

UNDECODABLE = Counter("reelflow_figures_undecodable_records", "Records the figures skipped "
                      "because they do not decode (the catalog dead-letters them)",
                      ["topic", "code"])

_COUNTS = (
    ("videos_accepted", "accepted", "Videos accepted (video-uploaded)"),
    ("videos_ready", "ready", "Videos that became playable (video-transcoded)"),
    ("videos_cancelled", "cancelled", "Videos cancelled"),
    ("renditions_done", "renditions", "Renditions stored (rendition-done)"),
    ("bytes_in", "bytes_in", "Source bytes accepted"),
    ("bytes_out", "bytes_out", "Packaged bytes written (video-transcoded total_bytes)"),
)


class FiguresCollector(Collector):
    def __init__(self, shown: Callable[[], Mapping[str, Any]]) -> None:
        #: scheme name -> the shown window (view.current), or None when it saw nothing
        self._shown = shown

    def collect(self) -> Iterator[GaugeMetricFamily]:
        shown = self._shown()
        labels = ["window", "tenant"]
        counts = {name: GaugeMetricFamily(f"reelflow_figures_{name}", doc, labels=labels)
                  for name, _, doc in _COUNTS}
        failed = GaugeMetricFamily("reelflow_figures_videos_failed",
                                   "Videos failed, by error code", labels=[*labels, "code"])
        ratio = GaugeMetricFamily("reelflow_figures_failure_ratio",
                                  "Failed over finished (ready + failed)", labels=labels)
        playable = GaugeMetricFamily("reelflow_figures_time_to_playable_seconds",
                                     "Ingest-to-playable percentiles",
                                     labels=[*labels, "quantile"])
        letters = GaugeMetricFamily("reelflow_figures_dead_letters",
                                    "Dead letters, by error code", labels=["window", "code"])
        for scheme, window in shown.items():
            figures = {ALL_TENANTS: window["overall"], **window["tenants"]} if window else {}
            if not figures:  # nothing happened: the overall counts are zeros, not absent
                for name, _, _ in _COUNTS:
                    counts[name].add_metric([scheme, ALL_TENANTS], 0)
            for tenant, fig in figures.items():
                for name, field, _ in _COUNTS:
                    counts[name].add_metric([scheme, tenant], fig[field])
                for code, n in fig["failed"].items():
                    failed.add_metric([scheme, tenant, code], n)
                if fig["failure_rate"] is not None:
                    ratio.add_metric([scheme, tenant], fig["failure_rate"])
                for quantile, field in (("0.5", "playable_p50_ms"), ("0.95", "playable_p95_ms")):
                    if fig[field] is not None:
                        playable.add_metric([scheme, tenant, quantile], fig[field] / 1000)
            if window:
                for code, n in window["overall"]["dead_letters"].items():
                    letters.add_metric([scheme, code], n)
        yield from counts.values()
        yield from (failed, ratio, playable, letters)
