"""`reelflow captions`: one captions worker process (scale out with more of them).

  consume  video-uploaded (a source to transcribe); video-cancelled, every partition
           without a group (the member running a video's job need not own its partition),
           before the first job and then as it comes
  decide   CaptionsWorker: decode the audio once to 16 kHz mono, recognize speech with
           faster-whisper, write WebVTT, SRT, text and JSON; skip, or stop, the job of a
           cancelled video
  emit     captions-done per attempt (outcome ok or no_speech; and dead-letter, as every
           consumer may)
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from schemas import ALL_TOPICS, CAPTIONS_DONE, VIDEO_UPLOADED
from services.captions.settings import CaptionsSettings
from services.captions.speech import Recognizer
from services.captions.worker import CaptionsWorker
from services.shared.cancellations import run_cancellable
from services.shared.codec import EventCodec
from services.shared.consume import ConsumeLoop, LoopSettings
from services.shared.lifecycle import run_worker
from services.shared.media.toolcheck import check_ffmpeg
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore

log = logging.getLogger(__name__)

CONSUMES = (VIDEO_UPLOADED,)
EMITS = (CAPTIONS_DONE,)


async def serve(settings: CaptionsSettings, stop: asyncio.Event) -> None:
    await check_ffmpeg(settings.common)
    recognizer = await asyncio.to_thread(Recognizer, settings)  # the model loads once
    bootstrap = settings.common.kafka_bootstrap
    producer = EventProducer(bootstrap, EventCodec(ALL_TOPICS), "captions")  # emit
    worker = CaptionsWorker(settings, producer, ObjectStore(settings.common), recognizer)
    worker.sweep()  # scratch space of a crashed run
    consume = LoopSettings(
        group_id=settings.group_id, topics=CONSUMES,
        concurrency=settings.concurrency, max_attempts=settings.max_attempts,
        backoff_base_s=settings.backoff_base_s, session_timeout_ms=settings.session_timeout_ms,
        max_poll_interval_ms=settings.max_poll_interval_ms,
        group_instance_id=settings.instance_id or None)
    loop = ConsumeLoop(consume, bootstrap, producer.codec, producer, worker)
    await run_cancellable(loop, worker.jobs, bootstrap, producer.codec, stop)


def run(_: argparse.Namespace) -> int:
    settings = CaptionsSettings()
    return run_worker("captions", settings, serve, nice=settings.nice)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("captions", help="run a captions worker (video-uploaded "
                                   "-> captions-done)")
    parser.set_defaults(func=run)
