"""A mergeable latency histogram, so a window's percentiles are computed, never averaged.

Buckets are log-linear, as in HdrHistogram: values below 64 have a bucket of their own, and
above that each power of two is split into 32 buckets, so a bucket is at most 1/32 of its
values wide. A percentile is reported as its bucket's middle: within 1/64 of the true value.
Two histograms merge by adding counts bucket by bucket, so the 5- and 60-minute figures are
exactly what one histogram of all their values would say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction

SUB_BUCKET_BITS = 5
_EXACT_BELOW = 1 << (SUB_BUCKET_BITS + 1)

#: bucket lower bound -> count
Histogram = dict[int, int]


def bucket_of(value: int) -> int:
    """The lower bound of the bucket holding `value` (>= 0)."""
    if value < _EXACT_BELOW:
        return max(value, 0)
    shift = value.bit_length() - (SUB_BUCKET_BITS + 1)
    return (value >> shift) << shift


def bucket_width(lower: int) -> int:
    if lower < _EXACT_BELOW:
        return 1
    return 1 << (lower.bit_length() - (SUB_BUCKET_BITS + 1))


def record(histogram: Histogram, value: int) -> None:
    bucket = bucket_of(value)
    histogram[bucket] = histogram.get(bucket, 0) + 1


def merge(histograms: Iterable[Mapping[int, int]]) -> Histogram:
    merged: Histogram = {}
    for histogram in histograms:
        for bucket, count in histogram.items():
            merged[bucket] = merged.get(bucket, 0) + count
    return merged


def percentile(histogram: Mapping[int, int], q: float) -> int | None:
    """Nearest-rank percentile (the ceil(q*n)-th smallest value), None when empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    exact_q = Fraction(str(q))  # 0.95 * 20 must be 19, not 19.000000000000004
    rank = max(1, -(-exact_q.numerator * total // exact_q.denominator))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket + (bucket_width(bucket) - 1) // 2
    raise AssertionError("unreachable: rank <= total")
