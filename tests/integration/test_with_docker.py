"""For machines with a Docker engine: the same contract against the official Kafka image.

Skipped cleanly where no engine runs (CI here has none); the local-stack tests cover the
same ground with the broker jars.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from schemas import ALL_TOPICS, VIDEO_UPLOADED
from schemas.events import VideoUploaded
from services.shared.codec import EventCodec
from services.shared.events import now

pytestmark = pytest.mark.docker


def docker_engine_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.mark.skipif(not docker_engine_available(), reason="no Docker engine on this machine")
def test_an_event_round_trips_through_the_official_kafka_image():
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from testcontainers.kafka import KafkaContainer

    codec = EventCodec(ALL_TOPICS)
    event = VideoUploaded(event_id=str(uuid.uuid4()), video_id=str(uuid.uuid4()),
                          occurred_at=now(), source_uri="s3://bucket/key.mp4")
    with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka:
        bootstrap = kafka.get_bootstrap_server()

        async def round_trip() -> VideoUploaded:
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
            await producer.start()
            await producer.send_and_wait(VIDEO_UPLOADED.name, codec.encode(VIDEO_UPLOADED, event),
                                         key=event.video_id.encode())
            await producer.stop()
            consumer = AIOKafkaConsumer(VIDEO_UPLOADED.name, bootstrap_servers=bootstrap,
                                        auto_offset_reset="earliest")
            await consumer.start()
            try:
                record = await asyncio.wait_for(consumer.getone(), 60)
                return codec.decode(VIDEO_UPLOADED, record.value)
            finally:
                await consumer.stop()

        assert asyncio.run(round_trip()).video_id == event.video_id
