"""`reelflow lag [--group G] [--json]`: how far behind each consumer group is.

Per group, topic and partition: the committed offset, the log-end offset and the lag, laid
out like `kafka-consumer-groups.sh --describe` (`-` where the group committed nothing), and
a total per group. Groups come from the cluster (every group Kafka knows, with or without
live members, so a stopped service's backlog stays visible) and from the catalog's
`consumer_offsets` table: the catalog stores its offsets in Postgres, in the transaction
that applies them, and only mirrors them to Kafka best effort, so for the groups found in
Postgres the Postgres figures are the ones reported (SOURCE `postgres`).

The catalog process exports the same figures as Prometheus gauges (`lag_exporter`):
`reelflow_consumer_lag{group,topic,partition}` and `reelflow_consumer_group_lag{group}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from schemas import PIPELINE_TOPICS
from services.shared.consumers import new_consumer, started
from services.shared.settings import CommonSettings

log = logging.getLogger(__name__)

#: Group states in which nobody consumes (the classic protocol's names).
IDLE_STATES = frozenset({"Empty", "Dead", ""})


@dataclass(frozen=True)
class Member:
    member_id: str
    client_id: str
    host: str
    assignment: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str
    members: tuple[Member, ...] = ()

    @property
    def live(self) -> bool:
        return bool(self.members) and self.state not in IDLE_STATES


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    #: Next offset the group will read; None when it committed nothing there.
    current: int | None
    log_end: int

    @property
    def lag(self) -> int | None:
        return None if self.current is None else max(0, self.log_end - self.current)


@dataclass
class GroupLag:
    group: str
    source: str  # "kafka" or "postgres": where the committed offsets were read
    state: str
    partitions: list[PartitionLag] = field(default_factory=list)
    members: tuple[Member, ...] = ()

    @property
    def total(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)

    def owner(self, topic: str, partition: int) -> Member | None:
        return next((m for m in self.members if (topic, partition) in m.assignment), None)

    def as_json(self) -> dict[str, Any]:
        return {"group": self.group, "source": self.source, "state": self.state,
                "total_lag": self.total, "members": [asdict(m) for m in self.members],
                "partitions": [{"topic": p.topic, "partition": p.partition,
                                "current_offset": p.current, "log_end_offset": p.log_end,
                                "lag": p.lag} for p in self.partitions]}


def _assignment(raw: bytes) -> tuple[tuple[str, int], ...]:
    if not raw:
        return ()
    try:
        decoded = ConsumerProtocolMemberAssignment.decode(raw)
    except Exception:  # a non-consumer protocol (e.g. Connect) assigns something else
        return ()
    return tuple((topic, p) for topic, partitions in decoded.assignment for p in partitions)


async def describe_groups(admin: AIOKafkaAdminClient, groups: Sequence[str]
                          ) -> dict[str, GroupState]:
    """State and live members per group, from the classic DescribeGroups API."""
    found: dict[str, GroupState] = {}
    # One group per request: aiokafka 0.14 mis-decodes a DescribeGroups response holding
    # several groups from Kafka 4 (the second group's fields come out shifted), while the
    # fields of a lone group decode right.
    responses = [r for group in groups for r in await admin.describe_consumer_groups([group])]
    for response in responses:
        for described in response.groups:
            # (error_code, group_id, state, protocol_type, protocol, members, ...)
            group_id, state, members = described[1], described[2], described[5]
            found[group_id] = GroupState(group_id, state, tuple(
                Member(m[0], m[1], m[2], _assignment(m[-1])) for m in members))
    return found


async def log_end_offsets(bootstrap: str, partitions: Iterable[TopicPartition]
                          ) -> dict[TopicPartition, int]:
    wanted = list(partitions)
    if not wanted:
        return {}
    # The high watermark, as kafka-consumer-groups.sh reports it.
    async with started(new_consumer(bootstrap, committed_only=False)) as consumer:
        return dict(await consumer.end_offsets(wanted))


async def postgres_offsets(dsn: str) -> dict[str, dict[tuple[str, int], int]]:
    """Offsets stored by catalog projectors (`consumer_offsets`), per group; empty when the
    catalog's tables are not there (the catalog never ran against this database)."""
    try:
        async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=5) as conn:
            cur = await conn.execute(
                'SELECT group_id, topic, "partition", next_offset FROM consumer_offsets')
            rows = await cur.fetchall()
    except psycopg.errors.UndefinedTable:
        return {}
    found: dict[str, dict[tuple[str, int], int]] = {}
    for group, topic, partition, offset in rows:
        found.setdefault(group, {})[(topic, partition)] = offset
    return found


