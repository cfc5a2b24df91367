"""A transcode job far longer than the consumer's `max.poll.interval.ms` runs once, on one
worker, without a consumer-group rebalance, and its offset is committed only after its
outputs are on Kafka.

An hour-long source cannot run in CI, so the test shrinks the interval instead: two real
`reelflow transcode` processes form a group whose `max_poll_interval_ms` is 4 s, and the job
is made to last many times that. A worker that stopped polling while ffmpeg ran would be
evicted after 4 s and its partition handed to the other worker, which would start the same
job again: both would show in the logs, the other worker would run ffmpeg for the video and
the topic would carry a second run's events.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from schemas import RENDITION_DONE, VIDEO_UPLOADED
from schemas.events import VideoUploaded
from services.catalog.group_replay import Target, execute, plan
from services.shared.kafka_security import client_options
from services.shared.storage import ObjectStore
from tests.integration.quiet import services_paused
from tests.integration.test_transcode_resilience import (
    WorkerProcess,
    codec,
    ffmpeg_for,
    read_topic,
    wait_for_ffmpeg,
)
from tests.media import make_clip

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # 55 s: `./run slow`

MAX_POLL_MS = 4000


def _assignments(worker: WorkerProcess) -> int:
    return worker.log.read_text(errors="replace").count(f"'{VIDEO_UPLOADED.name}/")


def _wait_settled(workers: list[WorkerProcess], quiet_s: float = 5, timeout: float = 90) -> None:
    """Until both members hold partitions and no assignment arrived for `quiet_s`."""
    deadline = time.monotonic() + timeout
    last = [-1, -1]
    since = time.monotonic()
    while time.monotonic() < deadline:
        now = [_assignments(w) for w in workers]
        if now != last:
            last, since = now, time.monotonic()
        elif all(now) and time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.5)
    raise AssertionError(f"the group never settled: {last}")


async def _publish(bootstrap: str, event: VideoUploaded) -> tuple[int, int]:
    producer = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(VIDEO_UPLOADED.name,
                                            codec.encode(VIDEO_UPLOADED, event),
                                            key=event.video_id.encode())
        return meta.partition, meta.offset
    finally:
        await producer.stop()


async def _committed(bootstrap: str, group: str, tp: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(**client_options(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return offsets[tp].offset if tp in offsets else -1
    finally:
        await admin.close()


def test_a_job_many_times_longer_than_max_poll_interval_runs_once_without_a_rebalance(
        pipeline, common_settings, tmp_path):
    bootstrap = common_settings.kafka_bootstrap
    group = f"transcode-long-{uuid.uuid4().hex[:8]}"
    store = ObjectStore(common_settings)
    video_id = str(uuid.uuid4())
    data = make_clip(tmp_path / "long.mp4", 1920, 1080, seconds=8).read_bytes()
    source = store.ref(f"sources/{video_id}/original")
    store.put_bytes(data, source, "video/mp4")

    # The session's own transcode group would take the job too; pause it meanwhile.
    with services_paused(pipeline, common_settings):
        # A new group starts at the log's end, not at every earlier test's uploads.
        moved = asyncio.run(plan(common_settings, group, VIDEO_UPLOADED.name, Target("latest")))
        asyncio.run(execute(common_settings, moved))
        settings = {"REELFLOW_TRANSCODE_GROUP_ID": group,
                    "REELFLOW_TRANSCODE_INSTANCE_ID": "",  # dynamic members can be evicted
                    "REELFLOW_TRANSCODE_MAX_POLL_INTERVAL_MS": str(MAX_POLL_MS),
                    "REELFLOW_TRANSCODE_SESSION_TIMEOUT_MS": "6000"}
        workers = [WorkerProcess(f"long-{n}", 5 + n, tmp_path, settings) for n in (1, 2)]
        try:
            _wait_settled(workers)
            before = [_assignments(w) for w in workers]

            started = time.monotonic()
            partition, offset = asyncio.run(_publish(bootstrap, VideoUploaded(
                event_id=str(uuid.uuid4()), video_id=video_id,
                occurred_at=datetime.now(UTC), source_uri=source.uri,
                source_sha256=hashlib.sha256(data).hexdigest(),
                user_metadata_json=json.dumps({"title": "longer than max.poll"}))))
            _, owner_pid = wait_for_ffmpeg(video_id)
            owner = next(w for w in workers if w.pid == owner_pid)
            other = next(w for w in workers if w is not owner)

            tp = TopicPartition(VIDEO_UPLOADED.name, partition)
            seen_other_ffmpeg = False
            while asyncio.run(_committed(bootstrap, group, tp)) <= offset:
                assert time.monotonic() - started < 600, "the job never committed"
                seen_other_ffmpeg |= any(ppid == other.pid for _, ppid in ffmpeg_for(video_id))
                time.sleep(1)
            elapsed = time.monotonic() - started
            after = [_assignments(w) for w in workers]
        finally:
            for worker in workers:
                worker.stop()

    # The job must really have outlived the interval for the test to prove anything.
    assert elapsed > 3 * MAX_POLL_MS / 1000, f"the job took only {elapsed:.1f} s"
    assert after == before, f"assignments went {before} -> {after}: the group rebalanced"
    assert not seen_other_ffmpeg, "the other worker started the same job"
    assert video_id not in other.log.read_text(errors="replace")

    # Committed after the outputs: every rendition-done is already on the topic, once each.
    done = read_topic(bootstrap, RENDITION_DONE.name,
                      lambda r: (lambda e: e if e.video_id == video_id else None)(
                          codec.decode(RENDITION_DONE, r.value)),
                      lambda kept: False, timeout=8)
    names = [e.rendition for e in done]
    assert {"360p", "720p", "1080p"} <= set(names), names
    assert len(names) == len(set(names)), f"a rendition was produced twice: {names}"
    assert {e.attempt for e in done} == {1}
