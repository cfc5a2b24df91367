"""`reelflow replay`: move a stopped consumer group's offsets, like
`kafka-consumer-groups.sh --reset-offsets`.

  reelflow replay --group G --topic T [--partition P ...]
                  (--to-earliest | --to-latest | --to-datetime ISO | --to-offset N | --shift-by N)
                  [--dry-run | --execute]

Dry-run is the default: it prints the plan (GROUP TOPIC PARTITION CURRENT-OFFSET NEW-OFFSET)
and changes nothing. `--execute` refuses, with exit status 2, while the group has live
members: a running consumer would overwrite the new offsets with its own next commit.

Where the offsets live decides how they move. Kafka groups get the new offsets committed
to Kafka under their group id. Catalog projector groups (`catalog`, or any group with rows
in the catalog's `consumer_offsets` table) keep their truth in Postgres, so that is what is
rewritten (and mirrored to Kafka for the lag tooling). Re-reading the log does not rebuild
the catalog, though: `applied_events` makes every event already applied a no-op. For a real
rebuild of the read models use `reelflow catalog rebuild`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from services.catalog import offsets
from services.shared.consumers import new_consumer, started, stop_quietly
from services.shared.group_lag import describe_groups
from services.shared.settings import CommonSettings

#: Exit status when the group is in use (the plan is not applied).
GROUP_ACTIVE = 2
#: The catalog's default group: its offsets are in Postgres even before it committed any.
CATALOG_GROUP = "catalog"


@dataclass(frozen=True)
class Target:
    """Where to move: exactly one of the `kafka-consumer-groups.sh` reset specs."""

    kind: str  # earliest | latest | datetime | offset | shift
    value: int | datetime | None = None


@dataclass(frozen=True)
class Move:
    topic: str
    partition: int
    current: int | None
    new: int


@dataclass
class Plan:
    group: str
    store: str  # "kafka" or "postgres"
    moves: list[Move]
    live_members: int


class GroupActive(Exception):
    pass


def _clamp(offset: int, start: int, end: int) -> int:
    return max(start, min(offset, end))


async def plan(common: CommonSettings, group: str, topic: str, target: Target,
               partitions: Sequence[int] = ()) -> Plan:
    admin = AIOKafkaAdminClient(bootstrap_servers=common.kafka_bootstrap)
    await admin.start()
    try:
        described = (await describe_groups(admin, [group])).get(group)
        live = len(described.members) if described and described.live else 0
        stored = await _stored_in_postgres(common, group)
        if stored is not None:
            store, current = "postgres", stored
        else:
            offsets = await admin.list_consumer_group_offsets(group)
            store = "kafka"
            current = {(tp.topic, tp.partition): m.offset for tp, m in offsets.items()
                       if m.offset >= 0}
    finally:
        await admin.close()
    async with started(new_consumer(common.kafka_bootstrap, committed_only=False)) as consumer:
        known = consumer.partitions_for_topic(topic)
        if not known:
            await consumer._client.force_metadata_update()  # noqa: SLF001 (first look-up)
            known = consumer.partitions_for_topic(topic)
        if not known:
            raise LookupError(f"topic {topic!r} does not exist")
        chosen = sorted(partitions) if partitions else sorted(known)
        missing = set(chosen) - set(known)
        if missing:
            raise LookupError(f"topic {topic!r} has no partition {sorted(missing)}")
        tps = [TopicPartition(topic, p) for p in chosen]
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        at_time: dict[TopicPartition, int | None] = {}
        if target.kind == "datetime":
            assert isinstance(target.value, datetime)
            millis = int(target.value.timestamp() * 1000)
            found = await consumer.offsets_for_times({tp: millis for tp in tps})
            at_time = {tp: (f.offset if f is not None else None) for tp, f in found.items()}
    moves = []
    for tp in tps:
        start, end = starts[tp], ends[tp]
        now = current.get((tp.topic, tp.partition))
        if target.kind == "earliest":
            new = start
        elif target.kind == "latest":
            new = end
        elif target.kind == "datetime":
            new = at_time[tp] if at_time[tp] is not None else end  # nothing that late
        elif target.kind == "offset":
            assert isinstance(target.value, int)
            new = _clamp(target.value, start, end)
        else:
            assert isinstance(target.value, int)
            new = _clamp((now if now is not None else start) + target.value, start, end)
        moves.append(Move(tp.topic, tp.partition, now, new))
    return Plan(group, store, moves, live)


async def _stored_in_postgres(common: CommonSettings, group: str
                              ) -> dict[tuple[str, int], int] | None:
    """The group's offsets when it is a catalog projector group, else None."""
    try:
        stored = await offsets.every_group_at(common.pg_dsn)
    except psycopg.OperationalError:
        if group == CATALOG_GROUP:
            raise  # its truth is in Postgres: never fall back to the Kafka mirror
        return None
    if group in stored:
        return stored[group]
    return {} if group == CATALOG_GROUP else None


