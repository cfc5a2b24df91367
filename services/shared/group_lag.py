"""How far behind each consumer group is: per group, topic and partition, the committed
offset, the log-end offset and the lag, with the group's state and live members.

Groups come from the cluster (every group Kafka knows, with or without live members, so a
stopped service's backlog stays visible) and from the offsets a caller read elsewhere (the
catalog keeps its offsets in Postgres and only mirrors them to Kafka best effort). Read by
`reelflow lag` and by the catalog's lag exporter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from schemas import PIPELINE_TOPICS
from services.shared.consumers import new_consumer, started
from services.shared.kafka_security import client_options

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


async def collect(bootstrap: str, stored: Mapping[str, Mapping[tuple[str, int], int]],
                  groups: Sequence[str] | None = None) -> list[GroupLag]:
    """Lag of the given groups (all known ones when None), sorted by group name.

    `stored` holds the offsets of groups that keep them outside Kafka (the catalog's
    projectors, in Postgres): for those groups they are the truth, and every pipeline
    partition is shown, since a projector reads every topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        if groups is None:
            listed = {g[0] for g in await admin.list_consumer_groups()}
            names = sorted(listed | set(stored))
        else:
            names = sorted(set(groups))
        states = await describe_groups(admin, names)
        committed: dict[str, Mapping[tuple[str, int], int]] = {}
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
    ends = await log_end_offsets(bootstrap, {
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
