"""`reelflow packager`: run the packager as its own process.

  consume  rendition-done (one per rendition a transcode worker uploaded), captions-done
  decide   PackagerWorker: once a video's whole ladder is in, package it as CMAF with
           HLS and DASH manifests (encrypted ones, cbcs, with Shaka Packager), and write
           its metadata; captions that come later make a new revision of the manifests
           over the same segments
  emit     content-keys (an encrypted attempt's wrapped key), video-transcoded (the
           package, or a revision of it, is ready), packaging-failed (and dead-letter, as
           every consumer may)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil

from schemas import (
    ALL_TOPICS,
    CAPTIONS_DONE,
    CONTENT_KEYS,
    PACKAGING_FAILED,
    RENDITION_DONE,
    VIDEO_TRANSCODED,
)
from services.packager.settings import PackagerSettings
from services.packager.worker import PackagerWorker
from services.shared.codec import EventCodec
from services.shared.consume import ConsumeLoop, LoopSettings
from services.shared.lifecycle import run_worker
from services.shared.media.toolcheck import check_shaka_packager
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore

log = logging.getLogger(__name__)

CONSUMES = (RENDITION_DONE, CAPTIONS_DONE)
EMITS = (VIDEO_TRANSCODED, PACKAGING_FAILED, CONTENT_KEYS)


async def serve(settings: PackagerSettings, stop: asyncio.Event) -> None:
    # Scratch space of a crashed run holds nothing anyone references.
    shutil.rmtree(settings.job_root, ignore_errors=True)
    await check_shaka_packager(settings.common)  # encrypted packages: fail at start, not later
    bootstrap = settings.common.kafka_bootstrap
    producer = EventProducer(bootstrap, EventCodec(ALL_TOPICS), "packager")  # emit
    worker = PackagerWorker(settings, producer, ObjectStore(settings.common))  # decide
    consume = LoopSettings(
        group_id=settings.group_id, topics=CONSUMES, max_attempts=settings.max_attempts,
        backoff_base_s=settings.backoff_base_s, group_instance_id=settings.instance_id or None)
    # The worker holds a video's renditions until its ladder is complete: its commit floor
    # keeps the group's offset at the first record it still needs, so a restart re-reads them.
    loop = ConsumeLoop(consume, bootstrap, producer.codec, producer, worker,
                       commit_floor=worker.commit_floor, on_revoked=worker.partitions_revoked)
    await loop.run_until(stop)


def run(_: argparse.Namespace) -> int:
    return run_worker("packager", PackagerSettings(), serve)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("packager", help="run the packager (rendition-done -> "
                                   "video-transcoded)")
    parser.set_defaults(func=run)
