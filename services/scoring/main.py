"""`reelflow scoring`: the quality scorer, a process of its own (scale out with more).

  consume  rendition-done (each video rung, after transcode uploaded it)
  decide   ScoringWorker: VMAF, PSNR and SSIM of the rung against its source (per chunk
           for a rung encoded in chunks), off the path to playback
  emit     rendition-scored (and dead-letter, as every consumer may); the figures are also
           added to the package's metadata.json once it is published
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from schemas import ALL_TOPICS, RENDITION_DONE, RENDITION_SCORED
from services.scoring.settings import ScoringSettings
from services.scoring.worker import ScoringWorker
from services.shared.codec import EventCodec
from services.shared.consume import ConsumeLoop, LoopSettings
from services.shared.lifecycle import run_worker
from services.shared.media.toolcheck import check_ffmpeg
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore

log = logging.getLogger(__name__)

CONSUMES = (RENDITION_DONE,)
EMITS = (RENDITION_SCORED,)


async def serve(settings: ScoringSettings, stop: asyncio.Event) -> None:
    info = await check_ffmpeg(settings.common)
    log.info("ffmpeg %s at %s", info.version, info.path)
    bootstrap = settings.common.kafka_bootstrap
    producer = EventProducer(bootstrap, EventCodec(ALL_TOPICS), "scoring")  # emit
    worker = ScoringWorker(settings, producer, ObjectStore(settings.common))  # decide
    worker.sweep()
    consume = LoopSettings(
        group_id=settings.group_id, topics=CONSUMES, concurrency=settings.concurrency,
        max_attempts=settings.max_attempts, backoff_base_s=settings.backoff_base_s,
        session_timeout_ms=settings.session_timeout_ms,
        group_instance_id=settings.instance_id or None)
    await ConsumeLoop(consume, bootstrap, producer.codec, producer, worker).run_until(stop)


def run(_: argparse.Namespace) -> int:
    settings = ScoringSettings()
    return run_worker("scoring", settings, serve, nice=settings.nice)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("scoring", help="run a quality scorer (rendition-done -> "
                                   "rendition-scored)")
    parser.set_defaults(func=run)
