"""Chunk planning: segment-aligned edges, no runt, every frame in exactly one chunk."""

from fractions import Fraction

import pytest

from services.transcode.chunking import (
    boundaries,
    chunk_length,
    first_frame_at,
    partition_of,
    plan_chunks,
)


def plan(duration: float, rate: Fraction | float = 30, threshold: float = 120,
         chunk: float = 20, segment: float = 4.0):  # type: ignore[no-untyped-def]
    return plan_chunks(duration, rate, threshold_s=threshold, chunk_s=chunk, segment_s=segment)


def test_a_video_up_to_the_threshold_is_not_chunked():
    assert plan(120.0) == ()
    assert plan(119.9) == ()
    assert len(plan(120.1)) == 6  # 6 x 20 s, the 0.1 s tail riding with the last


def test_edges_are_whole_segments_and_the_last_chunk_ends_at_the_duration():
    chunks = plan(180.0)
    assert boundaries(chunks) == (0, 20, 40, 60, 80, 100, 120, 140, 160, 180.0)
    assert all(c.start_s % 4 == 0 for c in chunks)
    assert [c.index for c in chunks] == list(range(9))


def test_the_chunk_length_is_rounded_up_to_whole_segments():
    assert chunk_length(20, 4) == 20 and chunk_length(18, 4) == 20 and chunk_length(1, 4) == 4
    assert boundaries(plan(13.0, threshold=8, chunk=3))[:3] == (0, 4, 8)


def test_a_tail_shorter_than_a_segment_joins_the_chunk_before():
    assert boundaries(plan(121.5)) == (0, 20, 40, 60, 80, 100, 121.5)
    assert boundaries(plan(124.0)) == (0, 20, 40, 60, 80, 100, 120, 124.0)
    assert boundaries(plan(12.0, threshold=8, chunk=4)) == (0, 4, 8, 12.0)
    assert plan(6.0, threshold=5, chunk=4) == ()  # 4 s + a 2 s runt: one chunk is no split


def test_every_frame_is_in_exactly_one_chunk():
    for rate in (Fraction(30000, 1001), Fraction(25), Fraction(60), Fraction(24000, 1001)):
        chunks = plan(187.3, rate)
        assert chunks[0].start_frame == 0
        for before, after in zip(chunks, chunks[1:], strict=False):
            assert before.start_frame + before.frame_count == after.start_frame
        assert sum(c.frame_count for c in chunks) == round(187.3 * float(rate))


def test_a_chunk_starts_on_the_frame_the_keyframe_rule_forces():
    # gte(t, n*2): the first frame at or after each 2 s edge; 29.97 fps puts 20 s at 599.4.
    assert first_frame_at(20.0, Fraction(30000, 1001)) == 600
    assert first_frame_at(20.0, 25) == 500  # exact: no float noise pushes it to 501
    assert plan(60.0, Fraction(30000, 1001), threshold=30, chunk=20)[1].start_frame == 600


@pytest.mark.parametrize("workers", [1, 2, 3, 6])
def test_chunks_are_dealt_round_the_partitions_so_workers_get_equal_shares(workers):
    partitions = 6
    # aiokafka's round-robin assignor gives member m the partitions p with p % N == m.
    shares = [0] * workers
    for chunk in plan(180.0):
        shares[partition_of(chunk, partitions) % workers] += 1
    assert max(shares) - min(shares) <= 1
