"""The `dead-letter` topic as a log: read its records, decode them, and redrive them.

Shared by the operator's `reelflow dlq` command and the catalog's console, so neither
imports the other. A redrive writes the ORIGINAL key and bytes, unchanged, to the ORIGINAL
topic and partition (so a video's events keep their order), with the original headers plus
`reelflow-redrive-count` (the dead letter's count + 1) and `reelflow-redriven-from`
(`dead-letter:<p>:<o>`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import ALL_TOPICS, DEAD_LETTER, events
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.consumers import new_consumer, started
from services.shared.producer import EventProducer

REDRIVE_COUNT = "reelflow-redrive-count"
REDRIVEN_FROM = "reelflow-redriven-from"
_CODEC = EventCodec(ALL_TOPICS)


@dataclass(frozen=True)
class DeadLetter:
    """One record of the `dead-letter` topic, decoded when it can be."""

    partition: int
    offset: int
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...]
    event: events.DeadLetter | None
    #: Why `event` is None: someone wrote a record the dead-letter schema cannot read.
    decode_error: str | None = None

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)

    @property
    def origin(self) -> tuple[str, int, int] | None:
        if self.event is None:
            return None
        e = self.event
        return e.original_topic, e.original_partition, e.original_offset


def parse_id(text: str) -> tuple[int, int]:
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise ValueError(f"not a dead-letter id (want <partition>:<offset>): {text!r}")
    return int(partition), int(offset)


def parse_since(text: str) -> int:
    """ISO-8601 time (naive means UTC) as epoch milliseconds."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _decode(record: Any) -> DeadLetter:
    headers = tuple((k, v or b"") for k, v in (record.headers or ()))
    try:
        event: events.DeadLetter | None = _CODEC.decode(DEAD_LETTER, record.value)
        error = None
    except UndecodableRecord as exc:
        event, error = None, str(exc)
    return DeadLetter(record.partition, record.offset, record.timestamp, headers, event, error)


def _reader(bootstrap: str) -> AbstractAsyncContextManager[AIOKafkaConsumer]:
    # No group: an inspection must never move (or create) a consumer group's offsets.
    return started(new_consumer(bootstrap))


async def read_dead_letters(bootstrap: str, since_ms: int | None = None) -> list[DeadLetter]:
    """Every dead letter (from `since_ms` on), oldest first within each partition."""
    async with _reader(bootstrap) as consumer:
        # aiokafka's partitions_for_topic() only knows subscribed or assigned topics, and
        # topics() does not update that view: ask the cluster metadata directly.
        cluster = await consumer._client.fetch_all_metadata()
        parts = [TopicPartition(DEAD_LETTER.name, p)
                 for p in sorted(cluster.partitions_for_topic(DEAD_LETTER.name) or ())]
        if not parts:
            return []
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        starts = await consumer.beginning_offsets(parts)
        if since_ms is not None:
            found = await consumer.offsets_for_times({tp: since_ms for tp in parts})
            starts = {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in parts}
        for tp in parts:
            consumer.seek(tp, starts[tp])
        pending = {tp for tp in parts if starts[tp] < ends[tp]}
        letters: list[DeadLetter] = []
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batches.items():
                letters.extend(_decode(r) for r in records if r.offset < ends[tp])
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return letters


async def read_dead_letter(bootstrap: str, partition: int, offset: int) -> DeadLetter:
    async with _reader(bootstrap) as consumer:
        tp = TopicPartition(DEAD_LETTER.name, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        start = (await consumer.beginning_offsets([tp]))[tp]
        if not start <= offset < end:
            raise LookupError(f"dead-letter {partition}:{offset} does not exist "
                              f"(partition {partition} holds offsets {start}..{end - 1})")
        consumer.seek(tp, offset)
        # Transaction markers occupy offsets too: a marker's offset holds no record.
        while await consumer.position(tp) < end:
            for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, ()):
                if record.offset == offset:
                    return _decode(record)
                if record.offset > offset:
                    raise LookupError(f"dead-letter {partition}:{offset} is not a record")
        raise LookupError(f"dead-letter {partition}:{offset} is not a record")


def redrive_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The original headers, with this redrive's provenance replacing any earlier one."""
    assert letter.event is not None
    kept = [(h.key, h.value or b"") for h in letter.event.original_headers
            if h.key not in (REDRIVE_COUNT, REDRIVEN_FROM)]
    count = letter.event.redrive_count + 1
    return [*kept, (REDRIVE_COUNT, str(count).encode()),
            (REDRIVEN_FROM, f"{DEAD_LETTER.name}:{letter.id}".encode())]


@dataclass(frozen=True)
class Redriven:
    letter: DeadLetter
    topic: str
    partition: int
    offset: int


async def redrive(bootstrap: str, letters: Sequence[DeadLetter]) -> list[Redriven]:
    """Re-publish each letter's original record; returns where each copy landed."""
    producer = EventProducer(bootstrap, _CODEC, "reelflow-dlq")
    await producer.start()
    try:
        done = []
        for letter in letters:
            if letter.event is None or letter.origin is None:
                raise ValueError(f"dead-letter {letter.id} cannot be read, so not redriven: "
                                 f"{letter.decode_error}")
            topic, partition, _ = letter.origin
            meta = await producer.publish_bytes(
                topic, letter.event.original_value, letter.event.original_key,
                redrive_headers(letter),
                # The original partition keeps the copy in order with the video's other events,
                # whatever partitioner the original writer used.
                partition=partition,
            )
            done.append(Redriven(letter, meta.topic, meta.partition, meta.offset))
        return done
    finally:
        await producer.stop()


def fold_repeats(letters: Iterable[DeadLetter]) -> list[tuple[DeadLetter, int]]:
    """Each dead letter once, the first copy, with how many copies the topic holds.

    A record redone after a rebalance (the commit after its dead letter failed) is dead-
    lettered again under the same event id: one fact, written twice. Unreadable records
    have no id and are each their own."""
    first: dict[str, DeadLetter] = {}
    copies: Counter[str] = Counter()
    for letter in letters:
        key = letter.event.event_id if letter.event is not None else f"unreadable {letter.id}"
        first.setdefault(key, letter)
        copies[key] += 1
    return [(letter, copies[key]) for key, letter in first.items()]


def select_for_redrive(letters: Iterable[DeadLetter], topic: str, group: str | None = None,
                       max_redrives: int = 3) -> tuple[list[DeadLetter], list[DeadLetter]]:
    """(to redrive, skipped as redriven too often). One copy per original record: every
    group that failed on a record dead-letters it, but one copy reaches every group."""
    chosen: dict[tuple[str, int, int], DeadLetter] = {}
    skipped = []
    for letter in letters:
        if letter.event is None or letter.event.original_topic != topic:
            continue
        if group is not None and letter.event.consumer_group != group:
            continue
        if letter.event.redrive_count >= max_redrives:
            skipped.append(letter)
            continue
        assert letter.origin is not None
        chosen.setdefault(letter.origin, letter)
    return list(chosen.values()), skipped
