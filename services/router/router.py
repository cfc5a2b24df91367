"""The lane router's shell: holds the jobs, admits them to the lanes, reports the queues.

Why a router that holds the jobs (the design decision of issue 16). Kafka hands a
partition's records to one member in offset order, so neither priority nor fairness can
be had by reordering inside a topic: a priority-10 video keyed onto a partition behind
twenty priority-1 ones waits for all of them, and keying lanes by tenant only shares the
partitions between tenants by hash (two tenants on one partition are served in arrival
order, and a partition count bounds the tenants that can be told apart). So the order is
decided before a job reaches a topic the workers read:

- The router reads `video-uploaded` and keeps every job it has not dispatched in memory,
  per lane (`lane_for(priority)`) and per tenant (`owner`) in a `FairQueue` (deficit round
  robin, one job per turn). It is durable in Kafka, not in a database: the router's
  committed offset on each `video-uploaded` (and `video-reprioritised`) partition is held
  back to the oldest record whose job it still holds (the consume loop's commit floor, as
  the packager does), so a restarted router reads its held jobs again. What it had already
  dispatched it learns at start by reading the lane topics (their records keep the
  upload's event id), so a restart dispatches nothing twice.
- It dispatches to a lane topic only while the transcode group has room there (admission
  control by lane lag): every `tick_s` it reads the group's committed offsets, the lanes'
  log ends and the members' assignments, and sends a job to a partition of the member
  with the fewest unfinished jobs, up to `depth_per_worker` unfinished jobs of that lane
  per member (the running one and the next). The lanes therefore stay short, and the
  fair-share order decided here is the order workers see: a tenant with 100 videos is
  ahead of another tenant's single video by at most about one job per worker.
- Workers pick between lanes (higher first, weighted: `services/transcode/lanes.py`).
- Each change of a lane's queue is published as a `lane-queue` snapshot: the held jobs in
  dispatch order, the dispatched-but-unfinished count and the lane's measured pace. The
  catalog turns that into a waiting video's position and estimated start.

One router runs per deployment (it is the one writer of the lanes). Two would each admit
up to the depth, so the lanes would hold twice as many jobs; nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from schemas import LANE_QUEUE, LANE_TOPICS, VIDEO_UPLOADED, Topic
from schemas.events import LaneQueue, QueuedJob, VideoCancelled, VideoReprioritised, VideoUploaded
from services.router.schedule import (
    ANONYMOUS,
    FairQueue,
    Job,
    JobKey,
    PartitionLoad,
    Throughput,
    admit_partition,
    lane_for,
    owners_of,
)
from services.router.settings import RouterSettings
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.consume import Delivery, PermanentFailure
from services.shared.consumers import new_consumer, started
from services.shared.events import new_event_id, now
from services.shared.group_lag import describe_groups
from services.shared.kafka_security import client_options
from services.shared.producer import EventProducer

log = logging.getLogger(__name__)

LANES: dict[str, Topic] = {t.name: t for t in LANE_TOPICS}


@dataclass
class _Held:
    """A job the router holds, with the upload it will forward."""

    lane: str
    job: Job
    upload: VideoUploaded


@dataclass(frozen=True)
class LaneView:
    """One look at a lane on the broker: per partition, owner and unfinished jobs."""

    loads: tuple[PartitionLoad, ...]
    committed: int

    @property
    def dispatched(self) -> int:
        return sum(load.outstanding for load in self.loads)


class LaneRouter:
    """The consume-loop handler (uploads, cancellations, reprioritisations) and the
    admission loop (`run_admissions`)."""

    def __init__(self, settings: RouterSettings, producer: EventProducer,
                 codec: EventCodec) -> None:
        self.settings = settings
        self.producer = producer
        self.codec = codec
        self.queues = {lane: FairQueue() for lane in LANES}
        self.held: dict[JobKey, _Held] = {}
        #: Jobs already on a lane topic (from this run, and read back at start).
        self.dispatched: set[JobKey] = set()
        #: Offsets of the records each held job still needs, per input partition.
        self._holds: dict[TopicPartition, dict[JobKey, int]] = {}
        #: Reprioritisations read before their upload (another topic, another pace).
        self._early: dict[JobKey, int] = {}
        self._cancelled: dict[str, datetime] = {}
        self._seq = 0
        self._pace = {lane: Throughput(timedelta(seconds=settings.throughput_window_s))
                      for lane in LANES}
        self._committed: dict[str, int] = {}
        self._published: dict[str, tuple[tuple[JobKey, ...], int, float | None]] = {}
        self._published_at: dict[str, float] = {}

    # -- start ----------------------------------------------------------------------------
    async def adopt_transcode_offsets(self) -> None:
        """Where a first run starts: on each `video-uploaded` partition the router's group
        has no offset for, the transcode group's. A deployment that ran its workers on
        `video-uploaded` directly (before the lanes) therefore hands over exactly the
        uploads they had not taken yet, instead of routing the whole log again; a new one
        (neither group has offsets) starts where `start_from` says."""
        bootstrap = self.settings.common.kafka_bootstrap
        tps = [TopicPartition(VIDEO_UPLOADED.name, p) for p in range(VIDEO_UPLOADED.partitions)]
        mine = new_consumer(bootstrap, group_id=self.settings.group_id)
        theirs = new_consumer(bootstrap, group_id=self.settings.transcode_group)
        async with started(mine), started(theirs):
            missing = [tp for tp in tps if await mine.committed(tp) is None]
            adopted = {}
            for tp in missing:
                offset = await theirs.committed(tp)
                if offset is not None:
                    adopted[tp] = OffsetAndMetadata(offset, "")
            if adopted:
                mine.assign(list(adopted))
                await mine.commit(adopted)
                log.info("first run: starting where group %s stands on %s",
                         self.settings.transcode_group, VIDEO_UPLOADED.name)

    async def recall_dispatched(self) -> None:
        """Read every lane topic once: the jobs a previous run already dispatched."""
        consumer = new_consumer(self.settings.common.kafka_bootstrap, committed_only=False)
        async with started(consumer):
            tps = [TopicPartition(t.name, p) for t in LANE_TOPICS for p in range(t.partitions)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.seek_to_beginning(*tps)
            remaining = {tp for tp in tps if ends[tp] > 0}
            while remaining:
                batches = await consumer.getmany(timeout_ms=1000)
                for tp, records in batches.items():
                    for record in records:
                        try:
                            upload = self.codec.decode(LANES[tp.topic], record.value)
                        except UndecodableRecord:
                            continue
                        self.dispatched.add((upload.video_id, upload.attempt))
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        log.info("%d job(s) already dispatched to the lanes", len(self.dispatched))

    # -- consume loop hooks -----------------------------------------------------------------
    async def handle(self, delivery: Delivery) -> None:
        event = delivery.event
        tp = TopicPartition(delivery.record.topic, delivery.record.partition)
        if isinstance(event, VideoUploaded):
            self._take(event, tp, delivery.record.offset)
        elif isinstance(event, VideoCancelled):
            self._cancel(event)
        else:
            assert isinstance(event, VideoReprioritised), delivery.topic.name
            self._reprioritise(event, tp, delivery.record.offset)

    async def failed(self, delivery: Delivery, error: PermanentFailure) -> None:
        return None

    def commit_floor(self, tp: TopicPartition, next_offset: int) -> int:
        held = self._holds.get(tp)
        return min(next_offset, *held.values()) if held else next_offset

    def partitions_revoked(self, partitions: list[TopicPartition]) -> None:
        """Another router owns these now and reads their held jobs again."""
        lost = set(partitions)
        for tp in lost:
            for key in list(self._holds.pop(tp, {})):
                self._drop(key)

    # -- deciding -------------------------------------------------------------------------
    def _take(self, upload: VideoUploaded, tp: TopicPartition, offset: int) -> None:
        key = (upload.video_id, upload.attempt)
        if key in self.dispatched or key in self.held:
            return  # read again after a restart, or a duplicate publish
        cancelled = self._cancelled.get(upload.video_id)
        if cancelled is not None and upload.occurred_at <= cancelled:
            return  # cancelled before it got a slot: transcode would skip it too
        priority = self._early.pop(key, upload.priority)
        self._seq += 1
        job = Job(video_id=upload.video_id, attempt=upload.attempt,
                  owner=upload.owner or ANONYMOUS, priority=priority, seq=self._seq)
        lane = lane_for(priority)
        self.held[key] = _Held(lane, job, upload)
        self.queues[lane].push(job)
        self._hold(tp, key, offset)

    def _cancel(self, event: VideoCancelled) -> None:
        self._cancelled[event.video_id] = max(event.occurred_at,
                                              self._cancelled.get(event.video_id,
                                                                  event.occurred_at))
        for key, held in list(self.held.items()):
            if key[0] == event.video_id and held.upload.occurred_at <= event.occurred_at:
                self._drop(key)

    def _reprioritise(self, event: VideoReprioritised, tp: TopicPartition, offset: int) -> None:
        key = (event.video_id, event.attempt)
        if key in self.dispatched:
            log.info("%s attempt %d was already dispatched; its priority stays",
                     event.video_id, event.attempt)
            return
        held = self.held.get(key)
        if held is None:
            self._early[key] = event.priority
            self._hold(tp, key, offset)
            return
        self.queues[held.lane].remove(key)
        job = Job(video_id=held.job.video_id, attempt=held.job.attempt, owner=held.job.owner,
                  priority=event.priority, seq=held.job.seq)
        lane = lane_for(event.priority)
        self.held[key] = _Held(lane, job, held.upload.replace(priority=event.priority))
        self.queues[lane].push(job)
        self._hold(tp, key, offset)

    def _hold(self, tp: TopicPartition, key: JobKey, offset: int) -> None:
        mine = self._holds.setdefault(tp, {})
        mine[key] = min(offset, mine.get(key, offset))

    def _release(self, key: JobKey) -> None:
        for tp, held in list(self._holds.items()):
            held.pop(key, None)
            if not held:
                del self._holds[tp]

    def _drop(self, key: JobKey) -> None:
        held = self.held.pop(key, None)
        if held is not None:
            self.queues[held.lane].remove(key)
        self._early.pop(key, None)
        self._release(key)

    # -- admission ------------------------------------------------------------------------
    async def run_admissions(self, stop: asyncio.Event) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.common.kafka_bootstrap,
                                    **client_options())
        await admin.start()
        ends_reader = new_consumer(self.settings.common.kafka_bootstrap, committed_only=False)
        try:
            async with started(ends_reader):
                while not stop.is_set():
                    try:
                        views = await self._look(admin, ends_reader)
                        await self._admit(views)
                        await self._report(views)
                    except KafkaError as exc:
                        log.warning("could not look at the lanes (%r); trying again", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.tick_s)
        finally:
            await admin.close()

    async def _look(self, admin: AIOKafkaAdminClient, reader: object) -> dict[str, LaneView]:
        group = self.settings.transcode_group
        states = await describe_groups(admin, [group])
        state = states.get(group)
        members = [(m.member_id, m.assignment) for m in state.members] if state else []
        offsets = await admin.list_consumer_group_offsets(group)
        committed = {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()
                     if meta.offset >= 0}
        tps = [TopicPartition(t.name, p) for t in LANE_TOPICS for p in range(t.partitions)]
        ends = await reader.end_offsets(tps)  # type: ignore[attr-defined]
        views = {}
        for lane, topic in LANES.items():
            owners = owners_of(members, lane)
            loads = tuple(PartitionLoad(p, owners.get(p), max(
                0, ends[TopicPartition(lane, p)] - committed.get((lane, p), 0)))
                for p in range(topic.partitions))
            views[lane] = LaneView(loads, sum(committed.get((lane, p), 0)
                                              for p in range(topic.partitions)))
        return views

    async def _admit(self, views: dict[str, LaneView]) -> None:
        busy: dict[str, int] = {}
        for view in views.values():
            for load in view.loads:
                if load.owner is not None:
                    busy[load.owner] = busy.get(load.owner, 0) + load.outstanding
        for lane in LANES:  # highest first: a freed slot's next job is a high one
            queue = self.queues[lane]
            loads = list(views[lane].loads)
            while len(queue):
                partition = admit_partition(loads, self.settings.depth_per_worker, busy,
                                            self.settings.worker_slots)
                if partition is None:
                    break
                job = queue.pop()
                assert job is not None
                held = self.held.pop(job.key)
                await self.producer.publish(LANES[lane], held.upload, partition=partition)
                self.dispatched.add(job.key)
                self._release(job.key)
                log.info("dispatched %s attempt %d (priority %d, tenant %r) to %s/%d",
                         job.video_id, job.attempt, job.priority, job.owner, lane, partition)
                load = loads[partition]
                loads[partition] = PartitionLoad(load.partition, load.owner,
                                                 load.outstanding + 1)
                if load.owner is not None:
                    busy[load.owner] = busy.get(load.owner, 0) + 1
            views[lane] = LaneView(tuple(loads), views[lane].committed)

    async def _report(self, views: dict[str, LaneView]) -> None:
        at = now()
        for lane, view in views.items():
            before = self._committed.get(lane)
            self._committed[lane] = view.committed
            self._pace[lane].observe(at, 0 if before is None else max(0, view.committed - before))
            await self._snapshot(lane, view, at)

    async def _snapshot(self, lane: str, view: LaneView, at: datetime) -> None:
        order = self.queues[lane].planned()
        pace = self._pace[lane].per_hour(at)
        state = (tuple(job.key for job in order), view.dispatched,
                 None if pace is None else round(pace, 1))
        clock = time.monotonic()
        last = self._published_at.get(lane)
        changed = state != self._published.get(lane)
        if last is not None and not (
                (changed and clock - last >= self.settings.snapshot_interval_s)
                or clock - last >= self.settings.snapshot_refresh_s):
            return
        waiting = tuple(QueuedJob(video_id=job.video_id, attempt=job.attempt,
                                  owner=job.owner or None, priority=job.priority)
                        for job in order)
        await self.producer.publish(LANE_QUEUE, LaneQueue(
            event_id=new_event_id(), occurred_at=at, lane=lane, waiting=waiting,
            dispatched=view.dispatched, jobs_per_hour=pace))
        self._published[lane] = state
        self._published_at[lane] = clock

