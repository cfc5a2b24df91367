"""`reelflow lag [--group G] [--json]`: how far behind each consumer group is.

Per group, topic and partition: the committed offset, the log-end offset and the lag, laid
out like `kafka-consumer-groups.sh --describe` (`-` where the group committed nothing), and
a total per group. Groups come from the cluster (every group Kafka knows, with or without
live members, so a stopped service's backlog stays visible) and from the catalog's
`consumer_offsets` table: the catalog stores its offsets in Postgres, in the transaction
that applies them, and only mirrors them to Kafka best effort, so for the groups found in
Postgres the Postgres figures are the ones reported (SOURCE `postgres`).

The figures come from `shared.group_lag`, the Postgres offsets from `catalog.offsets`; the
catalog process exports the same figures as Prometheus gauges (`catalog.lag_exporter`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from aiokafka.errors import KafkaError

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


def _main(args: argparse.Namespace) -> int:
    common = CommonSettings()
    try:
        report = asyncio.run(report_of(common, args.group or None))
    except KafkaError as exc:
        print(f"lag: Kafka at {common.kafka_bootstrap} did not answer: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([g.as_json() for g in report], indent=2))
    else:
        print(format_table(report))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "lag", help="committed offset, log end and lag per consumer group and partition",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", action="append",
                        help="only this group (repeatable; default: every group)")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.set_defaults(func=_main)
