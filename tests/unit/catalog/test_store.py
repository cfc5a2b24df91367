"""The store's pure parts: which row claims an event, the batch fold, the video-row cache."""

from __future__ import annotations

from services.catalog.projection import project_event
from services.catalog.rows import PackageRow, Position
from services.catalog.store import (
    CLAIM_KEYS,
    Item,
    VideoCache,
    _claim_row,
    _first_copies,
    _fold,
    first_per_key,
    package_current,
)
from tests.unit.catalog.stories import Step, VideoStory, dead_letter_event, fold


def _items(steps: list[Step]) -> list[Item]:
    return [Item(Position(topic, 0, offset), event)
            for offset, (topic, event) in enumerate(steps)]


def test_a_video_event_is_claimed_by_its_timeline_entry() -> None:
    (topic, event), = VideoStory().happy_path()[:1]
    rows = project_event(None, topic, event, Position(topic, 0, 7)).rows
    claim = _claim_row(event, rows)
    assert claim is not None and claim.table == "timeline"
    assert claim.values["event_id"] == event.event_id


def test_a_dead_letter_is_claimed_by_its_dead_letter_row_not_its_timeline_entry() -> None:
    for video_id in (None, "6b0c4a8e-7d5e-4a8b-9a57-1f6f0b9d2c11"):
        event = dead_letter_event(video_id)
        rows = project_event(None, "dead-letter", event, Position("dead-letter", 0, 1)).rows
        claim = _claim_row(event, rows)
        assert claim is not None and claim.table == "dead_letters"
        assert claim.values[CLAIM_KEYS["dead_letters"]] == event.event_id


def test_only_the_first_copy_of_an_event_id_in_a_batch_is_kept() -> None:
    steps = VideoStory().happy_path()
    items = _items([*steps, steps[2]])
    kept = _first_copies(items)
    assert [i.position.offset for i in kept] == list(range(len(steps)))


def test_the_batch_fold_equals_the_event_by_event_fold_and_leaves_the_locked_rows_alone() -> None:
    story = VideoStory()
    steps = story.happy_path()
    earlier = fold(steps[:3])
    locked = {story.video_id: earlier}
    result = _fold(_items(steps[3:]), locked)
    assert result.states[story.video_id] == fold(steps)
    assert locked[story.video_id] is earlier and earlier == fold(steps[:3])
    # every item has its claim row apart from its other rows
    assert all(c is not None and c not in rest for c, rest in zip(result.claims, result.rest,
                                                                    strict=True))


def test_the_cache_answers_only_for_the_version_it_holds() -> None:
    story = VideoStory()
    state = fold(story.happy_path())
    assert state is not None
    cache = VideoCache(capacity=2)
    cache.put(41, [state])
    assert cache.get(story.video_id, 41) is state
    assert cache.get(story.video_id, 42) is None  # someone else wrote the row since


def test_the_cache_forgets_the_least_recently_used_row_first() -> None:
    states = []
    for _ in range(3):
        state = fold(VideoStory().happy_path()[:1])
        assert state is not None
        states.append(state)
    a, b, c = states
    cache = VideoCache(capacity=2)
    cache.put(1, [a, b])
    assert cache.get(a.video_id, 1) is a  # a is now the most recently used
    cache.put(2, [c])
    assert cache.get(b.video_id, 1) is None
    assert cache.get(a.video_id, 1) is a and cache.get(c.video_id, 2) is c


def test_rows_to_copy_keep_the_first_row_of_each_key_in_order() -> None:
    rows = [("v1", 1, "360p", "a"), ("v1", 1, "720p", "b"), ("v1", 1, "360p", "c"),
            ("v2", 1, "360p", "d"), ("v1", 2, "360p", "e")]
    assert first_per_key(rows, [0, 1, 2]) == [rows[0], rows[1], rows[3], rows[4]]
    assert first_per_key(rows, [3]) == rows  # one column: its value is the key
    assert first_per_key([], [0]) == []


def test_a_package_row_is_current_when_it_is_the_package_its_video_points_at() -> None:
    story = VideoStory()
    steps = story.happy_path()
    video = fold(steps)
    assert video is not None and video.current_package_attempt == 1
    row = PackageRow({"video_id": story.video_id, "attempt": 1, "revision": 1})
    assert package_current(row, video)
    assert not package_current(PackageRow({**row.values, "revision": 2}), video)
    assert not package_current(PackageRow({**row.values, "attempt": 2}), video)
    assert not package_current(row, None)  # a dead letter's video: no row
    unpackaged = fold(steps[:3])
    assert unpackaged is not None and not package_current(row, unpackaged)
