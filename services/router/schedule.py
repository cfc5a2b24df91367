"""The scheduling decisions, pure: which lane a priority goes to, the tenants' fair share
inside a lane (deficit round robin), and where the router sends a job it admits.

No Kafka here; `services/router/router.py` feeds these from the log and the transcode
group's offsets, and `services/transcode/lanes.py` holds the workers' half (the weighted
pick between lanes).
"""

from __future__ import annotations

import bisect
import copy
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas import TRANSCODE_LANE_HIGH, TRANSCODE_LANE_LOW, TRANSCODE_LANE_NORMAL

#: Priority classes: (lowest priority of the class, its lane), highest class first.
PRIORITY_CLASSES = ((8, TRANSCODE_LANE_HIGH.name), (4, TRANSCODE_LANE_NORMAL.name),
                    (1, TRANSCODE_LANE_LOW.name))
#: The tenant of a job whose `video-uploaded` names no owner (an upstream publisher).
ANONYMOUS = ""


def lane_for(priority: int) -> str:
    """The lane topic of a priority (1-10; anything outside is clamped into it)."""
    for floor, lane in PRIORITY_CLASSES:
        if priority >= floor:
            return lane
    return PRIORITY_CLASSES[-1][1]


JobKey = tuple[str, int]


@dataclass(frozen=True, order=True)
class Job:
    """One (video, attempt) waiting for a transcode slot. Ordered within its tenant:
    higher priority first, then first come first served."""

    sort_key: tuple[int, int] = field(init=False, repr=False)
    video_id: str = field(compare=False)
    attempt: int = field(compare=False)
    owner: str = field(compare=False)
    priority: int = field(compare=False)
    #: Arrival order (the router's count of uploads read); kept across a reprioritisation.
    seq: int = field(compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sort_key", (-self.priority, self.seq))

    @property
    def key(self) -> JobKey:
        return (self.video_id, self.attempt)


class FairQueue:
    """One lane's held jobs, shared between tenants by deficit round robin (Shreedhar and
    Varghese): tenants with work take turns; a turn adds `quantum` to the tenant's deficit
    and serves its jobs while their cost fits in it. With the default unit cost and
    quantum, a turn is one job, so a tenant with 100 jobs and one with 1 alternate, and the
    single job waits for at most one of the other tenant's. A tenant that empties its queue
    leaves the round and its deficit is forgotten (no saving up while idle)."""

    def __init__(self, quantum: float = 1.0,
                 cost: Callable[[Job], float] = lambda job: 1.0) -> None:
        self.quantum = quantum
        self.cost = cost
        self._queues: dict[str, list[Job]] = {}
        self._deficit: dict[str, float] = {}
        self._round: deque[str] = deque()
        #: Whether the head of the round already had its quantum for this turn.
        self._in_turn = False

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def __contains__(self, key: JobKey) -> bool:
        return any(job.key == key for q in self._queues.values() for job in q)

    def push(self, job: Job) -> None:
        queue = self._queues.get(job.owner)
        if queue is None:
            self._queues[job.owner] = queue = []
            self._deficit[job.owner] = 0.0
            self._round.append(job.owner)  # a newcomer joins at the end of the round
        bisect.insort(queue, job)

    def remove(self, key: JobKey) -> Job | None:
        for tenant, queue in self._queues.items():
            for index, job in enumerate(queue):
                if job.key == key:
                    del queue[index]
                    if not queue:
                        self._leave(tenant)
                    return job
        return None

    def pop(self) -> Job | None:
        """The next job in fair-share order (None when nothing is held)."""
        while self._round:
            tenant = self._round[0]
            queue = self._queues[tenant]
            if not self._in_turn:
                self._deficit[tenant] += self.quantum
                self._in_turn = True
            cost = self.cost(queue[0])
            if cost <= self._deficit[tenant]:
                job = queue.pop(0)
                self._deficit[tenant] -= cost
                if not queue:
                    self._leave(tenant)
                return job
            self._round.rotate(-1)  # its turn is over; the deficit carries to the next one
            self._in_turn = False
        return None

    def planned(self) -> list[Job]:
        """Every held job in the order `pop` would hand them out if nothing else arrived."""
        trial = copy.deepcopy(self)
        order = []
        while (job := trial.pop()) is not None:
            order.append(job)
        return order

    def _leave(self, tenant: str) -> None:
        del self._queues[tenant]
        del self._deficit[tenant]
        if self._round and self._round[0] == tenant:
            self._in_turn = False
        self._round.remove(tenant)


@dataclass(frozen=True)
class PartitionLoad:
    """One lane partition: which transcode member owns it (None: nobody yet) and how many
    jobs on it the group has not finished (log end minus committed offset)."""

    partition: int
    owner: str | None
    outstanding: int


def admit_partition(loads: Sequence[PartitionLoad], depth: int,
                    busy: Mapping[str, int], slots: int = 1) -> int | None:
    """The partition of a lane to send one more job to, or None when the lane is full.

    Admission by lane lag: a member (a worker process) may have at most `depth`
    unfinished jobs of this lane (its running one plus the next, so it never waits for
    the router between two jobs). Kafka hands a partition's records only to its owner, so
    the job goes to a partition of the member with the fewest unfinished jobs over every
    lane (`busy`). Of that member's partitions it uses only the first `slots` (its job
    slots: a busy partition is paused, so one slot takes one partition at a time), the
    least loaded of them: with one slot, every job of the lane goes to one partition and
    the worker takes them in the order they were dispatched. With no member at all (no
    worker running yet), the lane as a whole takes `depth` jobs, so the first worker to
    come finds work."""
    if not loads:
        return None
    owned = [load for load in loads if load.owner is not None]
    if not owned:
        if sum(load.outstanding for load in loads) >= depth:
            return None
        return min(loads, key=lambda load: (load.outstanding, load.partition)).partition
    per_member: dict[str, int] = {}
    for load in owned:
        assert load.owner is not None
        per_member[load.owner] = per_member.get(load.owner, 0) + load.outstanding
    open_members = [m for m, lane_load in per_member.items() if lane_load < depth]
    if not open_members:
        return None
    member = min(open_members, key=lambda m: (busy.get(m, 0), per_member[m], m))
    mine = sorted((load for load in owned if load.owner == member),
                  key=lambda load: load.partition)[:max(1, slots)]
    return min(mine, key=lambda load: (load.outstanding, load.partition)).partition


class Throughput:
    """Jobs a lane finished per hour, over the last `window`: the router counts how far
    the transcode group's committed offsets on the lane moved."""

    def __init__(self, window: timedelta = timedelta(minutes=10)) -> None:
        self.window = window
        self._finished: deque[tuple[datetime, int]] = deque()
        self._since: datetime | None = None

    def observe(self, at: datetime, finished: int) -> None:
        if self._since is None:
            self._since = at
        if finished > 0:
            self._finished.append((at, finished))
        while self._finished and at - self._finished[0][0] > self.window:
            self._finished.popleft()

    def per_hour(self, at: datetime) -> float | None:
        if self._since is None or not self._finished:
            return None
        span = min(self.window, at - self._since).total_seconds()
        if span <= 0:
            return None
        return sum(n for _, n in self._finished) * 3600.0 / span


def owners_of(members: Iterable[tuple[str, Iterable[tuple[str, int]]]],
              lane: str) -> dict[int, str]:
    """Partition -> member id, for `lane`, from the group's members and assignments."""
    return {partition: member for member, assigned in members
            for topic, partition in assigned if topic == lane}
