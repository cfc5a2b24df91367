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
from typing import Any

from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from services.shared.dead_letter_log import (
    DeadLetter,
    fold_repeats,
    parse_id,
    parse_since,
    read_dead_letter,
    read_dead_letters,
    redrive,
    select_for_redrive,
)
from services.shared.settings import CommonSettings

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
    # A record redone after a rebalance is dead-lettered twice under one event id: listed
    # once, at its first copy, with the count.
    folded = fold_repeats(letters)
    folded = folded[-args.limit:] if args.limit else folded
    if args.json:
        for letter, copies in folded:
            print(json.dumps({**_summary(letter), "copies": copies}))
        return 0
    table = Table("id", "time", "original", "group", "code", "redrives", "copies", "message",
                  title=f"dead-letter: {len(folded)} shown")
    for letter, copies in folded:
        s = _summary(letter)
        origin = (f"{s['original_topic']}/{s['original_partition']}@{s['original_offset']}"
                  if letter.event else "-")
        table.add_row(s["id"], s["time"], origin, s["group"] or "-", s["error_code"],
                      str(s["redrive_count"] if s["redrive_count"] is not None else "-"),
                      str(copies), (s["message"] or "")[:120])
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
