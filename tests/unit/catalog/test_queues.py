"""A waiting video's place in its lane and its estimated start, from the router's
snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import TRANSCODE_LANE_HIGH, TRANSCODE_LANE_LOW
from schemas.events import LaneQueue, QueuedJob
from services.catalog.queues import QueueBoard, estimated_start

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def snapshot(lane: str, videos: list[str], dispatched: int, pace: float | None,
             at: datetime = T0) -> LaneQueue:
    return LaneQueue(event_id=f"e-{lane}-{at.timestamp()}", occurred_at=at, lane=lane,
                     waiting=tuple(QueuedJob(video_id=v, attempt=1, owner="t", priority=9)
                                   for v in videos),
                     dispatched=dispatched, jobs_per_hour=pace)


def test_the_estimated_start_counts_the_jobs_ahead_at_the_lanes_pace() -> None:
    assert estimated_start(1, 0, 60.0, T0) == T0
    assert estimated_start(3, 1, 60.0, T0) == T0 + timedelta(minutes=3)
    assert estimated_start(3, 1, None, T0) is None


def test_a_held_video_has_its_lane_position_and_start() -> None:
    board = QueueBoard()
    board.apply(snapshot(TRANSCODE_LANE_HIGH.name, ["a", "b", "c"], 2, 30.0))
    place = board.place("c", 1)
    assert place is not None
    assert (place["lane"], place["position"], place["waiting"], place["dispatched"]) == (
        TRANSCODE_LANE_HIGH.name, 3, 3, 2)
    # Four jobs ahead (two held, two dispatched) at 30 an hour: 8 minutes.
    assert place["estimated_start_at"] == "2026-12-02T01:08:00Z"
    assert board.place("c", 2) is None and board.place("z", 1) is None


def test_a_newer_snapshot_replaces_a_lane_and_an_older_one_is_ignored() -> None:
    board = QueueBoard()
    lane = TRANSCODE_LANE_LOW.name
    board.apply(snapshot(lane, ["a", "b"], 1, None, T0 + timedelta(seconds=5)))
    board.apply(snapshot(lane, ["x"], 0, None, T0))  # late: older than what is shown
    assert board.place("b", 1) is not None and board.place("x", 1) is None
    board.apply(snapshot(lane, ["b"], 1, None, T0 + timedelta(seconds=9)))
    place = board.place("b", 1)
    assert place is not None and place["position"] == 1 and place["estimated_start_at"] is None
    assert board.place("a", 1) is None  # dispatched since
