"""Split and stitch in tests: the session's transcode restarted with a low chunk threshold
for the tests that want chunked videos (every other test keeps whole-video encodes), and a
reader of the chunk-encoded checkpoints on Kafka."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import ALL_TOPICS, CHUNK_ENCODED
from schemas.events import ChunkEncoded
from services.shared.codec import EventCodec
from services.shared.kafka_security import client_options

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
    codec = EventCodec(ALL_TOPICS)

    async def read() -> list[ChunkEncoded]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    **client_options())
        await consumer.start()
        try:
            parts = [TopicPartition(CHUNK_ENCODED.name, p)
                     for p in range(CHUNK_ENCODED.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            found: list[ChunkEncoded] = []
            async def behind() -> bool:
                return any([await consumer.position(tp) < ends[tp] for tp in parts])

            while await behind():
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        event = codec.decode(CHUNK_ENCODED, record.value)
                        if event.video_id == video_id:
                            found.append(event)
            return found
        finally:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await consumer.stop()

    return asyncio.run(read())
