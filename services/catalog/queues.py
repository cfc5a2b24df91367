"""Queue positions and estimated starts of waiting videos, from the lane router's
`lane-queue` snapshots (compacted, one per lane), followed in memory like the key ring:
read from the beginning by a consumer without a group, for as long as the process runs.

`QueueBoard` is the pure part: the latest snapshot per lane, and for a (video, attempt)
its lane, its position (1 = the next the router dispatches in that lane), how many wait
in the lane, and the estimated start: the jobs ahead of it (held before it, and the
dispatched ones not finished) at the lane's measured pace, which the router measures.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from schemas import LANE_QUEUE
from schemas.events import LaneQueue
from services.shared.codec import EventCodec, UndecodableRecord
from services.shared.consumers import new_consumer, started

log = logging.getLogger(__name__)


def estimated_start(position: int, dispatched: int, jobs_per_hour: float | None,
                    as_of: datetime) -> datetime | None:
    """When the job at `position` (1 = next to be dispatched) of a lane should start: the
    jobs ahead of it (those still held, and the dispatched ones not finished) at the
    lane's measured pace. None until the lane has a measured pace."""
    if not jobs_per_hour or jobs_per_hour <= 0:
        return None
    ahead = max(0, position - 1) + max(0, dispatched)
    return as_of + timedelta(hours=ahead / jobs_per_hour)


class QueueBoard:
    def __init__(self) -> None:
        self.lanes: dict[str, LaneQueue] = {}
        self._places: dict[tuple[str, int], tuple[str, int]] = {}

    def apply(self, snapshot: LaneQueue) -> None:
        known = self.lanes.get(snapshot.lane)
        if known is not None and known.occurred_at > snapshot.occurred_at:
            return
        self.lanes[snapshot.lane] = snapshot
        self._places = {(job.video_id, job.attempt): (lane, index + 1)
                        for lane, queue in self.lanes.items()
                        for index, job in enumerate(queue.waiting)}

    def place(self, video_id: str, attempt: int) -> dict[str, Any] | None:
        """Where a held job stands, or None (not held: dispatched, running or unknown)."""
        found = self._places.get((video_id, attempt))
        if found is None:
            return None
        lane, position = found
        queue = self.lanes[lane]
        start = estimated_start(position, queue.dispatched, queue.jobs_per_hour,
                                queue.occurred_at)
        return {"lane": lane, "position": position, "waiting": len(queue.waiting),
                "dispatched": queue.dispatched, "priority": queue.waiting[position - 1].priority,
                "jobs_per_hour": queue.jobs_per_hour, "as_of": _iso(queue.occurred_at),
                "estimated_start_at": _iso(start)}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


class LaneQueues:
    """Follows `lane-queue` into a `QueueBoard`."""

    def __init__(self, bootstrap: str, codec: EventCodec) -> None:
        self.board = QueueBoard()
        self._bootstrap = bootstrap
        self._codec = codec

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._follow(stop)
            except KafkaError as exc:
                log.warning("lane-queue projection interrupted (%r); re-reading", exc)
                await asyncio.sleep(1.0)

    async def _follow(self, stop: asyncio.Event) -> None:
        async with started(new_consumer(self._bootstrap)) as consumer:
            parts = [TopicPartition(LANE_QUEUE.name, p) for p in range(LANE_QUEUE.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        if record.value is None:
                            continue
                        try:
                            self.board.apply(self._codec.decode(LANE_QUEUE, record.value))
                        except UndecodableRecord as exc:
                            log.error("skipping an undecodable lane-queue record: %s", exc)
