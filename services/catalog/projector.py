"""The projector: consumes every topic in `schemas.PIPELINE_TOPICS` and applies each batch to the
Postgres read models with `store.ProjectionStore`; emits nothing except dead letters to
`dead-letter` (records it cannot decode, or whose projection fails on its own).

Effectively-once without Kafka transactions: offsets live in Postgres, written in the
transaction that applies the batch; Kafka auto-commit is off. On every assignment the
rebalance listener seeks each partition to its stored offset (to the beginning of the
log when none is stored: the first run, or a rebuilt database); a stored offset the log
no longer has is reported loudly, never silently reset. The offsets are also
committed to Kafka after each batch, best effort and never read back, only so the usual
lag tooling (`kafka-consumer-groups --describe`) shows the catalog's position.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import logging
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeAlias, cast

import psycopg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError, NoOffsetForPartitionError, OffsetOutOfRangeError
from aiokafka.structs import OffsetAndMetadata

from schemas import DEAD_LETTER, PIPELINE_TOPICS, topic_by_name
from schemas.events import Event
from services.catalog import metrics
from services.catalog.rows import Position
from services.catalog.settings import CatalogSettings
from services.catalog.store import BatchOutcome, Item, PartitionKey, ProjectionStore
from services.shared import telemetry
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.consumers import new_consumer
from services.shared.dead_letters import dead_letter_event, dead_letter_headers
from services.shared.producer import EventProducer
from services.shared.retry import RetryPolicy, Tries, decide

log = logging.getLogger(__name__)

#: Error code of a decodable record whose projection failed even when applied alone.
PROJECTION_FAILED = "projection_failed"
_TRANSIENT = (psycopg.OperationalError, psycopg.errors.DeadlockDetected,
              psycopg.errors.SerializationFailure, KafkaError, TimeoutError)
#: Forever, 0.5 s growing to 10 s; outages count like any other transient failure here,
#: since nothing is given up on anyway.
RETRY = RetryPolicy(max_attempts=None, backoff_base_s=0.5, backoff_max_s=10.0,
                    transient=_TRANSIENT)
#: Fetched records held back for a later batch (`aligned_batch`): at most this many batches'
#: worth (a fetch hands out up to 1 MiB per partition, so a backlog's 70-odd partitions
#: hold far more than a batch; fewer left the batches cut by whatever was fetched first),
#: after which the oldest are applied whether or not they are aligned.
HELD_BATCHES = 10

KafkaRecord: TypeAlias = ConsumerRecord[bytes, bytes]


class _SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, projector: Projector) -> None:
        self._projector = projector

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # aiokafka waits for this before re-joining: letting the batch in flight commit
        # first means the next owner starts exactly where this one stopped.
        async with self._projector.batch_lock:
            self._projector.forget(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self._projector.batch_lock:
            await self._projector.seek_to_stored(assigned)


class Projector:
    """Runs until `stop` is set; `running`, `last_error` and `lag` feed /health."""

    def __init__(self, settings: CatalogSettings, codec: EventCodec,
                 producer: EventProducer) -> None:
        self.settings = settings
        self.codec = codec
        self.producer = producer
        #: Held while a batch is applied; the rebalance listener waits for it. A batch
        #: fetched around a rebalance is still applied: the store skips whatever is below
        #: the stored offsets, so a partition that moved away costs nothing twice (and
        #: dropping such a batch would lose it, since the consumer's position moved on).
        self.batch_lock = asyncio.Lock()
        self.running = False
        self.last_error: str | None = None
        self.positions: dict[PartitionKey, int] = {}
        #: Records fetched and not yet applied, per partition in log order; what is known
        #: of each partition's fetch: the next offset and the last record's timestamp.
        self._held: dict[TopicPartition, deque[KafkaRecord]] = {}
        self._fetched: dict[TopicPartition, tuple[int, int]] = {}
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._store: ProjectionStore | None = None
        self.consumer = self._new_consumer()

    def _new_consumer(self) -> AIOKafkaConsumer:
        settings = self.settings
        return new_consumer(
            settings.common.kafka_bootstrap, group_id=settings.group_id,
            client_id=f"{settings.group_id}-projector",
            # Every position comes from our own seek; one out of range is handled in
            # `_recover_out_of_range`, never silently reset.
            auto_offset_reset="none",
            # Range, not aiokafka's default round robin: partition p of every video topic
            # goes to the same member, and a video's events share p (same key, same
            # partition count), so projectors scaled out touch disjoint video rows instead
            # of queueing on each other's row locks.
            range_assignment=True,
        )

    def lags(self) -> dict[TopicPartition, int]:
        """Records not yet applied, per assigned partition whose position is known."""
        found = {}
        for tp in self.consumer.assignment():
            position = self.positions.get((tp.topic, tp.partition))
            high = self.consumer.highwater(tp) if position is not None else None
            if position is not None and high is not None:
                found[tp] = max(0, high - position)
        return found

    @property
    def lag(self) -> int:
        return sum(self.lags().values())

    def forget(self, revoked: Sequence[TopicPartition]) -> None:
        self._drop_held(revoked)
        for tp in revoked:
            self.positions.pop((tp.topic, tp.partition), None)
            with contextlib.suppress(KeyError):  # never set for a partition still unread
                metrics.LAG.remove(tp.topic, str(tp.partition))

    async def run(self, stop: asyncio.Event) -> None:
        await self._connect()
        self.consumer.subscribe([t.name for t in PIPELINE_TOPICS],
                                listener=_SeekToStoredOffsets(self))
        await self.consumer.start()
        self.running = True
        log.info("projecting %d topics as group %s", len(PIPELINE_TOPICS), self.settings.group_id)
        try:
            while not stop.is_set():
                await self._poll_once()
        finally:
            self.running = False
            await self.consumer.stop()
            if self._conn is not None:
                await self._conn.close()

    async def _connect(self) -> None:
        if self._conn is not None and not self._conn.closed:
            await self._conn.close()
        self._conn = await psycopg.AsyncConnection.connect(self.settings.common.pg_dsn)
        self._store = ProjectionStore(self._conn, self.settings.group_id)

    def _drop_held(self, partitions: Sequence[TopicPartition]) -> None:
        """Forget the held records of partitions moved away or sought: their next owner, or
        the fetch from the new position, reads them again."""
        for tp in partitions:
            self._held.pop(tp, None)
            self._fetched.pop(tp, None)

    async def seek_to_stored(self, assigned: Sequence[TopicPartition]) -> None:
        self._drop_held(assigned)
        keys = [(tp.topic, tp.partition) for tp in assigned]
        stored = await self._retrying(lambda: self._store_of().stored_offsets(keys))
        fresh = []
        for tp in assigned:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                fresh.append(tp)
                self.positions.pop((tp.topic, tp.partition), None)
            else:
                self.consumer.seek(tp, offset)
                self.positions[(tp.topic, tp.partition)] = offset
        if fresh:
            await self.consumer.seek_to_beginning(*fresh)
        log.info("assigned %d partitions (%d from stored offsets, %d from the beginning)",
                 len(assigned), len(assigned) - len(fresh), len(fresh))

    def _store_of(self) -> ProjectionStore:
        assert self._store is not None
        return self._store

    async def _poll_once(self) -> None:
        limit = self.settings.batch_max_records
        room = HELD_BATCHES * limit - sum(map(len, self._held.values()))
        batches: dict[TopicPartition, list[KafkaRecord]] = {}
        if room > 0:
            try:
                batches = await self.consumer.getmany(timeout_ms=self.settings.batch_max_wait_ms,
                                                      max_records=room)
            except OffsetOutOfRangeError as exc:
                async with self.batch_lock:
                    await self._recover_out_of_range(exc.args[0])
                return
            except NoOffsetForPartitionError as exc:
                # aiokafka assigns partitions, then awaits the rebalance listener; its fetcher
                # can look for a position in between and, for a group that never committed to
                # Kafka, find none (seen with two projectors joining at once). Postgres has it.
                (tp,) = exc.args
                async with self.batch_lock:
                    if tp in self.consumer.assignment():
                        await self.seek_to_stored([tp])
                return
        assigned = self.consumer.assignment()
        for tp, fetched in batches.items():
            if fetched and tp in assigned:  # else fetched as it moved away: its owner reads it
                self._held.setdefault(tp, deque()).extend(fetched)
                self._fetched[tp] = (fetched[-1].offset + 1, fetched[-1].timestamp)
        # Only a backlog waits for alignment (more than a batch held, and the fetch still
        # bringing more): a trickle is applied as it comes, so no record waits on a
        # partition whose log end is past its last record for good (a transaction marker).
        # Nothing came within the wait, or the hold is full: the oldest held go now.
        backlog = batches and sum(map(len, self._held.values())) > limit
        records = aligned_batch(self._held, limit, self._horizon() if backlog else None)
        if not records:
            self._update_lag()
            return
        async with self.batch_lock:
            started = time.perf_counter()
            # The pause first: the span's per-record contexts are a batch's worth too.
            with collector_paused(), telemetry.batch_span(
                    "db batch", [(r.topic, r.headers) for r in records],
                    **{"db.system": "postgresql"}):
                outcome = await self._apply(records)
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_RECORDS.observe(len(records))
        self._account(outcome)
        await self._commit_to_kafka(outcome.next_offsets)

    def _horizon(self) -> int | None:
        """The timestamp up to which every held record may be applied now: the last one
        fetched from each partition that holds nothing more while its log has more (its
        next records are no older, as their producers stamped them)."""
        horizon = None
        for tp, (next_offset, last_timestamp) in self._fetched.items():
            high = self.consumer.highwater(tp)
            if not self._held.get(tp) and high is not None and high > next_offset:
                horizon = last_timestamp if horizon is None else min(horizon, last_timestamp)
        return horizon

    async def _recover_out_of_range(self, positions: dict[TopicPartition, int]) -> None:
        """A stored offset the log no longer has: below its start, retention deleted
        records before they were applied (nothing to do but go on from the start); beyond
        its end, the topic was recreated, so its old offsets mean nothing: start it over
        (the event_id dedupe makes re-reading events already applied harmless)."""
        for tp, offset in positions.items():
            start = (await self.consumer.beginning_offsets([tp]))[tp]
            end = (await self.consumer.end_offsets([tp]))[tp]
            key = (tp.topic, tp.partition)
            if offset < start:
                log.error("%s: records %d..%d were deleted by retention before the catalog "
                          "applied them", tp, offset, start - 1)
            else:
                log.error("%s: stored offset %d is past the log end %d (topic recreated?); "
                          "projecting the partition again from %d", tp, offset, end, start)
                await self._retrying(lambda k=key, s=start: self._store_of().rewind(k, s))
            self._drop_held([tp])
            self.consumer.seek(tp, start)
            self.positions[key] = start

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> Item:
        position = Position(record.topic, record.partition, record.offset)
        try:
            # Every topic's class is one of the Event union (schemas/events.py).
            event = cast(Event, self.codec.decode(topic_by_name(record.topic), record.value))
        except UndecodableRecord as exc:
            log.warning("undecodable record %s/%d@%d: %s", record.topic, record.partition,
                        record.offset, exc)
            return Item(position, None, record, exc)
        return Item(position, event, record)

    def _decode_all(self, records: list[ConsumerRecord[bytes, bytes]]) -> list[Item]:
        return [self._decode(r) for r in records]

    async def _apply(self, records: list[ConsumerRecord[bytes, bytes]]) -> BatchOutcome:
        return await self._apply_bisecting(self._decode_all(records))

    async def _apply_bisecting(self, items: list[Item]) -> BatchOutcome:
        """Apply the batch; if it cannot be applied, apply its halves, down to the record
        that is the cause, which is dead-lettered so its partition keeps moving. Halves go
        in log order, so each one's offsets only move forward."""
        try:
            return await self._retrying(lambda: self._store_of().apply(items, self._dead_letter))
        except _TRANSIENT:
            raise
        except Exception as exc:
            if len(items) > 1:
                log.warning("batch of %d failed (%r); bisecting it", len(items), exc)
                middle = len(items) // 2
                return _merged(await self._apply_bisecting(items[:middle]),
                               await self._apply_bisecting(items[middle:]))
            (item,) = items
            log.exception("record %s/%d@%d cannot be projected; dead-lettering it",
                          item.position.topic, item.position.partition, item.position.offset)
            broken = Item(item.position, None, item.record, exc)
            return await self._retrying(lambda: self._store_of().apply([broken],
                                                                       self._dead_letter))

    async def _retrying(self, work: Any) -> Any:
        """Retry transient failures (Postgres, or Kafka refusing a dead letter) forever,
        reconnecting to Postgres as needed: nothing was committed, and the log waits.
        Anything else is raised (the batch is then bisected)."""
        tries = Tries()
        while True:
            try:
                return await work()
            except _TRANSIENT as exc:
                decision = decide(RETRY, tries, exc)
                tries = decision.tries
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("transient failure (%r); retrying in %.1fs", exc, decision.delay_s)
                if not gc.isenabled():  # an outage retried inside a batch's pause, maybe
                    gc.collect()        # for hours: its failures' cycles are freed here
                await asyncio.sleep(decision.delay_s)
                if self._conn is None or self._conn.closed or self._conn.broken:
                    try:
                        await self._connect()
                    except psycopg.OperationalError as again:
                        log.warning("reconnect failed: %s", again)

    async def _dead_letter(self, items: Sequence[Item]) -> None:
        group = self.settings.group_id
        for item in items:
            record, error = item.record, item.error
            assert record is not None and error is not None
            code = error.code if isinstance(error, UndecodableRecord) else PROJECTION_FAILED
            key = record.key.decode(errors="replace") if record.key else None
            video_id = getattr(item.event, "video_id", None) or key
            # Its id is per group (see `dead_letter_id`): transcode dead-lettering the same
            # record is a different fact, which the catalog must not dedupe away.
            event = dead_letter_event(record, group, code, error, 1, video_id)
            await self.producer.publish(DEAD_LETTER, event,
                                        extra_headers=dead_letter_headers(record, group, code,
                                                                          error))
            metrics.DEAD_LETTERED.labels(record.topic, code).inc()

    def _account(self, outcome: BatchOutcome) -> None:
        self.last_error = None
        for topic, count in outcome.applied.items():
            metrics.EVENTS_APPLIED.labels(topic).inc(count)
        metrics.EVENTS_SKIPPED.labels("duplicate").inc(outcome.duplicates)
        metrics.EVENTS_SKIPPED.labels("below_stored_offset").inc(outcome.stale)
        assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        self.positions.update((k, o) for k, o in outcome.next_offsets.items() if k in assigned)
        self._update_lag()

    def _update_lag(self) -> None:
        for tp, lag in self.lags().items():
            metrics.LAG.labels(tp.topic, str(tp.partition)).set(lag)

    async def _commit_to_kafka(self, next_offsets: dict[PartitionKey, int]) -> None:
        if not next_offsets:
            return
        offsets = {TopicPartition(t, p): OffsetAndMetadata(o, "")
                   for (t, p), o in next_offsets.items()}
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:  # only lag tooling reads these; Postgres has the truth
            log.debug("mirroring offsets to Kafka failed: %s", exc)


