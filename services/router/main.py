"""`reelflow router`: the lane router, one process per deployment.

  consume  video-uploaded (a job to schedule), video-cancelled (drop a held job),
           video-reprioritised (move a held job); at start, the lanes (what a previous run
           already dispatched); all the while, the transcode group's offsets on the lanes
  decide   LaneRouter: lane by priority class, fair share between tenants inside a lane
           (deficit round robin), admission while the transcode group has room on a lane
  emit     transcode-lane-high/normal/low (the upload, forwarded when it gets a slot),
           lane-queue (each lane's held jobs in order and its pace; and dead-letter, as
           every consumer may)
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from schemas import (
    ALL_TOPICS,
    LANE_QUEUE,
    LANE_TOPICS,
    VIDEO_CANCELLED,
    VIDEO_REPRIORITISED,
    VIDEO_UPLOADED,
)
from services.router.router import LaneRouter
from services.router.settings import RouterSettings
from services.shared.codec import EventCodec
from services.shared.consume import ConsumeLoop, LoopSettings
from services.shared.lifecycle import run_worker, wait_for_kafka
from services.shared.producer import EventProducer

log = logging.getLogger(__name__)

CONSUMES = (VIDEO_UPLOADED,)
#: Handled at once: they change held jobs, they never wait for a slot.
CONTROL = (VIDEO_CANCELLED, VIDEO_REPRIORITISED)
EMITS = (*LANE_TOPICS, LANE_QUEUE)
#: Records taken per poll (the consume loop's concurrency; the handler never waits).
INTAKE = 500


async def serve(settings: RouterSettings, stop: asyncio.Event) -> None:
    bootstrap = settings.common.kafka_bootstrap
    producer = EventProducer(bootstrap, EventCodec(ALL_TOPICS), "router")  # emit
    router = LaneRouter(settings, producer, producer.codec)  # decide
    await wait_for_kafka(bootstrap, router.adopt_transcode_offsets, 600.0)
    await wait_for_kafka(bootstrap, router.recall_dispatched, 600.0)
    # Handling a record is a few dictionary operations, so every partition stays resumed
    # and one poll takes whatever the broker has: a burst of uploads is in the fair queue
    # within a poll or two, not one record per fetch round trip.
    consume = LoopSettings(group_id=settings.group_id, topics=CONSUMES, control_topics=CONTROL,
                           concurrency=INTAKE, auto_offset_reset=settings.start_from)
    loop = ConsumeLoop(consume, bootstrap, producer.codec, producer, router,
                       commit_floor=router.commit_floor, on_revoked=router.partitions_revoked)
    await wait_for_kafka(bootstrap, producer.start, 600.0)
    consuming = asyncio.create_task(loop.run())
    admitting = asyncio.create_task(router.run_admissions(stop))
    try:
        await stop.wait()
    finally:
        loop.stop()
        stop.set()
        await asyncio.gather(consuming, admitting, return_exceptions=True)
        await producer.stop()


def run(_: argparse.Namespace) -> int:
    return run_worker("router", RouterSettings(), serve)


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("router", help="run the lane router (video-uploaded -> "
                                   "the priority lanes, fair share per tenant)")
    parser.set_defaults(func=run)
