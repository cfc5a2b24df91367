"""The workers' half of the priority lanes: which lane a free job slot takes from.

Each worker reads every lane topic (`schemas.LANE_TOPICS`, highest first). When a slot is
free it asks the broker how many records wait on its lane partitions and resumes only the
partitions of one lane, chosen by a smooth weighted round robin (nginx's) over the lanes
that have records waiting: every waiting lane earns its weight, the richest takes the slot
and pays the sum of the waiting lanes' weights. A higher lane therefore wins while it has
lag, so lower lanes stay paused, except that a lower lane's credit grows with every pick
it loses, and with weights high 6 / low 1 it takes one slot in seven however long the
high lane stays busy: no lane starves. A lane with nothing waiting earns nothing and its
credit is forgotten, so an idle lane cannot save up a burst.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

#: Slot shares when every lane has work: high 6, normal 3, low 1.
DEFAULT_WEIGHTS = {"high": 6, "normal": 3, "low": 1}


def lane_class(topic: str) -> str:
    """`high`, `normal` or `low`: the last word of a lane topic's name."""
    return topic.rsplit("-", 1)[-1]


def pick_lane(waiting: Sequence[str], weights: Mapping[str, int],
              credit: Mapping[str, int]) -> tuple[str | None, dict[str, int]]:
    """The lane the next slot takes from, and the credits after that pick.

    `waiting` lists the lanes with records waiting, highest first (ties go to the higher
    lane). A lane not waiting keeps no credit."""
    if not waiting:
        return None, {}
    earned = {lane: credit.get(lane, 0) + max(1, weights.get(lane, 1)) for lane in waiting}
    chosen = max(waiting, key=lambda lane: earned[lane])  # max keeps the first of equals
    earned[chosen] -= sum(max(1, weights.get(lane, 1)) for lane in waiting)
    return chosen, earned


class LaneSelector:
    """Told the free slot's candidates by the consume loop, answers the partitions it may
    fetch from; a pick is paid for only when a record of that lane was actually taken."""

    def __init__(self, lanes: Sequence[str], weights: Mapping[str, int]) -> None:
        self.lanes = tuple(lanes)
        self.weights = {lane: weights.get(lane_class(lane), 1) for lane in self.lanes}
        self._credit: dict[str, int] = {}
        self._offer: tuple[str, dict[str, int]] | None = None

    async def allowed(self, consumer: AIOKafkaConsumer,
                      candidates: Sequence[TopicPartition]) -> set[TopicPartition]:
        mine = [tp for tp in candidates if tp.topic in self.lanes]
        if not mine:
            return set(candidates)
        try:
            ends = await consumer.end_offsets(mine)
            backlog = {tp: ends[tp] - await consumer.position(tp) for tp in mine}
        except KafkaError as exc:  # a broker away or a rebalance under way: no preference
            log.warning("could not read the lanes' backlog (%r); taking any lane", exc)
            self._offer = None
            return set(candidates)
        waiting = [lane for lane in self.lanes
                   if any(n > 0 for tp, n in backlog.items() if tp.topic == lane)]
        chosen, credit = pick_lane(waiting, self.weights, self._credit)
        if chosen is None:
            self._offer = None
            self._credit = {}
            return set(candidates)  # nothing waits anywhere: take whatever comes first
        self._offer = (chosen, credit)
        return {tp for tp in candidates if tp.topic == chosen or tp.topic not in self.lanes}

    def taken(self, topic: str) -> None:
        if self._offer is not None and self._offer[0] == topic:
            self._credit = self._offer[1]
        self._offer = None