def aligned_batch(held: Mapping[Any, deque[KafkaRecord]], limit: int,
                  horizon: int | None) -> list[KafkaRecord]:
    """Pure: take up to `limit` held records, oldest timestamp first across partitions and
    each partition's in log order (a merge of the partitions' heads), none stamped after
    `horizon` (None: no bound). Taken records leave `held`.

    Why: a video's events are on several topics, one log each, and Kafka hands a backlog
    out in per-partition chunks spanning very different stretches of time, so a batch of
    whole chunks held one stage of many videos, and each video's row was rewritten in
    batch after batch (on the projection benchmark 229 row updates per 1,000 events, 2.7 a
    video; every one that moves its status is a new entry in each of the videos table's ten
    indexes). Batches cut by time hold each video's events together, as they were
    published: 58-63 updates per 1,000 events, and Postgres 40-47 -> 31-35 CPU-µs per event
    in two side-by-side holds (the projector's own CPU moved within the noise, 72-89
    before and 68-79 after: what it saves on video rows, decoding a larger hold, fetched
    longer ago, seems to give back); two projector processes, each reading half of the
    partitions: 111 -> 77 CPU-µs per event in all, peak RSS the same (215-274 MB). Any
    cut is as
    correct as any other: each partition's records stay in order, and the store decides
    what is applied (offsets, event ids); only the number of row rewrites changes."""
    heads = [(queue[0].timestamp, i, queue) for i, queue in enumerate(held.values()) if queue]
    heapq.heapify(heads)
    taken: list[KafkaRecord] = []
    while heads and len(taken) < limit:
        timestamp, i, queue = heads[0]
        if horizon is not None and timestamp > horizon:
            break
        # This partition's run up to the next head (the heap's second smallest) goes at once.
        until = min([h[0] for h in heads[1:3]], default=horizon)
        if horizon is not None and until is not None:
            until = min(until, horizon)
        taken.append(queue.popleft())
        while queue and len(taken) < limit and (until is None or queue[0].timestamp <= until):
            taken.append(queue.popleft())
        if queue:
            heapq.heapreplace(heads, (queue[0].timestamp, i, queue))
        else:
            heapq.heappop(heads)
    return taken


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is applied. Everything a batch makes (a
    few thousand events, their rows, their COPY values) lives until the batch commits, so
    the collector's young-generation passes free nothing, promote it all and then trigger
    full passes over the whole heap, video cache included: that doubled the projector's
    Python time per event (benchmarks/projection.py). Reference counting frees the
    batch's objects as usual; a cycle waits at most one batch."""
    if not gc.isenabled():  # someone else's pause: not ours to end
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _merged(first: BatchOutcome, second: BatchOutcome) -> BatchOutcome:
    total = BatchOutcome(first.applied + second.applied,
                         first.duplicates + second.duplicates, first.stale + second.stale,
                         first.dead_lettered + second.dead_lettered,
                         dict(first.next_offsets),
                         first.statuses_changed or second.statuses_changed)
    for key, offset in second.next_offsets.items():
        total.next_offsets[key] = max(total.next_offsets.get(key, 0), offset)
    return total
