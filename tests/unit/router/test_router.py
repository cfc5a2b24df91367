"""The router's bookkeeping between the log and its queues, without Kafka: which lane and
place a held job has, what a cancellation or a reprioritisation does to it, and the commit
floor that keeps every held job's record readable after a restart."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord, TopicPartition

from schemas import (
    TRANSCODE_LANE_HIGH,
    TRANSCODE_LANE_LOW,
    TRANSCODE_LANE_NORMAL,
    VIDEO_CANCELLED,
    VIDEO_REPRIORITISED,
    VIDEO_UPLOADED,
    Topic,
)
from schemas.events import Record, VideoCancelled, VideoReprioritised, VideoUploaded
from services.router.router import LaneRouter
from services.router.settings import RouterSettings
from services.shared.consume import Delivery

T0 = datetime(2026, 12, 2, tzinfo=UTC)


def router() -> LaneRouter:
    return LaneRouter(RouterSettings(), producer=None, codec=None)  # type: ignore[arg-type]


def deliver(target: LaneRouter, topic: Topic, event: Record, partition: int, offset: int) -> None:
    record = ConsumerRecord(topic.name, partition, offset, 0, 0, None, b"", None, 0, 0, ())
    asyncio.run(target.handle(Delivery(topic, event, record)))


def upload(priority: int, owner: str = "acme", at: datetime = T0) -> VideoUploaded:
    return VideoUploaded(event_id=str(uuid.uuid4()), video_id=str(uuid.uuid4()),
                         occurred_at=at, source_uri="s3://b/k", priority=priority, owner=owner)


def reprioritised(job: VideoUploaded, priority: int) -> VideoReprioritised:
    return VideoReprioritised(event_id=str(uuid.uuid4()), video_id=job.video_id,
                              occurred_at=T0, attempt=job.attempt, priority=priority)


def planned(target: LaneRouter, lane: Topic) -> list[str]:
    return [job.video_id for job in target.queues[lane.name].planned()]


def test_uploads_wait_in_their_priority_lane_and_hold_back_the_commit() -> None:
    target = router()
    low, high = upload(2), upload(9)
    deliver(target, VIDEO_UPLOADED, low, partition=0, offset=10)
    deliver(target, VIDEO_UPLOADED, high, partition=0, offset=11)
    assert planned(target, TRANSCODE_LANE_LOW) == [low.video_id]
    assert planned(target, TRANSCODE_LANE_HIGH) == [high.video_id]
    uploads0 = TopicPartition(VIDEO_UPLOADED.name, 0)
    assert target.commit_floor(uploads0, 12) == 10  # the oldest held record
    assert target.commit_floor(TopicPartition(VIDEO_UPLOADED.name, 1), 5) == 5


def test_an_upload_read_again_after_dispatch_is_not_queued_twice() -> None:
    target = router()
    job = upload(5)
    target.dispatched.add((job.video_id, job.attempt))
    deliver(target, VIDEO_UPLOADED, job, partition=0, offset=3)
    assert planned(target, TRANSCODE_LANE_NORMAL) == []
    assert target.commit_floor(TopicPartition(VIDEO_UPLOADED.name, 0), 4) == 4


def test_a_cancellation_drops_the_held_job_and_frees_the_commit() -> None:
    target = router()
    job, other = upload(5), upload(5)
    deliver(target, VIDEO_UPLOADED, job, partition=0, offset=7)
    deliver(target, VIDEO_UPLOADED, other, partition=0, offset=8)
    deliver(target, VIDEO_CANCELLED, VideoCancelled(
        event_id=str(uuid.uuid4()), video_id=job.video_id, occurred_at=T0 + timedelta(1)),
        partition=0, offset=0)
    assert planned(target, TRANSCODE_LANE_NORMAL) == [other.video_id]
    assert target.commit_floor(TopicPartition(VIDEO_UPLOADED.name, 0), 9) == 8
    # A later upload of the cancelled video (a reprocess) is a new job.
    again = upload(5, at=T0 + timedelta(2)).replace(video_id=job.video_id, attempt=2)
    deliver(target, VIDEO_UPLOADED, again, partition=0, offset=9)
    assert planned(target, TRANSCODE_LANE_NORMAL) == [other.video_id, job.video_id]


def test_a_reprioritised_job_moves_lanes_keeping_its_arrival_and_holds_both_records() -> None:
    target = router()
    first, second = upload(2), upload(9)
    deliver(target, VIDEO_UPLOADED, first, partition=1, offset=4)
    deliver(target, VIDEO_UPLOADED, second, partition=1, offset=5)
    deliver(target, VIDEO_REPRIORITISED, reprioritised(first, 9), partition=3, offset=20)
    # Same tenant, same priority now: it arrived first, so it goes first.
    assert planned(target, TRANSCODE_LANE_HIGH) == [first.video_id, second.video_id]
    assert planned(target, TRANSCODE_LANE_LOW) == []
    assert target.held[(first.video_id, 1)].upload.priority == 9  # what the lane gets
    assert target.commit_floor(TopicPartition(VIDEO_REPRIORITISED.name, 3), 21) == 20


def test_a_reprioritisation_read_before_its_upload_applies_when_the_upload_comes() -> None:
    target = router()
    job = upload(1)
    deliver(target, VIDEO_REPRIORITISED, reprioritised(job, 10), partition=2, offset=6)
    deliver(target, VIDEO_UPLOADED, job, partition=0, offset=1)
    assert planned(target, TRANSCODE_LANE_HIGH) == [job.video_id]


def test_a_reprioritisation_of_a_dispatched_job_changes_nothing_and_holds_nothing() -> None:
    target = router()
    job = upload(1)
    target.dispatched.add((job.video_id, 1))
    deliver(target, VIDEO_REPRIORITISED, reprioritised(job, 10), partition=2, offset=6)
    assert target.commit_floor(TopicPartition(VIDEO_REPRIORITISED.name, 2), 7) == 7
    assert not any(len(q) for q in target.queues.values())
