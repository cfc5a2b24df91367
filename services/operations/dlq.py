"""`reelflow dlq list|show|redrive`: read the `dead-letter` topic and send records back.

  reelflow dlq list [--limit N] [--topic T] [--group G] [--json]
  reelflow dlq show ID                      every field, headers, hexdump of the original bytes
  reelflow dlq redrive ID                   re-publish one original record
  reelflow dlq redrive --topic T [--since ISO] [--group G] [--max-redrives N] [--dry-run]

ID is `<partition>:<offset>` of the dead-letter record: the log is the source of truth, so
the tool reads Kafka directly and works while the catalog (which also lists dead letters)
is down.

A redrive writes the ORIGINAL key and bytes, unchanged, to the ORIGINAL topic and partition
(so a video's events keep their order), with the original headers plus
`reelflow-redrive-count` (the dead letter's count + 1) and `reelflow-redriven-from`
(`dead-letter:<p>:<o>`). Every consumer group of that topic sees the copy; they are all
idempotent on event ids, so the groups that had succeeded do nothing new. Nothing redrives
automatically: a copy that fails again lands in `dead-letter` once more, with the higher
count, and waits for an operator (bulk redrives skip records redriven `--max-redrives`
times already, so a poison record cannot be cycled forever by a cron job).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from schemas import ALL_TOPICS, DEAD_LETTER, events
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.consumers import new_consumer, started
from services.shared.producer import EventProducer
from services.shared.settings import CommonSettings

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


# -- presentation -------------------------------------------------------------------------

def _console() -> Console:
    # Piped output (scripts, tests) gets a wide table instead of one squeezed to 80 columns.
    return Console(width=None if sys.stdout.isatty() else 220)


def _summary(letter: DeadLetter) -> dict[str, Any]:
    e = letter.event
    return {
        "id": letter.id,
        "time": letter.time.isoformat(timespec="seconds"),
        "original_topic": e.original_topic if e else None,
        "original_partition": e.original_partition if e else None,
        "original_offset": e.original_offset if e else None,
        "group": e.consumer_group if e else None,
        "error_code": e.error_code if e else "unreadable",
        "redrive_count": e.redrive_count if e else None,
        "video_id": e.video_id if e else None,
        "message": e.error_message if e else letter.decode_error,
    }


def hexdump(data: bytes, limit: int = 256) -> str:
    lines = []
    for at in range(0, min(len(data), limit), 16):
        chunk = data[at:at + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{at:08x}  {chunk.hex(' '):<47}  {text}")
    if len(data) > limit:
        lines.append(f"… {len(data) - limit} more bytes")
    return "\n".join(lines) or "(empty)"


def _show_value(value: bytes | None) -> str:
    if value is None:
        return "null"
    try:
        return value.decode()
    except UnicodeDecodeError:
        return "0x" + value.hex()


def _list(args: argparse.Namespace) -> int:
    letters = asyncio.run(read_dead_letters(CommonSettings().kafka_bootstrap))
    letters = [d for d in letters if (args.topic is None or (d.origin or ("",))[0] == args.topic)
               and (args.group is None or (d.event is not None
                                           and d.event.consumer_group == args.group))]
    letters.sort(key=lambda d: (d.timestamp_ms, d.partition, d.offset))
    letters = letters[-args.limit:] if args.limit else letters
    if args.json:
        for letter in letters:
            print(json.dumps(_summary(letter)))
        return 0
    table = Table("id", "time", "original", "group", "code", "redrives", "message",
                  title=f"dead-letter: {len(letters)} shown")
    for letter in letters:
        s = _summary(letter)
        origin = (f"{s['original_topic']}/{s['original_partition']}@{s['original_offset']}"
                  if letter.event else "-")
        table.add_row(s["id"], s["time"], origin, s["group"] or "-", s["error_code"],
                      str(s["redrive_count"] if s["redrive_count"] is not None else "-"),
                      (s["message"] or "")[:120])
    _console().print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    partition, offset = parse_id(args.id)
    letter = asyncio.run(read_dead_letter(CommonSettings().kafka_bootstrap, partition, offset))
    out = _console()
    out.print(f"[bold]dead-letter {letter.id}[/] written {letter.time.isoformat()}")
    if letter.event is None:
        out.print(f"[red]unreadable:[/] {letter.decode_error}")
        return 1
    e = letter.event
    for name, value in e.to_record().items():
        if name in ("original_value", "original_key", "original_headers", "stacktrace"):
            continue
        out.print(f"  {name:<20} {value}", markup=False, highlight=False)
    out.print(f"  {'original_key':<20} {_show_value(e.original_key)}", markup=False)
    out.print("[bold]original headers[/]")
    for h in e.original_headers:
        out.print(f"  {h.key} = {_show_value(h.value)}", markup=False, highlight=False)
    out.print("[bold]dead-letter headers[/]")
    for key, value in letter.headers:
        out.print(f"  {key} = {_show_value(value)}", markup=False, highlight=False)
    original = e.original_value or b""
    out.print(f"[bold]original value[/] ({len(original)} bytes)")
    out.print(hexdump(original), markup=False, highlight=False)
    out.print("[bold]stacktrace[/]")
    out.print(e.stacktrace or "(none)", markup=False, highlight=False)
    return 0


def _redrive(args: argparse.Namespace) -> int:
    bootstrap = CommonSettings().kafka_bootstrap
    if (args.id is None) == (args.topic is None):
        print("redrive: give either a dead-letter ID or --topic", file=sys.stderr)
        return 2
    skipped: list[DeadLetter] = []
    if args.id is not None:
        if args.since or args.group:
            print("redrive: --since/--group go with --topic", file=sys.stderr)
            return 2
        letters = [asyncio.run(read_dead_letter(bootstrap, *parse_id(args.id)))]
    else:
        since = parse_since(args.since) if args.since else None
        letters, skipped = select_for_redrive(
            asyncio.run(read_dead_letters(bootstrap, since)), args.topic, args.group,
            args.max_redrives)
    for letter in skipped:
        count = letter.event.redrive_count if letter.event else None
        print(f"skipped {letter.id}: already redriven {count} times"
              f" (--max-redrives {args.max_redrives})")
    if args.dry_run:
        for letter in letters:
            print(f"would redrive {letter.id} -> {'/'.join(map(str, letter.origin or ()))}")
        return 0
    for done in asyncio.run(redrive(bootstrap, letters)):
        print(f"redrove {done.letter.id} -> {done.topic}/{done.partition}@{done.offset}")
    return 0


def _reported(command: Any) -> Any:
    """A bad ID, an unreadable record or an unreachable broker gets one line, not a trace."""
    def run(args: argparse.Namespace) -> int:
        try:
            return int(command(args))
        except (LookupError, ValueError) as exc:
            print(f"dlq {args.dlq_command}: {exc}", file=sys.stderr)
            return 1
        except KafkaError as exc:
            print(f"dlq {args.dlq_command}: Kafka at {CommonSettings().kafka_bootstrap} "
                  f"did not answer: {exc}", file=sys.stderr)
            return 1
    return run


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "dlq", help="list, show and redrive dead letters (reads Kafka directly)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="dlq_command", required=True)
    p_list = sub.add_parser("list", help="a table of dead letters, newest last")
    p_list.add_argument("--limit", type=int, default=50, help="newest N (0 = all; default 50)")
    p_list.add_argument("--topic", help="only records that came from this topic")
    p_list.add_argument("--group", help="only records this consumer group gave up on")
    p_list.add_argument("--json", action="store_true", help="one JSON object per line")
    p_list.set_defaults(func=_reported(_list))
    p_show = sub.add_parser("show", help="everything about one dead letter")
    p_show.add_argument("id", help="<partition>:<offset> of the dead-letter record")
    p_show.set_defaults(func=_reported(_show))
    p_redrive = sub.add_parser("redrive", help="re-publish original records to their topic")
    p_redrive.add_argument("id", nargs="?", help="<partition>:<offset> of one dead letter")
    p_redrive.add_argument("--topic", help="redrive every dead letter from this topic")
    p_redrive.add_argument("--since", help="with --topic: dead-lettered at or after this "
                           "ISO-8601 time (UTC unless it says otherwise)")
    p_redrive.add_argument("--group", help="with --topic: only what this group gave up on")
    p_redrive.add_argument("--max-redrives", type=int, default=3,
                           help="with --topic: skip records redriven this often (default 3)")
    p_redrive.add_argument("--dry-run", action="store_true", help="say what would be redriven")
    p_redrive.set_defaults(func=_reported(_redrive))
