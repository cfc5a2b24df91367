"""Stuck work (`catalog.stuck.stuck`): over N times the stage's median, and over the floor."""

from __future__ import annotations

from services.catalog.stuck import InStage, stuck


def video(stage: str, age: float, name: str = "v") -> InStage:
    return InStage(name, None, "acme", stage, age)


def test_over_n_times_the_median_is_stuck() -> None:
    found = stuck([video("transcoding", 100, "a"), video("transcoding", 200, "b")],
                  {"transcoding": 40.0}, factor=3, floor_s=10)
    assert [v["video_id"] for v in found] == ["b"]
    assert found[0]["limit_s"] == 120 and found[0]["stage_median_s"] == 40


def test_the_floor_protects_fast_stages() -> None:
    assert stuck([video("packaging", 5)], {"packaging": 1.0}, factor=3, floor_s=60) == []


def test_a_stage_without_a_median_uses_the_floor_and_oldest_come_first() -> None:
    found = stuck([video("uploaded", 70, "a"), video("uploaded", 90, "b")], {}, factor=3,
                  floor_s=60)
    assert [v["video_id"] for v in found] == ["b", "a"] and found[0]["stage_median_s"] is None
