"""The producer of Reelflow events: idempotent, acks=all, keyed by the topic's key field.

`publish` returns once the event is durably on the broker. With a timeout, its outcome is
definite when it returns or raises (see `producer_retirement`). `publish_bytes` writes a
record's original bytes unchanged, for the dead-letter redrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from schemas import Topic
from schemas.events import Record
from services.shared import producer_retirement, telemetry
from services.shared.codec import EventCodec
from services.shared.kafka_security import client_options
from services.shared.metrics import observe_emitted

E = TypeVar("E", bound=Record)


class EventProducer:
    """Idempotent, acks=all producer of Reelflow events (key: the topic's key field)."""

    def __init__(self, bootstrap: str, codec: EventCodec, client_id: str) -> None:
        self.codec = codec
        self.bootstrap = bootstrap
        self._client_id = client_id
        self._started: AIOKafkaProducer | None = None
        #: Set once a producer was retired after a timed-out publish: the next publish
        #: starts a fresh one.
        self._replace = False
        self._replacing = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._started is None:
            raise RuntimeError("EventProducer.start() was not awaited")
        return self._started

    async def start(self) -> None:
        # aiokafka binds to the running event loop, so the client is made here, not in
        # __init__ (which may run before uvicorn starts its loop).
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=30000,
            **client_options(),
        )
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._started = producer

    async def stop(self) -> None:
        if self._started is not None:
            await self._started.stop()
            self._started = None
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _ready(self) -> AIOKafkaProducer:
        if self._started is None and self._replace:
            async with self._replacing:
                if self._started is None:
                    await self.start()
        return self._producer

    async def healthy(self, timeout_s: float = 3.0) -> bool:
        """Whether the broker answers a metadata request right now."""
        try:
            producer = await asyncio.wait_for(self._ready(), timeout_s)
            await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout_s)
        except (KafkaError, TimeoutError, OSError):
            return False
        return True

    async def publish(self, topic: Topic[E], event: E,
                      extra_headers: Iterable[tuple[str, bytes]] = (),
                      timeout_s: float | None = None,
                      partition: int | None = None) -> RecordMetadata:
        """Encode and write one event; returns once it is durably on the broker.

        With `timeout_s`, the outcome is definite when this returns or raises: on timeout
        the producer is retired (see `_retire`), so an event whose publish raised is never
        written later by the idempotent producer's retries (which would otherwise go on
        until the broker is back). The caller may then safely undo its side effects
        (ingest deletes the stored source and answers 503).

        `partition` overrides the key's partition: chunk jobs are dealt round the partitions
        (see `chunking`), and the lane router sends a job to the partition of the worker
        that has room.
        """
        if not getattr(event, "traceparent", None):  # every schema carries one
            event = event.replace(traceparent=telemetry.current_traceparent())
        value = self.codec.encode(topic, event)
        key = record_key(topic, event)
        headers = [*telemetry.trace_headers(), *extra_headers]
        producer = await self._ready()
        if partition is not None:
            meta = await producer.send_and_wait(topic.name, value, key=key, headers=headers,
                                                partition=partition)
        elif timeout_s is None:
            meta = await producer.send_and_wait(topic.name, value, key=key, headers=headers)
        else:
            meta = await self._send_within(producer, topic.name, value, key, headers, timeout_s)
        observe_emitted(topic.name, event)
        return meta

    async def publish_bytes(self, topic_name: str, value: bytes | None, key: bytes | None,
                            headers: list[tuple[str, bytes]],
                            partition: int | None = None) -> RecordMetadata:
        """Write a record's original bytes unchanged (a redrive republishes them as they
        were); `partition` keeps the copy beside the video's other events when the topic
        still has it."""
        producer = await self._ready()
        if partition is not None and partition not in await producer.partitions_for(topic_name):
            partition = None
        return await producer.send_and_wait(topic_name, value, key=key,  # type: ignore[no-any-return]
                                            partition=partition, headers=headers)

    async def _send_within(self, producer: AIOKafkaProducer, topic: str, value: bytes,
                           key: bytes | None, headers: list[tuple[str, bytes]],
                           timeout_s: float) -> RecordMetadata:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        # Cancelled while enqueueing (e.g. waiting for metadata), nothing was enqueued.
        sent = await asyncio.wait_for(producer.send(topic, value, key=key, headers=headers),
                                      timeout_s)
        try:
            return await asyncio.wait_for(asyncio.shield(sent),  # type: ignore[no-any-return]
                                          max(0.0, deadline - loop.time()))
        except TimeoutError:
            await self._retire(producer)
            return await sent  # type: ignore[no-any-return]  # delivered meanwhile, or failed

    async def _retire(self, producer: AIOKafkaProducer) -> None:
        """Make every send still held by `producer` definite, then replace it."""
        if self._started is producer:
            self._started, self._replace = None, True
        await producer_retirement.retire(producer)
        closing = asyncio.create_task(self._close_quietly(producer))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_quietly(producer: AIOKafkaProducer) -> None:
        # stop() also collects the failed batches' exceptions; the client is closed even
        # if it raises on them.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(producer.stop(), 10)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(producer.client.close(), 10)


def record_key(topic: Topic[E], event: E) -> bytes | None:
    """The Kafka key of `event` on `topic`: the registry's key field (video_id for video
    topics, key_id for api-keys). A dead letter of a record that named no video is keyed
    by its own id, which every copy of it shares (a retried batch writes it again), so the
    copies stay on one partition, in order, and every projection keeps the same first one."""
    key_field = topic.key if topic.key in topic.latest.definition_fields else "video_id"
    value = getattr(event, key_field, None) or getattr(event, "event_id", None)
    return str(value).encode() if value else None
