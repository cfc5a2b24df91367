"""Following a compacted full-state topic into memory, the one way every in-process
projection does it (API keys, signing keys): read from the beginning by a consumer without
a group (every process needs every record), apply each record, say when the first read
reached the log's end, and keep following until told to stop. After a Kafka error it
starts over from the beginning (applying a snapshot twice changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from schemas.events import Record
from schemas.registry import Topic
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.consumers import new_consumer, started
from services.shared.retry import RetryPolicy, Tries, decide

log = logging.getLogger(__name__)

#: Re-read after any Kafka error, every second, for as long as the process runs.
_RETRY = RetryPolicy(max_attempts=None, backoff_base_s=1.0, backoff_max_s=1.0,
                     transient=(KafkaError,))


async def follow(bootstrap: str, topic: Topic[Record], codec: EventCodec,
                 apply: Callable[[Record], object], caught_up: asyncio.Event,
                 stop: asyncio.Event) -> None:
    """Apply every record of `topic` until `stop`; set `caught_up` once the first read
    reached the end offsets it saw at its start."""
    tries = Tries()
    while not stop.is_set():
        try:
            await _follow(bootstrap, topic, codec, apply, caught_up, stop)
        except KafkaError as exc:
            decision = decide(_RETRY, tries, exc)
            tries = decision.tries
            log.warning("%s projection interrupted (%r); re-reading", topic.name, exc)
            await asyncio.sleep(decision.delay_s)


async def _follow(bootstrap: str, topic: Topic[Record], codec: EventCodec,
                  apply: Callable[[Record], object], caught_up: asyncio.Event,
                  stop: asyncio.Event) -> None:
    async with started(new_consumer(bootstrap)) as consumer:
        parts = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue  # a tombstone: Reelflow never writes them
                    try:
                        apply(codec.decode(topic, record.value))
                    except UndecodableRecord as exc:
                        log.error("skipping an undecodable %s record: %s", topic.name, exc)
            if not caught_up.is_set() and await _reached(consumer, ends):
                log.info("%s loaded", topic.name)
                caught_up.set()


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
