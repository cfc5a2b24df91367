"""Gathering a video attempt's `rendition-done` events into a complete set. Pure.

The expected set comes from the events themselves (`expected_renditions`). The state is
derived from the log: the packager commits its offset no further than the first record
of the oldest set still open (`commit_floor`), so after a restart or a move to another
machine it re-reads exactly what it needs to rebuild every open set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.events import RenditionDone

PartitionKey = tuple[str, int]  # (topic, partition)


@dataclass
class RenditionSet:
    video_id: str
    attempt: int
    expected: frozenset[str]
    partition: PartitionKey
    first_offset: int
    received: dict[str, RenditionDone] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.expected <= self.received.keys()

    @property
    def missing(self) -> frozenset[str]:
        return self.expected - self.received.keys()


@dataclass
class Assembler:
    open_sets: dict[tuple[str, int], RenditionSet] = field(default_factory=dict)
    newest_attempt: dict[str, int] = field(default_factory=dict)
    completed: set[tuple[str, int]] = field(default_factory=set)

    def add(self, event: RenditionDone, partition: PartitionKey,
            offset: int) -> RenditionSet | None:
        """Record one rendition-done; returns the set while it is complete and not yet closed.

        The set stays open (holding the commit floor) until `close()`, so a retried
        delivery after a failed packaging attempt gets the complete set again.
        """
        video_id, attempt = event.video_id, event.attempt
        key = (video_id, attempt)
        if key in self.completed or attempt < self.newest_attempt.get(video_id, 0):
            return None  # a duplicate of finished work, or a superseded attempt
        if attempt > self.newest_attempt.get(video_id, 0):
            self.newest_attempt[video_id] = attempt
            for stale in [k for k in self.open_sets if k[0] == video_id and k[1] < attempt]:
                del self.open_sets[stale]
        current = self.open_sets.get(key)
        if current is None:
            current = RenditionSet(video_id, attempt, frozenset(event.expected_renditions),
                                   partition, offset)
            self.open_sets[key] = current
        current.received.setdefault(event.rendition, event)
        return current if current.complete else None

    def close(self, video_id: str, attempt: int) -> None:
        """The set was packaged (or given up on): later repeats of its events are no-ops."""
        self.open_sets.pop((video_id, attempt), None)
        self.completed.add((video_id, attempt))

    def commit_floor(self, partition: PartitionKey, next_offset: int) -> int:
        """The offset that is safe to commit: never past an open set's first record."""
        firsts = [s.first_offset for s in self.open_sets.values() if s.partition == partition]
        return min([next_offset, *firsts])

    def forget_partition(self, partition: PartitionKey) -> None:
        """Drop state for a partition we no longer own; its new owner rebuilds it."""
        for key in [k for k, s in self.open_sets.items() if s.partition == partition]:
            del self.open_sets[key]
