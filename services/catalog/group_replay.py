"""Moving a consumer group's offsets to a point in the log (the planning and the writing
of `reelflow replay` and of the console's replay action).

Where the offsets live decides how they move. Kafka groups get the new offsets committed
to Kafka under their group id. Catalog projector groups (`catalog`, or any group with rows
in the catalog's `consumer_offsets` table) keep their truth in Postgres, so that is what is
rewritten (and mirrored to Kafka for the lag tooling). It lives with the catalog because
the catalog owns that table; operator tools and the console both call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from services.catalog import offsets
from services.shared.consumers import new_consumer, started, stop_quietly
from services.shared.group_lag import describe_groups
from services.shared.kafka_security import client_options
from services.shared.settings import CommonSettings

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
    admin = AIOKafkaAdminClient(bootstrap_servers=common.kafka_bootstrap,
                                **client_options(common))
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
    admin = AIOKafkaAdminClient(bootstrap_servers=common.kafka_bootstrap,
                                **client_options(common))
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
