"""Following a compacted topic into memory (the key ring, the webhook endpoints): read the
assigned partitions from the beginning with a consumer without a group (every process
needs every record), set `caught_up` once the log end seen at start is reached, and go on
following until `stop`. After a Kafka error it starts over from the beginning: applying a
snapshot twice changes nothing, so an outage only delays changes, it never loses them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from services.shared.consumers import new_consumer, started
from services.shared.retry import RetryPolicy, Tries, decide

log = logging.getLogger(__name__)

#: Re-read after any Kafka error, every second, for as long as the process runs.
_RETRY = RetryPolicy(max_attempts=None, backoff_base_s=1.0, backoff_max_s=1.0,
                     transient=(KafkaError,))


async def follow(bootstrap: str, parts: list[TopicPartition],
                 apply: Callable[[bytes | None], None], caught_up: asyncio.Event,
                 stop: asyncio.Event, what: str) -> None:
    tries = Tries()
    while not stop.is_set():
        try:
            await _follow(bootstrap, parts, apply, caught_up, stop, what)
        except KafkaError as exc:
            decision = decide(_RETRY, tries, exc)
            tries = decision.tries
            log.warning("%s projection interrupted (%r); re-reading", what, exc)
            await asyncio.sleep(decision.delay_s)


async def _follow(bootstrap: str, parts: list[TopicPartition],
                  apply: Callable[[bytes | None], None], caught_up: asyncio.Event,
                  stop: asyncio.Event, what: str) -> None:
    async with started(new_consumer(bootstrap)) as consumer:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    apply(record.value)
            if not caught_up.is_set() and await _reached(consumer, ends):
                log.info("%s loaded", what)
                caught_up.set()


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