async def collect(common: CommonSettings, groups: Sequence[str] | None = None,
                  with_postgres: bool = True) -> list[GroupLag]:
    """Lag of the given groups (all known ones when None), sorted by group name."""
    admin = AIOKafkaAdminClient(bootstrap_servers=common.kafka_bootstrap)
    await admin.start()
    try:
        stored: dict[str, dict[tuple[str, int], int]] = {}
        if with_postgres:
            try:
                stored = await postgres_offsets(common.pg_dsn)
            except psycopg.OperationalError as exc:
                log.warning("Postgres unreachable, catalog offsets not read: %s", exc)
        if groups is None:
            listed = {g[0] for g in await admin.list_consumer_groups()}
            names = sorted(listed | set(stored))
        else:
            names = sorted(set(groups))
        states = await describe_groups(admin, names)
        committed: dict[str, dict[tuple[str, int], int]] = {}
        for name in names:
            if name in stored:
                committed[name] = stored[name]
                continue
            offsets = await admin.list_consumer_group_offsets(name)
            committed[name] = {(tp.topic, tp.partition): meta.offset
                               for tp, meta in offsets.items() if meta.offset >= 0}
    finally:
        await admin.close()
    catalog_partitions = {(t.name, p) for t in PIPELINE_TOPICS for p in range(t.partitions)}
    shown: dict[str, set[tuple[str, int]]] = {}
    for name in names:
        keys = set(committed[name])
        for member in states.get(name, GroupState(name, "")).members:
            keys.update(member.assignment)  # assigned, nothing committed yet: shown as `-`
        if name in stored:
            keys |= catalog_partitions  # a projector reads every topic
        shown[name] = keys
    ends = await log_end_offsets(common.kafka_bootstrap, {
        TopicPartition(t, p) for keys in shown.values() for t, p in keys})
    report = []
    for name in names:
        state = states.get(name, GroupState(name, "Dead" if name not in stored else ""))
        lag = GroupLag(name, "postgres" if name in stored else "kafka", state.state or "-",
                       members=state.members)
        for topic, partition in sorted(shown[name]):
            end = ends.get(TopicPartition(topic, partition))
            if end is None:
                continue  # the topic is gone; nothing to lag behind
            lag.partitions.append(PartitionLag(topic, partition,
                                               committed[name].get((topic, partition)), end))
        report.append(lag)
    return report


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
        report = asyncio.run(collect(common, args.group or None))
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


async def lag_exporter(common: CommonSettings, stop: asyncio.Event,
                       interval_s: float = 15.0) -> None:
    """Refresh the lag gauges every `interval_s` until `stop`; failures only log (a scrape
    then shows the previous figures, whose age `reelflow_consumer_lag_updated` tells)."""
    from services.catalog import metrics

    while not stop.is_set():
        try:
            report = await collect(common)
        except (KafkaError, OSError, psycopg.Error, TimeoutError) as exc:
            log.warning("lag refresh failed: %s", exc)
        except Exception:  # a side task: never let it take the catalog's API down
            log.exception("lag refresh failed unexpectedly")
        else:
            # No await between clear and set: a scrape never sees a half-filled gauge.
            metrics.CONSUMER_LAG.clear()
            metrics.CONSUMER_GROUP_LAG.clear()
            for group in report:
                metrics.CONSUMER_GROUP_LAG.labels(group.group).set(group.total)
                for p in group.partitions:
                    if p.lag is not None:
                        metrics.CONSUMER_LAG.labels(group.group, p.topic,
                                                    str(p.partition)).set(p.lag)
            metrics.CONSUMER_LAG_UPDATED.set_to_current_time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
