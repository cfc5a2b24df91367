"""A cancel must know the video, against the session's real stack: an id that never
existed is `404 video_not_found`, a video whose attempt already ended is `409
video_not_cancellable`, and neither writes anything to `video-cancelled` (its log-end
offsets are the same before and after). Ingest knows both from its own projection of the
event log, never from the catalog's tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import VIDEO_CANCELLED, VIDEO_TRANSCODED, VIDEO_UPLOADED
from services.shared.kafka_security import client_options
from tests.access import admin_headers
from tests.integration.test_ingest import refused
from tests.integration.test_pipeline import CATALOG, INGEST, end_offsets, submit, wait_for_status
from tests.media import make_clip
from tests.polling import wait_until

pytestmark = pytest.mark.integration


def cancel(video_id: str) -> httpx.Response:
    return httpx.delete(f"{INGEST}/api/v1/videos/{video_id}", headers=admin_headers(),
                        timeout=30)


def _ingest_has_read_all_of(bootstrap: str, group: str, topic_name: str,
                            partitions: int) -> bool:
    async def caught_up() -> bool:
        consumer = AIOKafkaConsumer(**client_options(), bootstrap_servers=bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            parts = [TopicPartition(topic_name, p) for p in range(partitions)]
            ends = await consumer.end_offsets(parts)
            behind = [p for p in parts if (await consumer.committed(p) or 0) < ends[p]]
            return not behind
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()
    return asyncio.run(caught_up())


def test_cancelling_an_id_that_never_existed_is_404_and_emits_nothing(pipeline,
                                                                      common_settings):
    ghost = str(uuid.uuid4())
    before = end_offsets(common_settings.kafka_bootstrap, VIDEO_CANCELLED)
    detail = refused(cancel(ghost), 404, "video_not_found")
    assert ghost in detail
    assert end_offsets(common_settings.kafka_bootstrap, VIDEO_CANCELLED) == before
    # And no ghost video in the catalog.
    assert httpx.get(f"{CATALOG}/api/v1/videos/{ghost}", headers=admin_headers(),
                     timeout=30).status_code == 404


def test_cancelling_a_ready_video_is_409_and_emits_nothing(pipeline, common_settings,
                                                           tmp_path: Path):
    clip = make_clip(tmp_path / "clip.mp4", 640, 360, seconds=2)
    reply = submit(clip, metadata='{"title": "finished"}')
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]
    assert wait_for_status(video_id, {"ready", "failed"})["status"] == "ready"
    # Ingest learns the outcome from the log: wait until its group has read every
    # video-transcoded written so far (this video's included), then ask.
    deadline = time.monotonic() + 60
    while not _ingest_has_read_all_of(common_settings.kafka_bootstrap, "ingest",
                                      VIDEO_TRANSCODED.name, VIDEO_TRANSCODED.partitions):
        assert time.monotonic() < deadline, "ingest never read video-transcoded"
        time.sleep(0.5)
    before = end_offsets(common_settings.kafka_bootstrap, VIDEO_CANCELLED)
    detail = refused(cancel(video_id), 409, "video_not_cancellable")
    assert "ready" in detail and video_id in detail
    assert end_offsets(common_settings.kafka_bootstrap, VIDEO_CANCELLED) == before
    video = httpx.get(f"{CATALOG}/api/v1/videos/{video_id}", headers=admin_headers(),
                      timeout=30).json()
    assert video["status"] == "ready" and video["cancellation"] is None, video


def test_a_second_cancel_of_a_cancelled_video_is_409_and_emits_nothing(pipeline,
                                                                       common_settings,
                                                                       tmp_path: Path):
    clip = make_clip(tmp_path / "long.mp4", 640, 360, seconds=20)
    reply = submit(clip, metadata='{"title": "changed my mind"}')
    assert reply.status_code == 202, reply.text
    video_id = reply.json()["video_id"]
    first = cancel(video_id)
    assert first.status_code == 202 and first.json()["status"] == "cancelling", first.text
    before = end_offsets(common_settings.kafka_bootstrap, VIDEO_CANCELLED)
    detail = refused(cancel(video_id), 409, "video_not_cancellable")
    assert "cancelled" in detail
    assert end_offsets(common_settings.kafka_bootstrap, VIDEO_CANCELLED) == before
    assert wait_for_status(video_id, {"cancelled", "ready", "failed"})["status"] == "cancelled"


@pytest.mark.slow  # the session's transcode worker stops and a fresh one starts: ./run slow
def test_a_job_of_a_video_cancelled_while_no_transcode_worker_ran_is_skipped(
        pipeline, common_settings, tmp_path: Path):
    from tests.chunking import committed
    from tests.integration.test_transcode_resilience import WorkerProcess

    bootstrap = common_settings.kafka_bootstrap
    pipeline.component("transcode").stop()
    worker = None
    try:
        clip = make_clip(tmp_path / "clip.mp4", 640, 360, seconds=2)
        reply = submit(clip, metadata='{"title": "cancelled before any worker saw it"}',
                       captions="false")
        assert reply.status_code == 202, reply.text
        video_id = reply.json()["video_id"]
        assert cancel(video_id).status_code == 202
        wait_for_status(video_id, {"cancelled"}, timeout=60)
        worker = WorkerProcess("after-the-cancel", 2, tmp_path)

        def taken() -> bool:  # the group went past every upload so far, this one's too
            ends = asyncio.run(_ends(bootstrap, VIDEO_UPLOADED.name, VIDEO_UPLOADED.partitions))
            done = committed(bootstrap, "transcode")
            return all(done.get(tp, 0) >= end for tp, end in ends.items())
        wait_until(taken, "the fresh worker to take the cancelled video's job", timeout=90)
    finally:
        if worker is not None:
            worker.stop()
        pipeline.component("transcode").start()
    lines = [json.loads(line) for line in worker.log.read_text().splitlines()
             if line.startswith("{")]
    mine = [line["msg"] for line in lines if line.get("video_id") == video_id]
    assert "skipping attempt 1: the video was cancelled" in mine, mine
    assert not [m for m in mine if "ffmpeg" in m], mine  # nothing fetched, probed or encoded


async def _ends(bootstrap: str, topic: str, partitions: int) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**client_options(), bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(
            [TopicPartition(topic, p) for p in range(partitions)]))
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
