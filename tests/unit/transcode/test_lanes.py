"""The workers' weighted pick between lanes: higher first while it has work, and a lower
lane still gets its share."""

from __future__ import annotations

from services.transcode.lanes import DEFAULT_WEIGHTS, lane_class, pick_lane

LANES = ("high", "normal", "low")


def picks(waiting: tuple[str, ...], weights: dict[str, int], n: int) -> list[str]:
    credit: dict[str, int] = {}
    out = []
    for _ in range(n):
        lane, credit = pick_lane(waiting, weights, credit)
        assert lane is not None
        out.append(lane)
    return out


def test_a_higher_lane_with_work_is_picked_first() -> None:
    assert pick_lane(("high", "low"), DEFAULT_WEIGHTS, {})[0] == "high"
    assert pick_lane(("normal", "low"), DEFAULT_WEIGHTS, {})[0] == "normal"
    assert pick_lane(("low",), DEFAULT_WEIGHTS, {})[0] == "low"
    assert pick_lane((), DEFAULT_WEIGHTS, {}) == (None, {})


def test_a_low_lane_under_a_steady_high_lane_gets_its_weight() -> None:
    taken = picks(("high", "low"), {"high": 6, "low": 1}, 70)
    assert taken.count("low") == 10  # one slot in seven
    # ...spread out, never more than 7 picks apart.
    gaps = [i for i, lane in enumerate(taken) if lane == "low"]
    assert all(b - a == 7 for a, b in zip(gaps, gaps[1:], strict=False))


def test_three_lanes_share_by_their_weights() -> None:
    taken = picks(LANES, DEFAULT_WEIGHTS, 100)
    assert (taken.count("high"), taken.count("normal"), taken.count("low")) == (60, 30, 10)


def test_equal_credit_goes_to_the_higher_lane() -> None:
    assert picks(("high", "low"), {"high": 3, "low": 1}, 4) == ["high", "high", "low", "high"]


def test_a_lane_that_was_idle_saved_no_credit() -> None:
    credit: dict[str, int] = {}
    for _ in range(20):  # only low had work: it took every slot, and earned nothing more
        lane, credit = pick_lane(("low",), DEFAULT_WEIGHTS, credit)
        assert lane == "low"
    lane, _ = pick_lane(("high", "low"), DEFAULT_WEIGHTS, credit)
    assert lane == "high"


def test_the_class_is_the_last_word_of_the_lane_topic() -> None:
    from schemas import LANE_TOPICS
    assert [lane_class(t.name) for t in LANE_TOPICS] == list(LANES)
