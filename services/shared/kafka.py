"""The consume–handle–produce loop every Kafka-driven service runs, and its producer.

Guarantees:
- Output events are written with acks=all by an idempotent producer, and the input's
  offset is committed only after the handler returned, i.e. after its outputs are durable.
- Long jobs never get the member evicted: a partition with work in flight is paused and
  the loop keeps calling `getmany` (which returns nothing for paused partitions), so
  `max_poll_interval_ms` never expires however long ffmpeg runs (aiokafka #848).
- Undecodable records go to `dead-letter` at once (never retried). Handler failures are
  retried with exponential backoff; a `PermanentFailure`, or a transient one that
  exhausted its retries, goes to `dead-letter` after the handler's `failed()` hook ran.
- On revocation, work in flight on the revoked partitions is cancelled: the new owner
  redoes it, and deterministic output event ids make the repeat a no-op downstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
)
from aiokafka.structs import OffsetAndMetadata, RecordMetadata
from prometheus_client import Counter

from schemas import DEAD_LETTER, Topic, topic_by_name
from schemas.events import Record
from services.shared import telemetry
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.events import derived_event_id, now
from services.shared.metrics import STAGE_SECONDS, LagGauge, observe_emitted
from services.shared.outages import is_outage

E = TypeVar("E", bound=Record)

log = logging.getLogger(__name__)

RECORDS = Counter("reelflow_records_total", "Records handled", ["group", "topic", "outcome"])
RETRIES = Counter("reelflow_retries_total", "Handler retries after a transient failure",
                  ["group", "topic"])
#: One per rebalance this member took part in; a climbing rate means members keep leaving.
ASSIGNMENTS = Counter("reelflow_consumer_assignments_total",
                      "Partition assignments received (one per rebalance)", ["group"])
DEAD_LETTERS = Counter("reelflow_dead_letters_total", "Records sent to dead-letter",
                       ["group", "topic", "error_code"])


class PermanentFailure(Exception):
    """Retrying cannot help (corrupt source, checksum mismatch, missing object)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Delivery:
    """One decoded record, as a handler sees it."""

    topic: Topic[Record]
    #: The typed event (schemas/events.py) of `topic`'s class.
    event: Record
    record: ConsumerRecord[bytes, bytes]

    @property
    def video_id(self) -> str:
        return str(getattr(self.event, "video_id", None) or "")


class Handler(Protocol):
    async def handle(self, delivery: Delivery) -> None: ...

    async def failed(self, delivery: Delivery, error: PermanentFailure) -> None:
        """Called once before a record is dead-lettered; emit the failure fact here."""
        ...


class EventProducer:
    """Idempotent, acks=all producer of Reelflow events (key: the topic's key field)."""

    def __init__(self, bootstrap: str, codec: EventCodec, client_id: str) -> None:
        self.codec = codec
        self._bootstrap = bootstrap
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
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=30000,
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

    async def publish(self, topic: Topic[E], event: E | dict[str, Any],
                      extra_headers: Iterable[tuple[str, bytes]] = (),
                      timeout_s: float | None = None) -> RecordMetadata:
        """Encode and write one event; returns once it is durably on the broker.

        With `timeout_s`, the outcome is definite when this returns or raises: on timeout
        the producer is retired (see `_retire`), so an event whose publish raised is never
        written later by the idempotent producer's retries (which would otherwise go on
        until the broker is back). The caller may then safely undo its side effects
        (ingest deletes the stored source and answers 503).
        """
        # The registry's key field (video_id for video topics, key_id for api-keys).
        key_field = topic.key if topic.key in topic.latest.definition_fields else "video_id"
        if isinstance(event, dict):
            # TRANSITION: dict events, removed once every writer builds classes
            if "traceparent" in topic.latest.definition_fields and not event.get("traceparent"):
                event = {**event, "traceparent": telemetry.current_traceparent()}
            key_value = event.get(key_field)
        else:
            if not getattr(event, "traceparent", None):  # every schema carries one
                event = event.replace(traceparent=telemetry.current_traceparent())
            key_value = getattr(event, key_field, None)
        value = self.codec.encode(topic, event)
        key = str(key_value).encode() if key_value else None
        headers = [*telemetry.trace_headers(), *extra_headers]
        producer = await self._ready()
        if timeout_s is None:
            meta = await producer.send_and_wait(topic.name, value, key=key, headers=headers)
        else:
            meta = await self._send_within(producer, topic.name, value, key, headers, timeout_s)
        observe_emitted(topic.name, event)
        return meta

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
        """Make every send still held by `producer` definite, then replace it.

        Stops its sender (aiokafka awaits the requests in flight, which either completed
        or failed to reach the broker), then fails every batch still queued: nothing it
        held can be written after this. Relies on aiokafka 0.14 internals (the version is
        pinned). The one case no client can settle is a broker that wrote a batch and
        died before acknowledging it.
        """
        if self._started is producer:
            self._started, self._replace = None, True
        task = producer._sender._sender_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        producer._message_accumulator.fail_all(
            KafkaTimeoutError("publish abandoned: the broker did not acknowledge in time"))
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

    async def publish_raw(self, topic_name: str, value: bytes | None, key: bytes | None,
                          headers: list[tuple[str, bytes]]) -> RecordMetadata:
        producer = await self._ready()
        return await producer.send_and_wait(topic_name, value, key=key, headers=headers)


