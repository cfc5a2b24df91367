"""PartBuffers: uploads reuse the buffers of stored parts, and the pool never keeps more
than open uploads may hold, except for a short linger after an upload ends."""

from __future__ import annotations

import time

from services.shared.storage import PART_SIZE_MIN, PartBuffers


def _wait_until(condition, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_given_back_buffer_serves_the_next_part() -> None:
    pool = PartBuffers(PART_SIZE_MIN)
    pool.reserve(3)
    first = pool.take()
    assert len(first) == PART_SIZE_MIN
    pool.give(first)
    assert pool.take() is first
    assert pool.allocated == 1


def test_the_pool_keeps_no_more_than_open_uploads_reserved() -> None:
    pool = PartBuffers(PART_SIZE_MIN, linger_s=0.0)
    pool.reserve(2)
    taken = [pool.take() for _ in range(3)]  # one more than reserved (a slow give)
    for buffer in taken:
        pool.give(buffer)
    assert pool.free == 2


def test_a_buffer_cut_to_a_last_part_is_not_kept() -> None:
    pool = PartBuffers(PART_SIZE_MIN)
    pool.reserve(3)
    buffer = pool.take()
    del buffer[100:]
    pool.give(buffer)
    assert pool.free == 0


def test_a_discarded_buffer_frees_its_place() -> None:
    pool = PartBuffers(PART_SIZE_MIN)
    pool.reserve(1)
    pool.take()
    pool.discard()  # its part failed: boto3 may still hold it
    other = pool.take()
    pool.give(other)
    assert pool.free == 1 and pool.allocated == 2


def test_an_ended_uploads_buffers_linger_for_the_next_upload() -> None:
    pool = PartBuffers(PART_SIZE_MIN, linger_s=30.0)
    pool.reserve(3)
    buffers = [pool.take() for _ in range(3)]
    for buffer in buffers:
        pool.give(buffer)
    pool.unreserve(3)
    assert pool.free == 3  # lingering
    pool.reserve(3)
    again = [pool.take() for _ in range(3)]
    assert {id(b) for b in again} == {id(b) for b in buffers}
    assert pool.allocated == 3


def test_a_part_stored_after_its_upload_ended_is_not_kept_when_nothing_lingers() -> None:
    pool = PartBuffers(PART_SIZE_MIN, linger_s=30.0)
    pool.reserve(2)
    late = pool.take()
    pool.unreserve(2)  # e.g. an abort while the part was in flight
    assert pool.free == 0
    pool.give(late)
    assert pool.free == 0  # no surplus was lingering: nothing is kept


def test_after_the_linger_the_surplus_goes_back() -> None:
    pool = PartBuffers(PART_SIZE_MIN, linger_s=0.05)
    pool.reserve(3)
    for buffer in [pool.take() for _ in range(3)]:
        pool.give(buffer)
    pool.unreserve(1)  # another upload still holds two reserved
    assert _wait_until(lambda: pool.free == 2)
    pool.unreserve(2)
    assert _wait_until(lambda: pool.free == 0)
