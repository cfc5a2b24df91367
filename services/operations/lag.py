"""`reelflow lag [--group G] [--json] [--watch]`: how far behind each consumer group is.

Per group, topic and partition: the committed offset, the log-end offset and the lag, laid
out like `kafka-consumer-groups.sh --describe` (`-` where the group committed nothing), and
a total per group. Groups come from the cluster (every group Kafka knows, with or without
live members, so a stopped service's backlog stays visible) and from the catalog's
`consumer_offsets` table: the catalog stores its offsets in Postgres, in the transaction
that applies them, and only mirrors them to Kafka best effort, so for the groups found in
Postgres the Postgres figures are the ones reported (SOURCE `postgres`).

The figures come from `shared.group_lag`, the Postgres offsets from `catalog.offsets`; the
catalog process exports the same figures as Prometheus gauges (`catalog.lag_exporter`).

`--watch` reads them again every `--interval` seconds until Ctrl-C (or `--count` frames): in
a terminal the view is redrawn in place, piped each frame follows the last. A broker that
stops answering is shown in the frame, and the watch goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aiokafka.errors import KafkaError
from rich.console import Console
from rich.live import Live
from rich.text import Text

from services.catalog.offsets import every_group_or_nothing
from services.shared.group_lag import GroupLag, collect
from services.shared.settings import CommonSettings


async def report_of(common: CommonSettings, groups: Sequence[str] | None = None) -> list[GroupLag]:
    """Every group's lag, with the catalog's offsets from Postgres."""
    return await collect(common.kafka_bootstrap, await every_group_or_nothing(common.pg_dsn),
                         groups)


def _dash(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def format_table(report: Sequence[GroupLag]) -> str:
    """`kafka-consumer-groups.sh --describe` columns, one block per group with a total."""
    header = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
              "CONSUMER-ID", "HOST", "CLIENT-ID", "SOURCE")
    blocks = []
    for group in report:
        rows = [header]
        for p in group.partitions:
            owner = group.owner(p.topic, p.partition)
            rows.append((group.group, p.topic, str(p.partition), _dash(p.current),
                         str(p.log_end), _dash(p.lag),
                         _dash(owner and owner.member_id), _dash(owner and owner.host),
                         _dash(owner and owner.client_id), group.source))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
        members = len(group.members)
        lines.append(f"TOTAL LAG {group.group}: {group.total} (state {group.state}, "
                     f"{members} live member{'s' if members != 1 else ''})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "no consumer groups"


def unreachable(common: CommonSettings, exc: KafkaError) -> str:
    return f"lag: Kafka at {common.kafka_bootstrap} did not answer: {exc}"


def frame(view: str, number: int, interval_s: float, taken_at: datetime) -> str:
    """One refresh of `--watch`: a heading saying when it was read, then the view."""
    return (f"reelflow lag --watch: refresh {number}, every {interval_s:g} s, "
            f"{taken_at:%H:%M:%S} UTC (Ctrl-C stops)\n\n{view}")


async def watch(common: CommonSettings, groups: Sequence[str] | None, interval_s: float,
                count: int, show: Callable[[str], None]) -> None:
    """Show a frame every `interval_s` s (from the start of the last read), `count` times
    (0: until cancelled or Ctrl-C)."""
    loop = asyncio.get_running_loop()
    # Ctrl-C ends the watch between reads: asyncio.run's own handler cancels the task
    # wherever it is, and a cancel landing inside the Kafka admin client's calls could be
    # swallowed, leaving the watch running (seen once under a full suite's load).
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
    number = 0
    while not stop.is_set():
        number += 1
        # From this read's start, so a slow read (a broker outage) delays the next frame
        # instead of making the ones after it come back to back.
        next_at = loop.time() + interval_s
        try:
            view = format_table(await report_of(common, groups))
        except KafkaError as exc:
            view = unreachable(common, exc)
        show(frame(view, number, interval_s, datetime.now(UTC)))
        if count and number >= count:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_at - loop.time()))


def _watch(args: argparse.Namespace, common: CommonSettings) -> int:
    console = Console()
    try:
        if console.is_terminal:
            with Live(console=console, auto_refresh=False) as live:
                asyncio.run(watch(common, args.group or None, args.interval, args.count,
                                  lambda text: live.update(Text(text), refresh=True)))
        else:
            asyncio.run(watch(common, args.group or None, args.interval, args.count,
                              lambda text: print(text, end="\n\n", flush=True)))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends
    return 0


def _main(args: argparse.Namespace) -> int:
    common = CommonSettings()
    if args.watch:
        if args.json:
            print("lag: --watch shows the table; --json is for one document", file=sys.stderr)
            return 2
        return _watch(args, common)
    try:
        report = asyncio.run(report_of(common, args.group or None))
    except KafkaError as exc:
        print(unreachable(common, exc), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([g.as_json() for g in report], indent=2))
    else:
        print(format_table(report))
    return 0


def _seconds(value: str) -> float:
    seconds = float(value)
    if not seconds > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return seconds


def _frames(value: str) -> int:
    count = int(value)
    if count < 0:
        raise argparse.ArgumentTypeError("must be 0 (never stop) or more")
    return count


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "lag", help="committed offset, log end and lag per consumer group and partition",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", action="append",
                        help="only this group (repeatable; default: every group)")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.add_argument("--watch", action="store_true",
                        help="refresh the view live until Ctrl-C")
    parser.add_argument("--interval", type=_seconds, default=2.0,
                        help="seconds between refreshes of --watch (default 2)")
    parser.add_argument("--count", type=_frames, default=0,
                        help="with --watch: stop after this many refreshes (default: never)")
    parser.set_defaults(func=_main)
