"""The packager gathers each attempt's renditions from the log and packages it once."""

from datetime import UTC, datetime

from schemas.events import MediaType, RenditionDone
from services.packager.assembly import Assembler

P = ("rendition-done", 0)


def done(video: str, rendition: str, attempt: int = 1,
         expected: tuple[str, ...] = ("360p", "720p", "audio")) -> RenditionDone:
    return RenditionDone(event_id=f"{video}/{attempt}/{rendition}", video_id=video,
                         occurred_at=datetime(2026, 1, 1, tzinfo=UTC), attempt=attempt,
                         rendition=rendition, media_type=MediaType.VIDEO,
                         expected_renditions=expected, uri=f"s3://b/{rendition}.mp4")


def test_a_set_completes_exactly_when_every_expected_rendition_arrived() -> None:
    assembler = Assembler()
    assert assembler.add(done("v", "360p"), P, 10) is None
    assert assembler.add(done("v", "audio"), P, 11) is None
    complete = assembler.add(done("v", "720p"), P, 12)
    assert complete is not None
    assert set(complete.received) == {"360p", "720p", "audio"}


def test_a_complete_set_is_offered_again_until_it_is_closed() -> None:
    assembler = Assembler()
    assembler.add(done("v", "360p", expected=("360p",)), P, 1)
    # A retried delivery (packaging failed transiently) must find the set still complete.
    assert assembler.add(done("v", "360p", expected=("360p",)), P, 1) is not None
    assert assembler.commit_floor(P, 2) == 1
    assembler.close("v", 1)
    assert assembler.commit_floor(P, 2) == 2
    assert assembler.add(done("v", "360p", expected=("360p",)), P, 3) is None


def test_duplicate_rendition_events_are_no_ops() -> None:
    assembler = Assembler()
    assembler.add(done("v", "360p"), P, 1)
    assembler.add(done("v", "360p"), P, 2)
    assert assembler.open_sets[("v", 1)].missing == {"720p", "audio"}
    assembler.add(done("v", "720p"), P, 3)
    assert assembler.add(done("v", "audio"), P, 4) is not None
    assembler.close("v", 1)
    # A redelivery of the whole set after it was packaged packages nothing again.
    for offset, name in enumerate(("360p", "720p", "audio"), start=5):
        assert assembler.add(done("v", name), P, offset) is None


def test_commit_floor_holds_back_to_the_oldest_open_set() -> None:
    assembler = Assembler()
    assembler.add(done("a", "360p"), P, 5)
    assembler.add(done("b", "360p", expected=("360p",)), P, 6)
    assembler.close("b", 1)
    assert assembler.commit_floor(P, 7) == 5
    assert assembler.commit_floor(("rendition-done", 1), 7) == 7
    assembler.add(done("a", "720p"), P, 7)
    assembler.add(done("a", "audio"), P, 8)
    assert assembler.commit_floor(P, 9) == 5, "complete but not yet packaged"
    assembler.close("a", 1)
    assert assembler.commit_floor(P, 9) == 9


def test_a_newer_attempt_supersedes_an_unfinished_older_one() -> None:
    assembler = Assembler()
    assembler.add(done("v", "360p", attempt=1), P, 1)
    assembler.add(done("v", "360p", attempt=2, expected=("360p",)), P, 2)
    assert ("v", 1) not in assembler.open_sets
    assembler.close("v", 2)
    assert assembler.add(done("v", "720p", attempt=1), P, 3) is None
    assert assembler.commit_floor(P, 4) == 4


def test_losing_a_partition_drops_its_open_sets() -> None:
    assembler = Assembler()
    assembler.add(done("v", "360p"), P, 1)
    assembler.forget_partition(P)
    assert assembler.commit_floor(P, 2) == 2
