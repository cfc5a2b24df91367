"""The consume-handle-produce loop every Kafka-driven service runs.

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
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import Counter

from schemas import DEAD_LETTER, Topic, topic_by_name
from schemas.events import Record
from services.shared import telemetry
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.consumers import OffsetReset, new_consumer
from services.shared.dead_letters import dead_letter_event, dead_letter_headers
from services.shared.lifecycle import wait_for_kafka
from services.shared.locations import scrub
from services.shared.metrics import STAGE_SECONDS, LagGauge
from services.shared.producer import EventProducer
from services.shared.retry import RetryPolicy, Tries, decide

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
    auto_offset_reset: OffsetReset = "earliest"


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


class PartitionSelector(Protocol):
    """Narrows which partitions a free slot may fetch from (transcode's priority lanes)."""

    async def allowed(self, consumer: AIOKafkaConsumer,
                      candidates: Sequence[TopicPartition]) -> set[TopicPartition]: ...

    def taken(self, topic: str) -> None:
        """A record of `topic` was taken into a slot."""
        ...


class ConsumeLoop:
    """Runs a Handler over a consumer group until `stop()`."""

    def __init__(self, settings: LoopSettings, bootstrap: str, codec: EventCodec,
                 producer: EventProducer, handler: Handler,
                 commit_floor: CommitFloor | None = None,
                 on_revoked: Callable[[list[TopicPartition]], None] | None = None,
                 selector: PartitionSelector | None = None) -> None:
        self.settings = settings
        self.codec = codec
        self.producer = producer
        self.handler = handler
        # Lets a stateful service (the packager) hold its committed offset back to the
        # first record it still needs, so its state rebuilds from the log on restart.
        self._commit_floor = commit_floor
        self.on_revoked = on_revoked
        #: Which of the idle partitions a free slot may take from (None: any of them).
        self._selector = selector
        self._inflight: dict[TopicPartition, _Inflight] = {}
        self._stopping = asyncio.Event()
        self._control = {t.name for t in settings.control_topics}
        self._lag = LagGauge(settings.group_id)
        self._retry = RetryPolicy(max_attempts=settings.max_attempts,
                                  backoff_base_s=settings.backoff_base_s,
                                  backoff_max_s=settings.backoff_max_s,
                                  outage_patience_s=settings.outage_patience_s,
                                  permanent=(PermanentFailure,))
        self._bootstrap = bootstrap
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def consumer(self) -> AIOKafkaConsumer:
        """The group member. It is made by `run()`, not here: a loop stopped before it ran
        (its service told to stop while waiting for Kafka) leaves no unclosed client."""
        assert self._consumer is not None, "the consume loop has not run"
        return self._consumer

    async def run(self) -> None:
        names = [t.name for t in (*self.settings.topics, *self.settings.control_topics)]
        s = self.settings
        self._consumer = new_consumer(
            self._bootstrap, group_id=s.group_id, instance_id=s.group_instance_id,
            auto_offset_reset=s.auto_offset_reset, session_timeout_ms=s.session_timeout_ms,
            max_poll_interval_ms=s.max_poll_interval_ms)
        self.consumer.subscribe(names, listener=_Rebalance(self))
        try:
            # Inside the try: a start that fails (no broker) still closes the client.
            await self.consumer.start()
            log.info("consuming %s as group %s", names, s.group_id)
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
        await wait_for_kafka(self.producer.bootstrap, self.producer.start,
                             self.settings.outage_patience_s)

    async def _poll_once(self) -> None:
        self._reap()
        assigned = self.consumer.assignment()
        busy = set(self._inflight)
        free = self.settings.concurrency - len(busy)
        allowed = None
        if self._selector is not None and free > 0:
            idle = [tp for tp in assigned if tp not in busy and tp.topic not in self._control]
            allowed = await self._selector.allowed(self.consumer, idle)
        for tp in assigned:
            at_capacity = free <= 0 and tp.topic not in self._control
            held_back = (allowed is not None and tp.topic not in self._control
                         and tp not in allowed)
            if tp in busy or at_capacity or held_back:
                self.consumer.pause(tp)
            else:
                self.consumer.resume(tp)
        if busy and free <= 0:
            # Every slot is taken: wait for one to come free (half a second at most, for the
            # control topics' cancellations and the poll that keeps us in the group) rather
            # than in a 500 ms poll with everything paused, which held a one-slot loop to
            # about two records a second.
            await asyncio.wait([i.task for i in self._inflight.values()], timeout=0.5,
                               return_when=asyncio.FIRST_COMPLETED)
            wait_ms = 0
        else:
            # A slot may free up any moment while others work: poll briefly then.
            wait_ms = 50 if busy else 500
        batches = await self.consumer.getmany(timeout_ms=wait_ms, max_records=max(free, 1))
        await self._lag.refresh(self.consumer)
        for tp, records in batches.items():
            if not records:
                continue
            if tp.topic in self._control:
                for record in records:
                    await self._process(tp, record)
                continue
            self.consumer.pause(tp)
            if self._selector is not None:
                self._selector.taken(tp.topic)
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
        tries = Tries()
        while True:
            try:
                await self.handler.handle(delivery)
                return "ok"
            except asyncio.CancelledError:
                raise
            except Exception as failure:  # the one broad catch: the policy classifies it
                exc = failure
            decision = decide(self._retry, tries, exc)
            if decision.action == "permanent":
                assert isinstance(exc, PermanentFailure)
                await self._give_up(delivery, exc, exc, decision.tries.attempts)
                return "failed"
            if decision.action == "exhausted":
                attempts = decision.tries.attempts
                # Any exception's own text (an OSError's path, a client's endpoint URL)
                # becomes the failure reason users read: scrubbed of server locations.
                exhausted = PermanentFailure(
                    "retries_exhausted",
                    f"gave up after {attempts} attempts: {type(exc).__name__}: {scrub(str(exc))}",
                )
                await self._give_up(delivery, exhausted, exc, attempts)
                return "failed"
            RETRIES.labels(self.settings.group_id, delivery.topic.name).inc()
            if decision.outage:
                log.warning("dependency unavailable (%.0f s so far), retrying in %.1fs: %r",
                            tries.waited_s, decision.delay_s, exc)
            else:
                log.warning("transient failure (attempt %d/%d), retrying in %.1fs: %r",
                            decision.tries.attempts, self.settings.max_attempts,
                            decision.delay_s, exc)
            tries = decision.tries
            await asyncio.sleep(decision.delay_s)

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
