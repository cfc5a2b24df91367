"""`reelflow figures`: windowed pipeline figures, kept by a faust-streaming app.

Consumes, as consumer group `figures` (REELFLOW_FIGURES_GROUP_ID), every pipeline topic:
  video-uploaded, video-cancelled, rendition-done, transcode-failed, video-transcoded,
  packaging-failed, dead-letter.
Keeps, in tables rebuilt from their compacted changelog topics at start (schemas/registry.py):
  owners        video_id -> tenant and upload time (from video-uploaded)
  windows       1-minute tumbling, 5- and 60-minute hopping windows, per tenant: accepted,
                ready, failed by code, cancelled, renditions, bytes in and out, and a
                time-to-playable histogram (p50 and p95 are computed from it)
  dead letters  the same windows, dead letters by code
Serves on REELFLOW_FIGURES_PORT: /figures (JSON), /metrics (reelflow_figures_*), /health.
"""

from __future__ import annotations

import argparse
import logging

import faust
from prometheus_client import REGISTRY

from services.figures import pages
from services.figures.app import FiguresApp
from services.figures.export import FiguresCollector
from services.figures.settings import FiguresSettings
from services.shared import telemetry


def run(_: argparse.Namespace) -> int:
    settings = FiguresSettings()
    telemetry.configure("figures", settings.common.log_level, settings.common.otel_exporter)
    # faust and mode narrate every rebalance and recovery step at INFO.
    for noisy in ("faust", "mode", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    figures = FiguresApp(settings)
    pages.register(figures)
    REGISTRY.register(FiguresCollector(figures.shown))
    worker = faust.Worker(figures.app, quiet=True, loglevel=settings.common.log_level,
                          override_logging=False, redirect_stdouts=False)
    # faust drops its terminal spinner only when it configures logging itself (we keep ours);
    # left on, it writes cursor escapes into the log file.
    worker.spinner = None
    worker.execute_from_commandline()  # returns only by exiting: SIGTERM stops it cleanly


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("figures", help="run the windowed pipeline figures "
                                   "(faust app: /figures, /metrics)")
    parser.set_defaults(func=run)