def dead_letter_event(record: ConsumerRecord[bytes, bytes], group: str, code: str,
                      error: BaseException, attempts: int, video_id: str | None) -> dict[str, Any]:
    redrives = 0
    for key, value in record.headers or ():
        if key == "reelflow-redrive-count" and value:
            with contextlib.suppress(ValueError):
                redrives = int(value.decode())
    return {
        # Per group: two groups dead-lettering the same record are two distinct facts.
        "event_id": derived_event_id(
            f"{record.topic}/{record.partition}/{record.offset}", group, "dead-lettered",
            redrives,
        ),
        "video_id": video_id,
        "occurred_at": now(),
        "original_topic": record.topic,
        "original_partition": record.partition,
        "original_offset": record.offset,
        "original_timestamp": record.timestamp if record.timestamp and record.timestamp > 0
        else None,
        "original_key": record.key,
        "original_value": record.value,
        "original_headers": [{"key": k, "value": v} for k, v in (record.headers or ())],
        "consumer_group": group,
        "error_code": code,
        "error_class": f"{type(error).__module__}.{type(error).__qualname__}",
        "error_message": str(error) or repr(error),
        "stacktrace": "".join(traceback.format_exception(error))[-8000:],
        "attempts": attempts,
        "redrive_count": redrives,
        "traceparent": None,
    }


def dead_letter_headers(record: ConsumerRecord[bytes, bytes], group: str, code: str,
                        error: BaseException) -> list[tuple[str, bytes]]:
    """Provenance headers in both Kafka Connect's and Spring Kafka's conventions."""
    fqcn = f"{type(error).__module__}.{type(error).__qualname__}"
    message = (str(error) or repr(error))[:2000]
    pairs = {
        "__connect.errors.topic": record.topic,
        "__connect.errors.partition": str(record.partition),
        "__connect.errors.offset": str(record.offset),
        "__connect.errors.exception.class.name": fqcn,
        "__connect.errors.exception.message": message,
        "kafka_dlt-original-topic": record.topic,
        "kafka_dlt-original-partition": str(record.partition),
        "kafka_dlt-original-offset": str(record.offset),
        "kafka_dlt-original-timestamp": str(record.timestamp),
        "kafka_dlt-original-consumer-group": group,
        "kafka_dlt-exception-fqcn": fqcn,
        "kafka_dlt-exception-message": message,
        "reelflow-error-code": code,
    }
    return [(k, v.encode()) for k, v in pairs.items()]


@dataclass
class LoopSettings:
    group_id: str
    topics: tuple[Topic, ...]
    #: Topics handled inline and never paused for capacity (e.g. cancellations).
    control_topics: tuple[Topic, ...] = ()
    concurrency: int = 1
    max_attempts: int = 3
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    session_timeout_ms: int = 10000
    #: How long a record waits out a dependency outage (S3, Kafka away: see `outages`)
    #: before its attempts start counting.
    outage_patience_s: float = 600.0
    #: The client leaves the group when `getmany` is not called for this long; the loop
    #: keeps polling while jobs run, so even hour-long jobs never come near it.
    max_poll_interval_ms: int = 300000
    group_instance_id: str | None = None
    #: Where to start when the group has no committed offset.
    auto_offset_reset: str = "earliest"


@dataclass
class _Inflight:
    task: asyncio.Task[None]
    records: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, loop: ConsumeLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._loop.abandon(revoked)
        if self._loop.on_revoked is not None:
            self._loop.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        ASSIGNMENTS.labels(self._loop.settings.group_id).inc()
        log.info("assigned %s", sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))


