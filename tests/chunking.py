"""Split and stitch in tests: the session's transcode restarted with a low chunk threshold
for the tests that want chunked videos (every other test keeps whole-video encodes), and a
reader of the chunk-encoded checkpoints on Kafka."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, TypeVar

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas import ALL_TOPICS, CHUNK_ENCODED, CHUNK_REQUESTED, Topic
from schemas.events import ChunkEncoded, ChunkRequested, Record
from services.shared.codec import EventCodec
from services.shared.kafka_security import client_options
from tests.topics import records

E = TypeVar("E", bound=Record)

#: A 12 s clip over an 8 s threshold with 4 s chunks: three chunks, two inner boundaries.
THRESHOLD_S, CHUNK_S = 8, 4


@contextlib.contextmanager
def chunking(stack: Any) -> Iterator[None]:
    transcode = stack.component("transcode")
    saved = dict(transcode.env)
    transcode.env.update({"REELFLOW_TRANSCODE_CHUNK_THRESHOLD_S": str(THRESHOLD_S),
                          "REELFLOW_TRANSCODE_CHUNK_SECONDS": str(CHUNK_S)})
    stack.restart("transcode")
    try:
        yield
    finally:
        transcode.env.clear()
        transcode.env.update(saved)
        stack.restart("transcode")


def checkpoints(bootstrap: str, video_id: str) -> list[ChunkEncoded]:
    """Every chunk-encoded of `video_id` on Kafka, in log order per partition."""
    return [event for event, _ in _records(bootstrap, CHUNK_ENCODED, video_id)]


def chunk_jobs(bootstrap: str, video_id: str) -> list[tuple[ChunkRequested, TopicPartition, int]]:
    """Every chunk-requested of `video_id` on Kafka, with where it is (partition, offset)."""
    return [(event, tp, offset) for event, (tp, offset) in
            _records(bootstrap, CHUNK_REQUESTED, video_id)]


def _records(bootstrap: str, topic: Topic[E], video_id: str
             ) -> list[tuple[E, tuple[TopicPartition, int]]]:
    codec = EventCodec(ALL_TOPICS)
    found = []
    for record in records(bootstrap, topic.name, topic.partitions):
        event = codec.decode(topic, record.value)
        if getattr(event, "video_id", None) == video_id:
            found.append((event, (TopicPartition(record.topic, record.partition),
                                  record.offset)))
    return found


def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets (the next record it will read, per partition)."""
    async def read() -> dict[TopicPartition, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
            return {tp: meta.offset for tp, meta in offsets.items()}
        finally:
            await admin.close()

    return asyncio.run(read())
