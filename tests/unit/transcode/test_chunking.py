"""Chunk planning: segment-aligned edges, no runt, every frame in exactly one chunk."""

from fractions import Fraction

import pytest

from services.transcode.chunking import (
    Dealing,
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


def test_the_opening_deals_one_job_per_partition_in_chunk_order():
    chunks = plan(180.0)  # 9 chunks
    assert [(c.index, p) for c, p in Dealing(chunks, 6).opening()] == [
        (0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]
    few = plan(12.0, threshold=8, chunk=4)  # 3 chunks, 6 partitions
    assert [(c.index, p) for c, p in Dealing(few, 6).opening()] == [(0, 0), (1, 1), (2, 2)]


def test_a_finished_chunk_frees_its_partition_for_the_next_chunk_once():
    dealing = Dealing(plan(180.0), 6)
    dealing.opening()
    job = dealing.after(4)
    assert job is not None and (job[0].index, job[1]) == (6, 4)
    assert dealing.after(4) is None  # a repeated announcement deals nothing
    job = dealing.after(0)
    assert job is not None and (job[0].index, job[1]) == (7, 0)
    job = dealing.after(6)
    assert job is not None and (job[0].index, job[1]) == (8, 4)
    assert [dealing.after(i) for i in (1, 2, 3, 5, 7, 8)] == [None] * 6  # all dealt


def simulate(chunks, speeds, head_start):  # type: ignore[no-untyped-def]
    """Workers of group `chunks` with round-robin partitions (worker w holds p % N == w),
    each encoding its jobs one at a time in arrival order; worker w is busy for
    `head_start[w]` seconds first and encodes a chunk in `length / speeds[w]` seconds.
    Returns per worker the chunks it encoded and when it finished."""
    workers = len(speeds)
    dealing = Dealing(chunks, 6)
    queues: list[list] = [[] for _ in range(workers)]
    for chunk, partition in dealing.opening():
        queues[partition % workers].append(chunk)
    clock = list(head_start)
    done: list[list[int]] = [[] for _ in range(workers)]
    while any(queues):
        w = min((w for w in range(workers) if queues[w]), key=lambda w: clock[w])
        chunk = queues[w].pop(0)
        clock[w] += (chunk.end_s - chunk.start_s) / speeds[w]
        done[w].append(chunk.index)
        job = dealing.after(chunk.index)
        if job is not None:
            queues[job[1] % workers].append(job[0])
    return done, clock


def test_a_worker_with_more_load_takes_fewer_chunks_and_both_end_together():
    chunks = plan(180.0, chunk=8)  # 23 chunks: 22 of 8 s and a 4 s tail
    done, ends = simulate(chunks, speeds=[1.0, 1.0], head_start=[15.0, 0.0])
    assert sorted(i for d in done for i in d) == list(range(23))  # each chunk once
    assert len(done[0]) < len(done[1])
    assert abs(ends[0] - ends[1]) <= 8.0  # within one chunk, not a fixed share's gap
    # Dealt up front, the loaded worker would have held 12 of the 23 chunks (every other).
    assert max(ends) < 15.0 + 11 * 8 + 4


def test_a_faster_machine_takes_more_chunks():
    done, ends = simulate(plan(180.0, chunk=8), speeds=[2.0, 1.0], head_start=[0.0, 0.0])
    assert len(done[0]) > 1.5 * len(done[1])
    # Every other chunk dealt up front leaves the slow one 11 chunks of 8 s: 88 s. Dealt as
    # they come back, it ends holding at most the three jobs of its partitions.
    assert max(ends) <= 88 - 2 * 8


def test_upfront_deals_every_job_in_the_opening_round_the_partitions():
    dealing = Dealing(plan(180.0), 6, upfront=True)
    assert [(c.index, p) for c, p in dealing.opening()] == [(i, i % 6) for i in range(9)]
    assert dealing.after(0) is None and dealing.after(8) is None
