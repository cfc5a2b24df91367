"""Never lose an accepted video: with the session's real broker stopped or restarted under a
stream of uploads, every `202` ends `ready` in the catalog, and every request that did not
get one left no source object in S3 and no `video-uploaded` event.

These tests stop the session's Kafka; they start it again (and wait until it is healthy)
before they finish, so later tests find the stack as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from schemas import VIDEO_CANCELLED, VIDEO_UPLOADED, Topic
from schemas.events import VideoCancelled
from schemas.registry import DAY_MS
from services.shared.codec import EventCodec
from services.shared.events import now
from services.shared.kafka_security import client_options
from services.shared.producer import EventProducer
from services.shared.storage import ObjectStore
from tests.integration.test_ingest import refused
from tests.integration.test_pipeline import end_offsets, submit, wait_for_status
from tests.media import make_clip

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("no-loss") / "clip.mp4", 640, 360, seconds=1.5)


def source_ids(store: ObjectStore) -> set[str]:
    return {key.split("/")[1] for key in store.list_keys("sources/")}


def final_count(pipeline: Any, bootstrap: str, before: int) -> int:
    """What `video-uploaded` gained, counted once ingest's producer is closed: a graceful
    stop flushes anything it still held for an answered request, and a closed producer
    writes nothing more, so the count is final (no waiting for "long enough"). Ingest is
    started again before this returns."""
    pipeline.component("ingest").stop()
    try:
        return end_offsets(bootstrap, VIDEO_UPLOADED) - before
    finally:
        pipeline.up()


def test_kafka_down_means_503_and_nothing_stored_or_emitted(pipeline, clip, store,
                                                            common_settings):
    bootstrap = common_settings.kafka_bootstrap
    sources, uploads = source_ids(store), end_offsets(bootstrap, VIDEO_UPLOADED)
    pipeline.component("kafka").stop()
    try:
        reply = submit(clip, metadata='{"title": "while Kafka is down"}')
        assert "retry" in refused(reply, 503, "unavailable")
        assert reply.headers["Retry-After"]
        assert source_ids(store) == sources
    finally:
        pipeline.up(infra_only=True)
    # Back up: a new upload goes through, and it is the only event written since.
    accepted = submit(clip, metadata='{"title": "after Kafka came back"}')
    assert accepted.status_code == 202, accepted.text
    assert final_count(pipeline, bootstrap, uploads) == 1
    assert source_ids(store) - sources == {accepted.json()["video_id"]}
    assert wait_for_status(accepted.json()["video_id"], {"ready", "failed"},
                           timeout=600)["status"] == "ready"


@pytest.mark.slow  # 25 s; the reliability suite restarts Kafka mid-run in CI too
def test_every_accepted_upload_survives_a_broker_restart(pipeline, clip, store,
                                                         common_settings):
    bootstrap = common_settings.kafka_bootstrap
    sources, uploads = source_ids(store), end_offsets(bootstrap, VIDEO_UPLOADED)
    answers: list[tuple[int, dict[str, Any]]] = []
    stop = threading.Event()

    def keep_uploading() -> None:
        while not stop.is_set():
            try:
                reply = submit(clip, metadata=json.dumps({"title": f"no-loss {len(answers)}"}))
            except httpx.HTTPError as exc:  # no answer at all counts as "not accepted"
                answers.append((0, {"error": repr(exc)}))
                continue
            answers.append((reply.status_code, reply.json()))

    def wait_for_answers(count: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while len(answers) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(answers) >= count, answers

    uploader = threading.Thread(target=keep_uploading, daemon=True)
    uploader.start()
    try:
        wait_for_answers(2)
        pipeline.restart("kafka")
        wait_for_answers(len(answers) + 3)
    finally:
        stop.set()
        uploader.join(timeout=300)
        pipeline.up(infra_only=True)

    accepted = {body["video_id"] for status, body in answers if status == 202}
    refusals = [(status, body) for status, body in answers if status != 202]
    print(f"\n{len(answers)} uploads across the restart: {len(accepted)} accepted, "
          f"refused: {[(s, b.get('error')) for s, b in refusals]}")
    assert len(accepted) >= 4
    assert all(status in (0, 503) for status, _ in refusals), refusals
    # Exactly the accepted uploads left a source and an event; nothing else did.
    assert source_ids(store) - sources == accepted
    assert final_count(pipeline, bootstrap, uploads) == len(accepted)
    for video_id in sorted(accepted):
        video = wait_for_status(video_id, {"ready", "failed"}, timeout=600)
        assert video["status"] == "ready", video


def test_a_publish_that_timed_out_is_never_written_once_the_broker_is_back(pipeline,
                                                                            common_settings):
    """The mechanism behind the 503 promise. A plain idempotent producer (the control)
    keeps a timed-out send and writes it when the broker returns; `EventProducer.publish`
    with a timeout retires what it held, so a send it reported as failed never lands."""
    bootstrap = common_settings.kafka_bootstrap
    topic = Topic(f"test-no-ghost-{uuid.uuid4().hex[:8]}", VIDEO_CANCELLED.schema, "video_id",
                  1, DAY_MS, writer="test", readers=("test",),
                  event_type=VIDEO_CANCELLED.event_type)
    codec = EventCodec((topic,))

    def event(reason: str) -> VideoCancelled:
        return VideoCancelled(event_id=str(uuid.uuid4()), video_id=str(uuid.uuid4()),
                              occurred_at=now(), reason=reason)

    async def scenario() -> list[str]:
        admin = AIOKafkaAdminClient(**client_options(), bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic.name, 1, 1)])
        finally:
            await admin.close()
        ours = EventProducer(bootstrap, codec, "test-no-ghost")
        control = AIOKafkaProducer(**client_options(), bootstrap_servers=bootstrap, acks="all",
                                   enable_idempotence=True)
        await ours.start()
        await control.start()
        await ours.publish(topic, event("before"), timeout_s=30)
        await control.send_and_wait(topic.name, codec.encode(topic, event("control-before")))
        await asyncio.to_thread(pipeline.component("kafka").stop)
        try:
            with pytest.raises(KafkaError):
                await ours.publish(topic, event("refused"), timeout_s=3)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(control.send_and_wait(
                    topic.name, codec.encode(topic, event("control-ghost"))), 3)
        finally:
            await asyncio.to_thread(pipeline.up, True)
        await ours.publish(topic, event("after"), timeout_s=60)  # a fresh producer inside
        await asyncio.wait_for(control.flush(), 60)
        # Stopping flushes whatever a producer still holds; once stopped, it can write
        # nothing more, so the topic's content is final without waiting for anything.
        await ours.stop()
        await control.stop()
        reader = AIOKafkaConsumer(**client_options(),
                                  bootstrap_servers=bootstrap, enable_auto_commit=False)
        await reader.start()
        try:
            partition = TopicPartition(topic.name, 0)
            reader.assign([partition])
            await reader.seek_to_beginning(partition)
            end = (await reader.end_offsets([partition]))[partition]
            records = []
            while await reader.position(partition) < end:
                found = await reader.getmany(partition, timeout_ms=1000)
                records.extend(found.get(partition, []))
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await reader.stop()
        return [codec.decode(topic, r.value).reason for r in records]

    reasons = asyncio.run(scenario())
    assert "control-ghost" in reasons, reasons  # the hazard is real
    assert sorted(r for r in reasons if not r.startswith("control")) == ["after", "before"]