async def execute(common: CommonSettings, the_plan: Plan) -> None:
    # Checked again right before writing: someone may have started a consumer meanwhile.
    admin = AIOKafkaAdminClient(bootstrap_servers=common.kafka_bootstrap)
    await admin.start()
    try:
        described = (await describe_groups(admin, [the_plan.group])).get(the_plan.group)
    finally:
        await admin.close()
    if described and described.live:
        raise GroupActive(the_plan.group)
    if the_plan.store == "postgres":
        async with (await psycopg.AsyncConnection.connect(common.pg_dsn) as conn,
                    conn.transaction()):
            await offsets.overwrite(conn, the_plan.group,
                                    {(m.topic, m.partition): m.new for m in the_plan.moves})
    await _commit_to_kafka(common, the_plan, best_effort=the_plan.store == "postgres")


async def _commit_to_kafka(common: CommonSettings, the_plan: Plan, best_effort: bool) -> None:
    consumer = new_consumer(common.kafka_bootstrap, group_id=the_plan.group,
                            committed_only=False)
    await consumer.start()
    try:
        tps = [TopicPartition(m.topic, m.partition) for m in the_plan.moves]
        consumer.assign(tps)
        # A manual assignment commits as a non-member (generation -1): the broker takes it
        # only while the group is empty, which is exactly the precondition checked above.
        await consumer.commit({TopicPartition(m.topic, m.partition): OffsetAndMetadata(m.new, "")
                               for m in the_plan.moves})
    except KafkaError:
        if not best_effort:
            raise
    finally:
        await stop_quietly(consumer)


def format_plan(the_plan: Plan) -> str:
    header = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET")
    rows = [header] + [(the_plan.group, m.topic, str(m.partition),
                        "-" if m.current is None else str(m.current), str(m.new))
                       for m in the_plan.moves]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _target(args: argparse.Namespace) -> Target:
    if args.to_earliest:
        return Target("earliest")
    if args.to_latest:
        return Target("latest")
    if args.to_datetime:
        when = datetime.fromisoformat(args.to_datetime)
        return Target("datetime", when if when.tzinfo else when.replace(tzinfo=UTC))
    if args.to_offset is not None:
        return Target("offset", args.to_offset)
    return Target("shift", args.shift_by)


def _main(args: argparse.Namespace) -> int:
    common = CommonSettings()
    try:
        the_plan = asyncio.run(plan(common, args.group, args.topic, _target(args),
                                    args.partition or ()))
    except (LookupError, ValueError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 1
    except KafkaError as exc:
        print(f"replay: Kafka at {common.kafka_bootstrap} did not answer: {exc}",
              file=sys.stderr)
        return 1
    print(format_plan(the_plan))
    where = ("Postgres (catalog consumer_offsets)" if the_plan.store == "postgres"
             else "Kafka")
    if the_plan.store == "postgres":
        print("note: the catalog dedupes on event_id (applied_events), so re-reading events "
              "it already applied changes nothing; to rebuild the read models run "
              "`reelflow catalog rebuild`.")
    active = (f"group {args.group!r} has {the_plan.live_members} live member(s); stop them "
              "first (a running consumer would overwrite the new offsets)")
    if not args.execute:
        if the_plan.live_members:
            print(f"warning: {active}; --execute would refuse.")
        print(f"dry run: nothing changed; add --execute to write these offsets to {where}.")
        return 0
    if the_plan.live_members:
        print(f"replay: refusing: {active}.", file=sys.stderr)
        return GROUP_ACTIVE
    try:
        asyncio.run(execute(common, the_plan))
    except GroupActive:
        print(f"replay: refusing: group {args.group!r} gained live members; stop them first.",
              file=sys.stderr)
        return GROUP_ACTIVE
    print(f"offsets of group {args.group!r} written to {where}.")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "replay", help="reset a stopped consumer group's offsets (dry-run by default)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", required=True, help="consumer group id")
    parser.add_argument("--topic", required=True, help="topic whose offsets move")
    parser.add_argument("--partition", type=int, action="append",
                        help="only this partition (repeatable; default: all)")
    to = parser.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-earliest", action="store_true", help="the start of the log")
    to.add_argument("--to-latest", action="store_true", help="the end of the log (skip all)")
    to.add_argument("--to-datetime", metavar="ISO",
                    help="the first record at or after this time (UTC unless it says)")
    to.add_argument("--to-offset", type=int, metavar="N", help="offset N (clamped to the log)")
    to.add_argument("--shift-by", type=int, metavar="N", help="current offset + N (may be < 0)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan only (default)")
    mode.add_argument("--execute", action="store_true", help="write the new offsets")
    parser.set_defaults(func=_main)
