"""`reelflow transcode`: one transcode worker process (scale out with more of them).

  consume  the priority lanes transcode-lane-high/normal/low, which the lane router fills
           from video-uploaded (or video-uploaded itself with REELFLOW_TRANSCODE_LANES=false);
           video-cancelled, every partition without a group (the member running a video's
           job need not own its partition), before the first job and then as it comes
  decide   LaneSelector: which lane a free slot takes from (higher first, weighted);
           TranscodeWorker: check the source, encode the ladder, upload each rendition;
           skip, or stop, the job of a cancelled video
  emit     transcode-progress while encoding, rendition-done per rendition uploaded,
           transcode-failed when the source cannot be used (and dead-letter, as every
           consumer may); for a video over the chunk threshold, chunk-requested per chunk
           (group `chunks` encodes them; this worker reads their chunk-encoded checkpoints,
           then stitches)
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from schemas import (
    ALL_TOPICS,
    CHUNK_ENCODED,
    CHUNK_REQUESTED,
    LANE_TOPICS,
    RENDITION_DONE,
    TRANSCODE_FAILED,
    TRANSCODE_PROGRESS,
    VIDEO_UPLOADED,
)
from services.shared.cancellations import run_cancellable
from services.shared.codec import EventCodec
from services.shared.consume import ConsumeLoop, LoopSettings
from services.shared.lifecycle import run_worker
from services.shared.media import forkserver
from services.shared.media.toolcheck import check_ffmpeg
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore
from services.transcode.lanes import LaneSelector
from services.transcode.settings import TranscodeSettings
from services.transcode.worker import TranscodeWorker

log = logging.getLogger(__name__)

CONSUMES = LANE_TOPICS
#: What a worker reads instead with the lanes switched off (no router in front).
DIRECT = (VIDEO_UPLOADED,)
EMITS = (TRANSCODE_PROGRESS, RENDITION_DONE, TRANSCODE_FAILED, CHUNK_REQUESTED)
#: Read without a group while a chunked job waits for its chunks (`ChunkWatcher`).
WAITS_FOR = (CHUNK_ENCODED,)


async def serve(settings: TranscodeSettings, stop: asyncio.Event) -> None:
    info = await check_ffmpeg(settings.common)
    log.info("ffmpeg %s at %s", info.version, info.path)
    bootstrap = settings.common.kafka_bootstrap
    producer = EventProducer(bootstrap, EventCodec(ALL_TOPICS), "transcode")  # emit
    worker = TranscodeWorker(settings, producer, ObjectStore(settings.common))  # decide
    worker.sweep()  # scratch space of a crashed run
    consume = LoopSettings(
        group_id=settings.group_id, topics=CONSUMES if settings.lanes else DIRECT,
        concurrency=settings.concurrency, max_attempts=settings.max_attempts,
        backoff_base_s=settings.backoff_base_s, session_timeout_ms=settings.session_timeout_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        group_instance_id=settings.instance_id or None)
    lanes = (LaneSelector([t.name for t in LANE_TOPICS], settings.lane_weights)
             if settings.lanes else None)
    loop = ConsumeLoop(consume, bootstrap, producer.codec, producer, worker, selector=lanes)
    # A job probes its source and then every output it wrote: those ffprobe runs fork from
    # one loaded ffprobe, each ~0.1 CPU-s cheaper than a fresh start.
    async with forkserver.serve(settings.common.ffprobe_path):
        await run_cancellable(loop, worker.jobs, bootstrap, producer.codec, stop)


def run(_: argparse.Namespace) -> int:
    return run_worker("transcode", TranscodeSettings(), serve)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("transcode", help="run a transcode worker (video-uploaded "
                                   "-> rendition-done)")
    parser.set_defaults(func=run)
