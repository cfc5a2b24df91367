"""Listing the dead-letter log: a record redone after a rebalance is one dead letter."""

from aiokafka import ConsumerRecord

from services.shared.dead_letter_log import DeadLetter, fold_repeats
from services.shared.dead_letters import dead_letter_event


def _record(offset: int) -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord(topic="video-uploaded", partition=0, offset=offset,
                          timestamp=1700000000000, timestamp_type=0, key=b"vid",
                          value=b"\x00junk", checksum=None, serialized_key_size=3,
                          serialized_value_size=5, headers=[])


def _letter(at: int, of_offset: int, group: str = "transcode") -> DeadLetter:
    """The dead letter written at dead-letter offset `at` for video-uploaded@`of_offset`."""
    event = dead_letter_event(_record(of_offset), group, "source_missing",
                              ValueError("gone"), 1, "vid")
    return DeadLetter(partition=0, offset=at, timestamp_ms=1700000000000 + at, headers=(),
                      event=event)


def test_the_same_record_dead_lettered_twice_by_one_group_is_listed_once_with_two_copies(
        ) -> None:
    first, redone, other = _letter(10, 41), _letter(11, 41), _letter(12, 42)
    assert first.event is not None and redone.event is not None
    assert fold_repeats([first, redone, other]) == [(first, 2), (other, 1)]


def test_two_groups_failing_one_record_are_two_dead_letters() -> None:
    transcode, catalog = _letter(10, 41), _letter(11, 41, group="catalog")
    assert fold_repeats([transcode, catalog]) == [(transcode, 1), (catalog, 1)]


def test_unreadable_records_are_each_their_own() -> None:
    one = DeadLetter(partition=0, offset=5, timestamp_ms=1, headers=(), event=None,
                     decode_error="not avro")
    two = DeadLetter(partition=1, offset=5, timestamp_ms=2, headers=(), event=None,
                     decode_error="not avro")
    assert fold_repeats([one, two]) == [(one, 1), (two, 1)]
