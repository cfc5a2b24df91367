"""`reelflow transcode`: run one transcode worker process (scale out with more of them)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from prometheus_client import start_http_server

from schemas import ALL_TOPICS, VIDEO_CANCELLED, VIDEO_UPLOADED
from services.shared import telemetry
from services.shared.codec import EventCodec
from services.shared.consume import ConsumeLoop, LoopSettings
from services.shared.lifecycle import run_until_signalled
from services.shared.media.toolcheck import check_ffmpeg
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore
from services.transcode.settings import TranscodeSettings
from services.transcode.worker import TranscodeWorker

log = logging.getLogger(__name__)


async def serve(settings: TranscodeSettings, stop: asyncio.Event) -> None:
    info = await check_ffmpeg(settings.common)
    log.info("ffmpeg %s at %s", info.version, info.path)
    codec = EventCodec(ALL_TOPICS)
    producer = EventProducer(settings.common.kafka_bootstrap, codec, "transcode")
    worker = TranscodeWorker(settings, producer, ObjectStore(settings.common))
    worker.sweep()
    loop = ConsumeLoop(
        LoopSettings(group_id=settings.group_id, topics=(VIDEO_UPLOADED,),
                     control_topics=(VIDEO_CANCELLED,), concurrency=settings.concurrency,
                     max_attempts=settings.max_attempts,
                     backoff_base_s=settings.backoff_base_s,
                     session_timeout_ms=settings.session_timeout_ms,
                     max_poll_interval_ms=settings.max_poll_interval_ms,
                     group_instance_id=settings.instance_id or None),
        settings.common.kafka_bootstrap, codec, producer, worker,
    )
    await loop.run_until(stop)


def run(_: argparse.Namespace) -> int:
    settings = TranscodeSettings()
    telemetry.configure("transcode", settings.common.log_level, settings.common.otel_exporter)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    asyncio.run(run_until_signalled(lambda stop: serve(settings, stop)))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("transcode", help="run a transcode worker (video-uploaded "
                                   "-> rendition-done)")
    parser.set_defaults(func=run)
