"""A topic of a test's own on the session's broker (the stack creates only the registry's),
and reading a topic's records as they are."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.shared.kafka_security import client_options


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(**client_options(), bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


def records(bootstrap: str, topic: str, partitions: int) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from the beginning to the log end as it is now (a consumer
    without a group: nobody's offsets move), in log order per partition."""
    async def read() -> list[ConsumerRecord[bytes, bytes]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    **client_options())
        await consumer.start()
        try:
            parts = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            found: list[ConsumerRecord[bytes, bytes]] = []

            async def behind() -> bool:
                return any([await consumer.position(tp) < ends[tp] for tp in parts])

            while await behind():
                for batch in (await consumer.getmany(timeout_ms=1000)).values():
                    found.extend(batch)
            return found
        finally:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await consumer.stop()

    return asyncio.run(read())