CommitFloor = Callable[[TopicPartition, int], int]


class ConsumeLoop:
    """Runs a Handler over a consumer group until `stop()`."""

    def __init__(self, settings: LoopSettings, bootstrap: str, codec: EventCodec,
                 producer: EventProducer, handler: Handler,
                 commit_floor: CommitFloor | None = None,
                 on_revoked: Callable[[list[TopicPartition]], None] | None = None) -> None:
        self.settings = settings
        self.codec = codec
        self.producer = producer
        self.handler = handler
        # Lets a stateful service (the packager) hold its committed offset back to the
        # first record it still needs, so its state rebuilds from the log on restart.
        self._commit_floor = commit_floor
        self.on_revoked = on_revoked
        self._inflight: dict[TopicPartition, _Inflight] = {}
        self._stopping = asyncio.Event()
        self._control = {t.name for t in settings.control_topics}
        self._lag = LagGauge(settings.group_id)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=settings.group_id,
            group_instance_id=settings.group_instance_id,
            enable_auto_commit=False,
            auto_offset_reset=settings.auto_offset_reset,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(1000, settings.session_timeout_ms // 4),
            max_poll_interval_ms=settings.max_poll_interval_ms,
            isolation_level="read_committed",
        )

    async def run(self) -> None:
        names = [t.name for t in (*self.settings.topics, *self.settings.control_topics)]
        self.consumer.subscribe(names, listener=_Rebalance(self))
        await self.consumer.start()
        log.info("consuming %s as group %s", names, self.settings.group_id)
        try:
            while not self._stopping.is_set():
                await self._poll_once()
        finally:
            await self.abandon(list(self._inflight))
            await self.consumer.stop()

    def stop(self) -> None:
        self._stopping.set()

    async def run_until(self, stop: asyncio.Event) -> None:
        """Start the producer, consume until `stop` is set, then shut both down in order:
        in-flight work is abandoned before the producer its outputs would go to."""
        await self._start_producer()
        consuming = asyncio.create_task(self.run())
        try:
            await stop.wait()
        finally:
            self.stop()
            await consuming
            await self.producer.stop()

    async def _start_producer(self) -> None:
        """Start the producer, waiting (up to `outage_patience_s`) for a broker that is
        away, so a worker started during a Kafka restart does not just exit."""
        waited = 0.0
        while True:
            try:
                await self.producer.start()
                return
            except KafkaError as exc:
                with contextlib.suppress(KafkaError):
                    await self.producer.stop()
                if waited >= self.settings.outage_patience_s:
                    raise
                log.warning("Kafka unavailable at start (%s); retrying in 2 s", exc)
                await asyncio.sleep(2)
                waited += 2

    async def _poll_once(self) -> None:
        self._reap()
        assigned = self.consumer.assignment()
        busy = set(self._inflight)
        free = self.settings.concurrency - len(busy)
        for tp in assigned:
            at_capacity = free <= 0 and tp.topic not in self._control
            if tp in busy or at_capacity:
                self.consumer.pause(tp)
            else:
                self.consumer.resume(tp)
        batches = await self.consumer.getmany(timeout_ms=500, max_records=max(free, 1))
        await self._lag.refresh(self.consumer)
        for tp, records in batches.items():
            if not records:
                continue
            if tp.topic in self._control:
                for record in records:
                    await self._process(tp, record)
                continue
            self.consumer.pause(tp)
            task = asyncio.create_task(self._process_all(tp, records),
                                       name=f"{tp.topic}/{tp.partition}")
            self._inflight[tp] = _Inflight(task, records)

    def _reap(self) -> None:
        for tp, inflight in list(self._inflight.items()):
            if inflight.task.done():
                del self._inflight[tp]
                if not inflight.task.cancelled() and inflight.task.exception():
                    log.error("partition worker %s crashed", tp, exc_info=inflight.task.exception())

    async def abandon(self, partitions: Iterable[TopicPartition]) -> None:
        """Cancel in-flight work on partitions we are losing; their new owner redoes it."""
        tasks = []
        for tp in partitions:
            inflight = self._inflight.pop(tp, None)
            if inflight and not inflight.task.done():
                inflight.task.cancel()
                tasks.append(inflight.task)
        if tasks:
            log.warning("abandoning %d in-flight job(s) on revocation or shutdown", len(tasks))
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _process_all(self, tp: TopicPartition,
                           records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            await self._process(tp, record)

    async def _process(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        topic = topic_by_name(record.topic)
        group = self.settings.group_id
        try:
            event = self.codec.decode(topic, record.value)
        except UndecodableRecord as exc:
            log.warning("undecodable record %s/%d@%d: %s", record.topic, record.partition,
                        record.offset, exc)
            key_text = record.key.decode(errors="replace") if record.key else None
            await self._dead_letter(record, exc.code, exc, attempts=1, video_id=key_text)
            RECORDS.labels(group, record.topic, "undecodable").inc()
        else:
            delivery = Delivery(topic, event, record)
            token = telemetry.current_video_id.set(delivery.video_id or None)
            try:
                with telemetry.span_from(f"process {record.topic}", record.headers,
                                         getattr(event, "traceparent", None),
                                         **{"messaging.kafka.partition": record.partition,
                                            "messaging.kafka.offset": record.offset,
                                            "reelflow.video_id": delivery.video_id}):
                    started = time.monotonic()
                    outcome = await self._handle_with_retries(delivery)
                RECORDS.labels(group, record.topic, outcome).inc()
                STAGE_SECONDS.labels(group, record.topic, outcome).observe(
                    time.monotonic() - started)
            finally:
                telemetry.current_video_id.reset(token)
        await self._commit(tp, record.offset + 1)

    async def _handle_with_retries(self, delivery: Delivery) -> str:
        attempt = 0
        waited = 0.0  # on outages, which spend no attempt
        while True:
            attempt += 1
            try:
                await self.handler.handle(delivery)
                return "ok"
            except asyncio.CancelledError:
                raise
            except PermanentFailure as failure:
                await self._give_up(delivery, failure, failure, attempt)
                return "failed"
            except Exception as exc:  # the one broad catch: anything else is transient
                if is_outage(exc) and waited < self.settings.outage_patience_s:
                    attempt -= 1
                    delay = min(self.settings.backoff_max_s,
                                max(self.settings.backoff_base_s, waited / 2))
                    waited += delay
                    RETRIES.labels(self.settings.group_id, delivery.topic.name).inc()
                    log.warning("dependency unavailable (%.0f s so far), retrying in %.1fs: %r",
                                waited - delay, delay, exc)
                    await asyncio.sleep(delay)
                    continue
                if attempt >= self.settings.max_attempts:
                    exhausted = PermanentFailure(
                        "retries_exhausted",
                        f"gave up after {attempt} attempts: {type(exc).__name__}: {exc}",
                    )
                    await self._give_up(delivery, exhausted, exc, attempt)
                    return "failed"
                delay = min(self.settings.backoff_max_s,
                            self.settings.backoff_base_s * 2 ** (attempt - 1))
                RETRIES.labels(self.settings.group_id, delivery.topic.name).inc()
                log.warning("transient failure (attempt %d/%d), retrying in %.1fs: %r",
                            attempt, self.settings.max_attempts, delay, exc)
                await asyncio.sleep(delay)

    async def _give_up(self, delivery: Delivery, failure: PermanentFailure,
                       cause: BaseException, attempts: int) -> None:
        log.error("giving up on %s: %s %s", delivery.topic.name, failure.code, failure.message)
        await self.handler.failed(delivery, failure)
        await self._dead_letter(delivery.record, failure.code, cause, attempts,
                                delivery.video_id or None)

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], code: str,
                           error: BaseException, attempts: int, video_id: str | None) -> None:
        event = dead_letter_event(record, self.settings.group_id, code, error, attempts, video_id)
        headers = dead_letter_headers(record, self.settings.group_id, code, error)
        await self.producer.publish(DEAD_LETTER, event, extra_headers=headers)
        DEAD_LETTERS.labels(self.settings.group_id, record.topic, code).inc()

    async def _commit(self, tp: TopicPartition, next_offset: int) -> None:
        if self._commit_floor is not None:
            next_offset = self._commit_floor(tp, next_offset)
        try:
            await self.consumer.commit({tp: OffsetAndMetadata(next_offset, "")})
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # We lost the partition mid-job; its new owner redoes the work, idempotently.
            log.warning("commit of %s@%d failed (%s); the new owner will redo it",
                        tp, next_offset, exc)


async def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run `main(stop_event)`, setting the event on SIGTERM/SIGINT."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await main(stop)
