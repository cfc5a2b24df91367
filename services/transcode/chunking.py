"""Split and stitch: where a long video is cut into chunks, and which worker gets each. Pure.

A video longer than the threshold is encoded in chunks that start and end on segment
boundaries (multiples of the 4 s segment, itself two 2 s GOPs), so each chunk's keyframes
fall where the whole video's would and the packager cuts the stitched rungs into the same
segments as an unchunked encode. A tail shorter than one segment joins the chunk before it:
no chunk is a runt.

Frames: a chunk starts at the first frame at or after its start time (the frame the
`gte(t, n_forced*2)` keyframe rule forces a keyframe on) and has every frame up to the next
chunk's first, so the chunks together hold each frame of the constant-rate picture once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

#: Far under one frame: guards ceil() against float noise in `seconds * rate`.
_EPS = 1e-6


@dataclass(frozen=True)
class Chunk:
    index: int
    start_s: float
    end_s: float
    start_frame: int
    frame_count: int

    def chunk_id(self, video_id: str, attempt: int) -> str:
        return f"{video_id}/{attempt}/{self.index}"


def chunk_length(chunk_s: float, segment_s: float) -> float:
    """The chunk length: `chunk_s` rounded up to whole segments (at least one)."""
    return max(1, math.ceil(chunk_s / segment_s - _EPS)) * segment_s


def first_frame_at(seconds: float, frame_rate: Fraction | float) -> int:
    return math.ceil(seconds * float(frame_rate) - _EPS)


def plan_chunks(duration_s: float, frame_rate: Fraction | float, *, threshold_s: float,
                chunk_s: float, segment_s: float) -> tuple[Chunk, ...]:
    """The chunks of a video of `duration_s` at `frame_rate`; () when it is not chunked
    (no longer than `threshold_s`, or too short to make two chunks)."""
    if duration_s <= threshold_s or duration_s <= 0:
        return ()
    length = chunk_length(chunk_s, segment_s)
    edges = [0.0]
    while edges[-1] + length < duration_s - _EPS:
        edges.append(edges[-1] + length)
    if len(edges) > 1 and duration_s - edges[-1] < segment_s - _EPS:
        edges.pop()  # a runt tail rides with the chunk before
    if len(edges) < 2:
        return ()
    edges.append(duration_s)
    total = round(duration_s * float(frame_rate))
    starts = [first_frame_at(e, frame_rate) for e in edges[:-1]] + [total]
    return tuple(Chunk(i, edges[i], edges[i + 1], starts[i], starts[i + 1] - starts[i])
                 for i in range(len(edges) - 1))


def boundaries(chunks: tuple[Chunk, ...]) -> tuple[float, ...]:
    """The chunk edges in source seconds (0, c1, ..., duration): what rendition-done says."""
    return (*(c.start_s for c in chunks), chunks[-1].end_s) if chunks else ()


def partition_of(chunk: Chunk, partitions: int) -> int:
    """Chunk jobs are dealt round the partitions (not hashed by key): with the consumer's
    round-robin assignment, N workers of group `chunks` then hold every N-th chunk, so
    one video's chunks spread evenly over them."""
    return chunk.index % partitions


class Dealing:
    """Which partition each chunk job goes to, dealt as the chunks come back.

    The opening deals one job per partition (`partition_of`: every worker of the group
    gets a job for each partition it holds). After that, each finished chunk frees its
    partition and the next chunk in order goes there: to the worker that just finished,
    whoever holds that partition now. So a worker that is slower (a smaller machine, or one
    that also runs the planning transcode) takes fewer chunks and a faster one more,
    instead of each taking a fixed share dealt before anything ran; a worker that joins,
    leaves or dies moves its partitions with the jobs waiting on them.

    `upfront` deals every job in the opening instead (chunk i on partition i % P: fixed
    shares, as before this dealing; kept to measure against).
    """

    def __init__(self, chunks: tuple[Chunk, ...], partitions: int, *,
                 upfront: bool = False) -> None:
        self._waiting = list(reversed(chunks))
        self._partitions = partitions
        self._upfront = upfront
        self._on: dict[int, int] = {}  # chunk index -> partition, while it is out

    def opening(self) -> list[tuple[Chunk, int]]:
        if self._upfront:
            return [self._deal(partition_of(c, self._partitions)) for c in self._waiting[::-1]]
        return [self._deal(p) for p in range(min(self._partitions, len(self._waiting)))]

    @property
    def out(self) -> tuple[int, ...]:
        """The chunks dealt and not yet back."""
        return tuple(self._on)

    def after(self, index: int) -> tuple[Chunk, int] | None:
        """The next job, when chunk `index` has come back (None for a repeat, or when
        every chunk is dealt)."""
        partition = self._on.pop(index, None)
        if partition is None or not self._waiting:
            return None
        return self._deal(partition)

    def _deal(self, partition: int) -> tuple[Chunk, int]:
        chunk = self._waiting.pop()
        self._on[chunk.index] = partition
        return chunk, partition
