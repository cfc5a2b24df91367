"""`reelflow chunks`: one chunk worker of split and stitch (scale out with more of them).

  consume  chunk-requested (one chunk of a long video: every rung over its time range);
           video-cancelled, every partition without a group (a video's chunks are spread
           over the whole group), before the first job and then as it comes
  decide   ChunkWorker: encode the chunk's rungs (or find its checkpoint), upload them;
           skip, or stop, the chunks of a cancelled video
  emit     chunk-encoded, the chunk's checkpoint (and dead-letter, as every consumer may)
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from schemas import ALL_TOPICS, CHUNK_ENCODED, CHUNK_REQUESTED
from services.chunks.settings import ChunksSettings
from services.chunks.worker import ChunkWorker
from services.shared.cancellations import run_cancellable
from services.shared.codec import EventCodec
from services.shared.consume import ConsumeLoop, LoopSettings
from services.shared.lifecycle import run_worker
from services.shared.media.toolcheck import check_ffmpeg
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore

log = logging.getLogger(__name__)

CONSUMES = (CHUNK_REQUESTED,)
EMITS = (CHUNK_ENCODED,)


async def serve(settings: ChunksSettings, stop: asyncio.Event) -> None:
    info = await check_ffmpeg(settings.common)
    log.info("ffmpeg %s at %s", info.version, info.path)
    bootstrap = settings.common.kafka_bootstrap
    producer = EventProducer(bootstrap, EventCodec(ALL_TOPICS), "chunks")  # emit
    worker = ChunkWorker(settings, producer, ObjectStore(settings.common))  # decide
    worker.sweep()
    consume = LoopSettings(
        group_id=settings.group_id, topics=CONSUMES, concurrency=settings.concurrency,
        max_attempts=settings.max_attempts, backoff_base_s=settings.backoff_base_s,
        session_timeout_ms=settings.session_timeout_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        group_instance_id=settings.instance_id or None)
    loop = ConsumeLoop(consume, bootstrap, producer.codec, producer, worker)
    await run_cancellable(loop, worker.jobs, bootstrap, producer.codec, stop)


def run(_: argparse.Namespace) -> int:
    return run_worker("chunks", ChunksSettings(), serve)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("chunks", help="run a chunk worker (chunk-requested -> "
                                   "chunk-encoded)")
    parser.set_defaults(func=run)
