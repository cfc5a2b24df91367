"""The projector's pause of the cyclic garbage collector around a batch, and its batches
cut by time across partitions."""

import gc
from collections import deque

import pytest
from aiokafka import ConsumerRecord

from services.catalog.projector import aligned_batch, collector_paused


@pytest.fixture(autouse=True)
def _collector_back_on():
    was = gc.isenabled()
    yield
    if was:
        gc.enable()


def test_the_collector_is_off_during_a_batch_and_on_again_after_it():
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_failing_batch_turns_the_collector_back_on():
    gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("batch failed")
    assert gc.isenabled()


def test_a_pause_someone_else_started_is_left_to_them():
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


# -- batches cut by time (`aligned_batch`) ----------------------------------------------


def _held(*partitions: list[int]) -> dict[int, deque[ConsumerRecord]]:
    """Partition i's records, at offsets 0.., stamped with the given timestamps."""
    return {i: deque(ConsumerRecord(f"topic-{i}", 0, offset, stamp, 0, None, b"", None, 0, 0, [])
                     for offset, stamp in enumerate(stamps))
            for i, stamps in enumerate(partitions)}


def _taken(records: list[ConsumerRecord]) -> list[tuple[str, int]]:
    return [(r.topic, r.offset) for r in records]


def test_a_batch_takes_the_oldest_records_across_partitions_first():
    held = _held([1, 5, 9], [2, 3, 10], [4])
    batch = aligned_batch(held, 5, None)
    assert [r.timestamp for r in batch] == [1, 2, 3, 4, 5]
    assert [r.timestamp for r in held[0]] == [9] and [r.timestamp for r in held[1]] == [10]
    assert not held[2]


def test_each_partition_keeps_its_log_order_even_when_its_stamps_do_not():
    held = _held([5, 1, 2], [3])
    batch = aligned_batch(held, 10, None)
    assert _taken(batch) == [("topic-1", 0), ("topic-0", 0), ("topic-0", 1), ("topic-0", 2)]


def test_nothing_stamped_after_the_horizon_is_taken():
    held = _held([1, 4, 7], [2, 8])
    batch = aligned_batch(held, 10, 4)
    assert [r.timestamp for r in batch] == [1, 2, 4]
    assert [r.timestamp for r in held[0]] == [7] and [r.timestamp for r in held[1]] == [8]
    assert aligned_batch(held, 10, 4) == []


def test_every_held_record_is_taken_once_in_batches_of_the_limit():
    held = _held(list(range(0, 300, 3)), list(range(1, 300, 3)), list(range(2, 300, 7)))
    everything = {(r.topic, r.offset) for q in held.values() for r in q}
    batches = []
    while batch := aligned_batch(held, 40, None):
        batches.append(batch)
    assert all(len(b) <= 40 for b in batches)
    taken = [key for b in batches for key in _taken(b)]
    assert len(taken) == len(everything) and set(taken) == everything
    stamps = [r.timestamp for b in batches for r in b]
    assert stamps == sorted(stamps)
