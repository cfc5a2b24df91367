"""The router's pure decisions: priority classes, fair share between tenants (DRR),
admission by lane lag and partition choice, the lane's pace and a waiting job's start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import TRANSCODE_LANE_HIGH, TRANSCODE_LANE_LOW, TRANSCODE_LANE_NORMAL
from services.router.schedule import (
    FairQueue,
    Job,
    PartitionLoad,
    Throughput,
    admit_partition,
    lane_for,
    owners_of,
)

T0 = datetime(2026, 12, 2, tzinfo=UTC)


def job(owner: str, n: int, priority: int = 5) -> Job:
    return Job(video_id=f"{owner}-{n}", attempt=1, owner=owner, priority=priority, seq=n)


@pytest.mark.parametrize(("priority", "lane"), [
    (10, TRANSCODE_LANE_HIGH.name), (8, TRANSCODE_LANE_HIGH.name),
    (7, TRANSCODE_LANE_NORMAL.name), (5, TRANSCODE_LANE_NORMAL.name),
    (4, TRANSCODE_LANE_NORMAL.name), (3, TRANSCODE_LANE_LOW.name),
    (1, TRANSCODE_LANE_LOW.name), (0, TRANSCODE_LANE_LOW.name), (11, TRANSCODE_LANE_HIGH.name)])
def test_each_priority_falls_into_its_class(priority: int, lane: str) -> None:
    assert lane_for(priority) == lane


def test_a_tenant_with_many_jobs_and_a_tenant_with_one_alternate() -> None:
    queue = FairQueue()
    for n in range(30):
        queue.push(job("a", n))
    first = queue.pop()
    queue.push(job("b", 100))
    # B arrived after A's first job left: it is next, not 29 jobs later.
    assert first is not None and first.owner == "a"
    assert [j.owner for j in (queue.pop(), queue.pop(), queue.pop())] == ["b", "a", "a"]


def test_three_tenants_share_round_robin_and_a_tenant_keeps_its_own_order() -> None:
    queue = FairQueue()
    for owner in "abc":
        for n in range(3):
            queue.push(job(owner, n))
    order = [(j.owner, j.seq) for j in queue.planned()]
    assert order == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1),
                     ("a", 2), ("b", 2), ("c", 2)]
    assert len(queue) == 9  # planning takes nothing out
    assert [(j.owner, j.seq) for j in iter(queue.pop, None)] == order


def test_inside_a_tenant_a_higher_priority_goes_first() -> None:
    queue = FairQueue()
    queue.push(job("a", 1, priority=8))
    queue.push(job("a", 2, priority=10))
    assert [j.seq for j in queue.planned()] == [2, 1]


def test_deficit_round_robin_with_costs_shares_cost_not_jobs() -> None:
    # Quantum 2, cost = the job's number: A's cost-2 jobs go one per turn, B's cost-1 two.
    queue = FairQueue(quantum=2.0, cost=lambda j: 2.0 if j.owner == "a" else 1.0)
    for n in range(3):
        queue.push(job("a", n))
        queue.push(job("b", 10 + n))
    assert [j.owner for j in queue.planned()] == ["a", "b", "b", "a", "b", "a"]


def test_an_idle_tenant_does_not_save_up_turns() -> None:
    queue = FairQueue()
    queue.push(job("b", 0))
    assert queue.pop() is not None  # B leaves the round with its queue empty
    for n in range(1, 4):
        queue.push(job("a", n))
    for n in range(1, 3):
        queue.push(job("b", 10 + n))
    assert [j.owner for j in queue.planned()] == ["a", "b", "a", "b", "a"]


def test_removing_a_job_keeps_the_others_order() -> None:
    queue = FairQueue()
    for n in range(3):
        queue.push(job("a", n))
    queue.push(job("b", 9))
    assert queue.remove(("a-1", 1)) is not None
    assert queue.remove(("b-9", 1)) is not None and queue.remove(("b-9", 1)) is None
    assert ("a-1", 1) not in queue and ("a-2", 1) in queue
    assert [j.seq for j in queue.planned()] == [0, 2]


def loads(*spec: tuple[str | None, int]) -> list[PartitionLoad]:
    return [PartitionLoad(p, owner, n) for p, (owner, n) in enumerate(spec)]


def test_a_lane_takes_jobs_up_to_the_depth_per_member() -> None:
    lane = loads(("w1", 1), ("w1", 0), ("w2", 2), ("w2", 0))
    # w1 has 1 of 2: room (on its first partition, its one slot's); w2 is full.
    assert admit_partition(lane, depth=2, busy={"w1": 1, "w2": 2}) == 0
    full = loads(("w1", 2), ("w1", 0), ("w2", 2), ("w2", 0))
    assert admit_partition(full, depth=2, busy={}) is None


def test_the_job_goes_to_the_member_with_least_work_over_every_lane() -> None:
    lane = loads(("w1", 0), ("w2", 0))
    assert admit_partition(lane, depth=2, busy={"w1": 3, "w2": 1}) == 1
    assert admit_partition(lane, depth=2, busy={"w1": 0, "w2": 1}) == 0


def test_a_one_slot_worker_gets_a_lanes_jobs_on_one_partition_in_order() -> None:
    # w1 owns partitions 1, 3 and 5; its first already holds the running job.
    lane = loads((None, 0), ("w1", 1), (None, 0), ("w1", 0), (None, 0), ("w1", 0))
    assert admit_partition(lane, depth=2, busy={}) == 1
    # Two slots: the next job goes beside it, on the member's second partition.
    assert admit_partition(lane, depth=3, busy={}, slots=2) == 3


def test_without_members_the_lane_as_a_whole_takes_the_depth() -> None:
    empty = loads((None, 0), (None, 1), (None, 0))
    assert admit_partition(empty, depth=2, busy={}) == 0
    assert admit_partition(loads((None, 1), (None, 1)), depth=2, busy={}) is None


def test_owners_come_from_the_members_assignments() -> None:
    members = [("m1", [(TRANSCODE_LANE_HIGH.name, 0), (TRANSCODE_LANE_LOW.name, 1)]),
               ("m2", [(TRANSCODE_LANE_HIGH.name, 1)])]
    assert owners_of(members, TRANSCODE_LANE_HIGH.name) == {0: "m1", 1: "m2"}
    assert owners_of(members, TRANSCODE_LANE_LOW.name) == {1: "m1"}


def test_the_pace_is_jobs_finished_per_hour_in_the_window() -> None:
    pace = Throughput(window=timedelta(minutes=10))
    assert pace.per_hour(T0) is None
    pace.observe(T0, 0)
    pace.observe(T0 + timedelta(minutes=1), 2)
    assert pace.per_hour(T0 + timedelta(minutes=1)) == pytest.approx(120.0)
    pace.observe(T0 + timedelta(minutes=20), 0)  # the two fell out of the window
    assert pace.per_hour(T0 + timedelta(minutes=20)) is None

